import { describe, expect, it } from 'vitest';
import { CumulativeEventTimeWindows } from './cumulative.ts';
import { SlidingEventTimeWindows } from './sliding.ts';
import { TumblingEventTimeWindows } from './tumbling.ts';
import { windowOf } from './window-assigner.ts';

describe('windowOf', () => {
  it('rebuilds a window from its end alone, for every fixed assigner', () => {
    expect(windowOf(TumblingEventTimeWindows.of(10, 3), -7)).toEqual({ start: -17, end: -7 });
    expect(windowOf(SlidingEventTimeWindows.of(10, 5), 5)).toEqual({ start: -5, end: 5 });
    expect(windowOf(CumulativeEventTimeWindows.of(10, 30), -10)).toEqual({ start: -30, end: -10 });
  });
});
