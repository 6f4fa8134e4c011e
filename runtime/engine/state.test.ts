import { describe, expect, it } from 'vitest';
import { newEngineState, partitionId } from './state.ts';

describe('engine state', () => {
  it('names partitions as the Lambda event does: <topic>-<partition>', () => {
    expect(partitionId('bids', 3)).toBe('bids-3');
    expect(partitionId('orders-eu', 0)).toBe('orders-eu-0');
  });

  it('starts known partitions with nothing applied and a watermark of -infinity', () => {
    const state = newEngineState([
      { topic: 'bids', partition: 0 },
      { topic: 'bids', partition: 1 },
    ]);
    expect(state.jobWatermark).toBe(Number.NEGATIVE_INFINITY);
    expect([...state.partitions.keys()]).toEqual(['bids-0', 'bids-1']);
    expect(state.partitions.get('bids-1')).toMatchObject({
      topic: 'bids',
      partition: 1,
      offset: -1,
      maxTimestamp: Number.NEGATIVE_INFINITY,
      watermark: Number.NEGATIVE_INFINITY,
      lastActiveAt: null,
      idle: false,
    });
  });
});
