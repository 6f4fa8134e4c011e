import { describe, expect, it } from 'vitest';
import { FloeConfigError } from '../errors.ts';
import { TumblingEventTimeWindows } from './tumbling.ts';

function windowsOf(assigner: TumblingEventTimeWindows, ts: number): [number, number][] {
  const ends: number[] = [];
  const count = assigner.assignWindowEnds(ts, ends);
  return ends.slice(0, count).map((end) => [assigner.windowStart(end), end]);
}

describe('TumblingEventTimeWindows', () => {
  it.each([
    // [size, offset, timestamp, start]
    [10, 0, 0, 0],
    [10, 0, 9, 0],
    [10, 0, 10, 10],
    [10, 0, -1, -10],
    [10, 0, -10, -10],
    [10, 0, -11, -20],
    [10, 0, -15, -20],
    [10, 3, 2, -7],
    [10, 3, 3, 3],
    [10, 3, 12, 3],
    [10, 3, 13, 13],
    [10, 3, -7, -7],
    [10, 3, -8, -17],
    [10, -3, -4, -13],
    [10, -3, -3, -3],
    [10, -3, 7, 7],
  ])(
    'with size %d and offset %d puts timestamp %d in the one window starting at %d',
    (size, offset, ts, start) => {
      expect(windowsOf(TumblingEventTimeWindows.of(size, offset), ts)).toEqual([[start, start + size]]);
    },
  );

  it('assigns every timestamp to exactly one window that contains it', () => {
    const assigner = TumblingEventTimeWindows.of(7, 2);
    for (let ts = -50; ts <= 50; ts++) {
      const windows = windowsOf(assigner, ts);
      expect(windows).toHaveLength(1);
      const [start, end] = windows[0]!;
      expect(start <= ts && ts < end).toBe(true);
      expect(end - start).toBe(7);
    }
  });

  it('names its size and offset', () => {
    expect(String(TumblingEventTimeWindows.of(10_000))).toBe('TumblingEventTimeWindows(10000)');
    expect(String(TumblingEventTimeWindows.of(10_000, 500))).toBe(
      'TumblingEventTimeWindows(10000, offset 500)',
    );
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('rejects size %d', (size) => {
    expect(() => TumblingEventTimeWindows.of(size)).toThrow(FloeConfigError);
    expect(() => TumblingEventTimeWindows.of(size)).toThrow(
      `TumblingEventTimeWindows size must be a positive whole number of milliseconds, got ${size}.`,
    );
  });

  it.each([10, -10, 11, 0.5])('rejects offset %d for size 10 (|offset| must be < size)', (offset) => {
    expect(() => TumblingEventTimeWindows.of(10, offset)).toThrow(FloeConfigError);
    expect(() => TumblingEventTimeWindows.of(10, offset)).toThrow(
      `TumblingEventTimeWindows offset must be a whole number of ms with |offset| < size (10), got ${offset}.`,
    );
  });

  it.each([9, -9, 0])('accepts offset %d for size 10', (offset) => {
    expect(TumblingEventTimeWindows.of(10, offset).offsetMs).toBe(offset);
  });
});
