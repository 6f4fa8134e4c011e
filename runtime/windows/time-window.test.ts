import { describe, expect, it } from 'vitest';
import { random, randomInt } from '../../test/support/engine-harness.ts';
import { maxTimestamp, windowStart } from './time-window.ts';

/** The reference: the unique start s = offset + k * size with s <= ts < s + size (floor division). */
function referenceStart(timestamp: number, offset: number, size: number): number {
  return offset + size * Math.floor((timestamp - offset) / size);
}

describe('windowStart', () => {
  it.each([
    // [timestamp, offset, size, start]
    [0, 0, 10, 0],
    [9, 0, 10, 0],
    [10, 0, 10, 10],
    [-1, 0, 10, -10],
    [-10, 0, 10, -10],
    [-11, 0, 10, -20],
    // More than one size below the offset: the old ts - (ts - o + s) % s gives -10 here.
    [-15, 0, 10, -20],
    [-25, 0, 10, -30],
    [3, 3, 10, 3],
    [2, 3, 10, -7],
    [12, 3, 10, 3],
    [13, 3, 10, 13],
    [-7, 3, 10, -7],
    [-8, 3, 10, -17],
    [-3, -3, 10, -3],
    [-4, -3, 10, -13],
    [6, -3, 10, -3],
    [7, -3, 10, 7],
    [0, 9, 10, -1],
    [0, -9, 10, -9],
    [1, -9, 10, 1],
    [5, 0, 1, 5],
    [-5, 0, 1, -5],
    [1_700_000_000_000, 0, 86_400_000, 1_699_920_000_000],
    [-1_700_000_000_000, 0, 86_400_000, -1_700_006_400_000],
  ])('puts timestamp %d (offset %d, size %d) in the window starting at %d', (ts, offset, size, start) => {
    expect(windowStart(ts, offset, size)).toBe(start);
  });

  it('agrees with floor division for random timestamps, sizes and offsets, negative ones included', () => {
    const rnd = random(1);
    for (let i = 0; i < 10_000; i++) {
      const size = randomInt(rnd, 1, 1000);
      const offset = randomInt(rnd, -(size - 1), size - 1);
      const ts = randomInt(rnd, -100_000, 100_000);
      const start = windowStart(ts, offset, size);
      expect(start).toBe(referenceStart(ts, offset, size));
      expect(start <= ts && ts < start + size).toBe(true);
    }
  });

  it('stays exact for timestamps near the safe-integer limits', () => {
    const size = 86_400_000;
    for (const ts of [Number.MAX_SAFE_INTEGER - size, -Number.MAX_SAFE_INTEGER + size]) {
      const start = windowStart(ts, 0, size);
      expect(start % size === 0).toBe(true);
      expect(start <= ts && ts < start + size).toBe(true);
    }
  });
});

describe('maxTimestamp', () => {
  it('is the last millisecond inside the window, since the end is exclusive', () => {
    expect(maxTimestamp({ start: 0, end: 10 })).toBe(9);
    expect(maxTimestamp({ start: -20, end: -10 })).toBe(-11);
  });
});
