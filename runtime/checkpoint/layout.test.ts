/**
 * Which checkpoint objects AWS keeps as DynamoDB items while small (aws-stores.ts splits the
 * checkpoint store by these two functions): state objects and partition log segments, which
 * every commit or append writes, and not manifests.
 */
import { describe, expect, it } from 'vitest';
import {
  checkpointPrefixReach,
  isStateObjectKey,
  logSegmentKey,
  logSegmentPrefix,
  manifestKey,
  stateDeltaKey,
} from './layout.ts';

const attempt = '0000000a0123abcd';

describe('checkpoint object tiers', () => {
  it('state objects and log segments are items; manifests are not', () => {
    expect(isStateObjectKey(stateDeltaKey('max-price', 'job', 'bids-0', 3, attempt))).toBe(true);
    expect(isStateObjectKey(logSegmentKey('max-price', 'bids-0', 0, 99, attempt))).toBe(true);
    expect(isStateObjectKey(manifestKey('max-price', 'job', 3, attempt))).toBe(false);
    // A group named like a partition of a topic called "partition-logs" is still a group.
    expect(isStateObjectKey(manifestKey('j', 'partition-logs-0', 1, attempt))).toBe(false);
  });

  it('a listing reaches items, objects or both, as its prefix allows', () => {
    expect(checkpointPrefixReach(logSegmentPrefix('max-price'))).toEqual({ state: true, other: false });
    expect(checkpointPrefixReach(logSegmentPrefix('max-price', 'bids-0'))).toEqual({
      state: true,
      other: false,
    });
    expect(checkpointPrefixReach('max-price/')).toEqual({ state: true, other: true });
    expect(checkpointPrefixReach('max-price/job/manifests/')).toEqual({ state: false, other: true });
    expect(checkpointPrefixReach('max-price/job/state/')).toEqual({ state: true, other: false });
  });
});
