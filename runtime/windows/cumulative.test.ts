import { describe, expect, it } from 'vitest';
import { random, randomInt } from '../../test/support/engine-harness.ts';
import { FloeConfigError } from '../errors.ts';
import { CumulativeEventTimeWindows } from './cumulative.ts';

function windowsOf(assigner: CumulativeEventTimeWindows, ts: number): [number, number][] {
  const ends: number[] = [];
  const count = assigner.assignWindowEnds(ts, ends);
  return ends
    .slice(0, count)
    .map((end): [number, number] => [assigner.windowStart(end), end])
    .sort((a, b) => a[1] - b[1]);
}

/** The reference (Flink SQL CUMULATE): [S, S + k * step) for k = 1..maxSize/step with S + k * step > ts. */
function referenceWindows(ts: number, step: number, maxSize: number, offset: number): [number, number][] {
  const start = offset + maxSize * Math.floor((ts - offset) / maxSize);
  const out: [number, number][] = [];
  for (let k = 1; k <= maxSize / step; k++) if (start + k * step > ts) out.push([start, start + k * step]);
  return out;
}

describe('CumulativeEventTimeWindows', () => {
  it.each([
    // [step, maxSize, offset, timestamp, windows]
    [
      10,
      30,
      0,
      0,
      [
        [0, 10],
        [0, 20],
        [0, 30],
      ],
    ],
    [
      10,
      30,
      0,
      9,
      [
        [0, 10],
        [0, 20],
        [0, 30],
      ],
    ],
    [
      10,
      30,
      0,
      10,
      [
        [0, 20],
        [0, 30],
      ],
    ],
    [10, 30, 0, 29, [[0, 30]]],
    [
      10,
      30,
      0,
      30,
      [
        [30, 40],
        [30, 50],
        [30, 60],
      ],
    ],
    [10, 30, 0, -1, [[-30, 0]]],
    [
      10,
      30,
      0,
      -11,
      [
        [-30, -10],
        [-30, 0],
      ],
    ],
    [
      10,
      30,
      0,
      -30,
      [
        [-30, -20],
        [-30, -10],
        [-30, 0],
      ],
    ],
    [10, 30, 0, -31, [[-60, -30]]],
    [10, 30, 5, 4, [[-25, 5]]],
    [
      10,
      30,
      5,
      5,
      [
        [5, 15],
        [5, 25],
        [5, 35],
      ],
    ],
    [10, 30, -5, -6, [[-35, -5]]],
    [10, 10, 0, -1, [[-10, 0]]],
  ] as [number, number, number, number, [number, number][]][])(
    'with step %d, maxSize %d and offset %d puts timestamp %d in %j',
    (step, maxSize, offset, ts, windows) => {
      expect(windowsOf(CumulativeEventTimeWindows.of(step, maxSize, offset), ts)).toEqual(windows);
    },
  );

  it('assigns exactly the growing windows that end after the timestamp, for random configurations', () => {
    const rnd = random(3);
    for (let i = 0; i < 3000; i++) {
      const step = randomInt(rnd, 1, 50);
      const maxSize = step * randomInt(rnd, 1, 6);
      const offset = randomInt(rnd, -(maxSize - 1), maxSize - 1);
      const ts = randomInt(rnd, -10_000, 10_000);
      const assigner = CumulativeEventTimeWindows.of(step, maxSize, offset);
      expect(windowsOf(assigner, ts)).toEqual(referenceWindows(ts, step, maxSize, offset));
    }
  });

  it('names its step, maxSize and offset', () => {
    expect(String(CumulativeEventTimeWindows.of(10_000, 60_000))).toBe(
      'CumulativeEventTimeWindows(10000, 60000)',
    );
    expect(String(CumulativeEventTimeWindows.of(10, 60, 3))).toBe(
      'CumulativeEventTimeWindows(10, 60, offset 3)',
    );
  });

  it.each([
    [0, 30, 'CumulativeEventTimeWindows step must be a positive whole number of milliseconds, got 0.'],
    [10, 0, 'CumulativeEventTimeWindows maxSize must be a positive whole number of milliseconds, got 0.'],
    [10, -30, 'CumulativeEventTimeWindows maxSize must be a positive whole number of milliseconds, got -30.'],
    [10, 25, 'CumulativeEventTimeWindows maxSize (25) must be a multiple of step (10).'],
    [20, 10, 'CumulativeEventTimeWindows maxSize (10) must be a multiple of step (20).'],
  ])('rejects step %d with maxSize %d', (step, maxSize, message) => {
    expect(() => CumulativeEventTimeWindows.of(step, maxSize)).toThrow(FloeConfigError);
    expect(() => CumulativeEventTimeWindows.of(step, maxSize)).toThrow(message);
  });

  it.each([30, -30, 31])('rejects offset %d for maxSize 30 (|offset| must be < maxSize)', (offset) => {
    expect(() => CumulativeEventTimeWindows.of(10, 30, offset)).toThrow(
      `CumulativeEventTimeWindows offset must be a whole number of ms with |offset| < maxSize (30), got ${offset}.`,
    );
  });
});
