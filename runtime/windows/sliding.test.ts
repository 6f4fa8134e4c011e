import { describe, expect, it } from 'vitest';
import { random, randomInt } from '../../test/support/engine-harness.ts';
import { FloeConfigError } from '../errors.ts';
import { SlidingEventTimeWindows } from './sliding.ts';

function windowsOf(assigner: SlidingEventTimeWindows, ts: number): [number, number][] {
  const ends: number[] = [];
  const count = assigner.assignWindowEnds(ts, ends);
  return ends.slice(0, count).map((end) => [assigner.windowStart(end), end]);
}

/** The reference: every [s, s + size) with s = offset + k * slide that contains ts, latest first. */
function referenceWindows(ts: number, size: number, slide: number, offset: number): [number, number][] {
  const out: [number, number][] = [];
  const kMax = Math.floor((ts - offset) / slide);
  for (let k = kMax; offset + k * slide > ts - size; k--)
    out.push([offset + k * slide, offset + k * slide + size]);
  return out;
}

describe('SlidingEventTimeWindows', () => {
  it.each([
    // [size, slide, offset, timestamp, windows, latest first]
    [
      10,
      5,
      0,
      0,
      [
        [0, 10],
        [-5, 5],
      ],
    ],
    [
      10,
      5,
      0,
      4,
      [
        [0, 10],
        [-5, 5],
      ],
    ],
    [
      10,
      5,
      0,
      5,
      [
        [5, 15],
        [0, 10],
      ],
    ],
    [
      10,
      5,
      0,
      9,
      [
        [5, 15],
        [0, 10],
      ],
    ],
    [
      10,
      5,
      0,
      10,
      [
        [10, 20],
        [5, 15],
      ],
    ],
    [
      10,
      5,
      0,
      -1,
      [
        [-5, 5],
        [-10, 0],
      ],
    ],
    [
      10,
      5,
      0,
      -5,
      [
        [-5, 5],
        [-10, 0],
      ],
    ],
    [
      10,
      5,
      0,
      -6,
      [
        [-10, 0],
        [-15, -5],
      ],
    ],
    [
      10,
      5,
      0,
      -10,
      [
        [-10, 0],
        [-15, -5],
      ],
    ],
    [
      10,
      5,
      2,
      2,
      [
        [2, 12],
        [-3, 7],
      ],
    ],
    [
      10,
      5,
      2,
      1,
      [
        [-3, 7],
        [-8, 2],
      ],
    ],
    [
      10,
      5,
      -2,
      -3,
      [
        [-7, 3],
        [-12, -2],
      ],
    ],
    [
      10,
      3,
      0,
      0,
      [
        [0, 10],
        [-3, 7],
        [-6, 4],
        [-9, 1],
      ],
    ],
    [
      10,
      3,
      0,
      1,
      [
        [0, 10],
        [-3, 7],
        [-6, 4],
      ],
    ],
    [10, 10, 0, -1, [[-10, 0]]],
  ] as [number, number, number, number, [number, number][]][])(
    'with size %d, slide %d and offset %d puts timestamp %d in %j',
    (size, slide, offset, ts, windows) => {
      expect(windowsOf(SlidingEventTimeWindows.of(size, slide, offset), ts)).toEqual(windows);
    },
  );

  it('assigns exactly the windows that contain the timestamp, for random configurations', () => {
    const rnd = random(2);
    for (let i = 0; i < 3000; i++) {
      const slide = randomInt(rnd, 1, 50);
      const size = slide * randomInt(rnd, 1, 4) + randomInt(rnd, 0, slide - 1);
      const offset = randomInt(rnd, -(slide - 1), slide - 1);
      const ts = randomInt(rnd, -10_000, 10_000);
      const assigner = SlidingEventTimeWindows.of(size, slide, offset);
      const windows = windowsOf(assigner, ts);
      expect(windows).toEqual(referenceWindows(ts, size, slide, offset));
      expect(windows.length).toBeLessThanOrEqual(assigner.maxWindowsPerRecord);
    }
  });

  it('names its size, slide and offset', () => {
    expect(String(SlidingEventTimeWindows.of(10_000, 2_000))).toBe('SlidingEventTimeWindows(10000, 2000)');
    expect(String(SlidingEventTimeWindows.of(10_000, 2_000, -5))).toBe(
      'SlidingEventTimeWindows(10000, 2000, offset -5)',
    );
  });

  it.each([
    [0, 5, 'SlidingEventTimeWindows size must be a positive whole number of milliseconds, got 0.'],
    [-10, 5, 'SlidingEventTimeWindows size must be a positive whole number of milliseconds, got -10.'],
    [10, 0, 'SlidingEventTimeWindows slide must be a positive whole number of milliseconds, got 0.'],
    [10, 2.5, 'SlidingEventTimeWindows slide must be a positive whole number of milliseconds, got 2.5.'],
    [10, 11, 'SlidingEventTimeWindows slide (11) must not exceed size (10)'],
  ])('rejects size %d with slide %d', (size, slide, message) => {
    expect(() => SlidingEventTimeWindows.of(size, slide)).toThrow(FloeConfigError);
    expect(() => SlidingEventTimeWindows.of(size, slide)).toThrow(message);
  });

  it.each([5, -5, 7])('rejects offset %d for slide 5 (|offset| must be < slide)', (offset) => {
    expect(() => SlidingEventTimeWindows.of(10, 5, offset)).toThrow(
      `SlidingEventTimeWindows offset must be a whole number of ms with |offset| < slide (5), got ${offset}.`,
    );
  });
});
