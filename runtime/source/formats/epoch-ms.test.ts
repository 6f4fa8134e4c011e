import { describe, expect, it } from 'vitest';
import { floorDiv, floorDivBigInt } from './epoch-ms.ts';

describe('floorDiv', () => {
  it.each([
    [0, 1000, 0],
    [999, 1000, 0],
    [1000, 1000, 1],
    [-1, 1000, -1],
    [-999, 1000, -1],
    [-1000, 1000, -1],
    [-1001, 1000, -2],
    [Number.MAX_SAFE_INTEGER, 1000, 9007199254740],
    [-Number.MAX_SAFE_INTEGER, 1000, -9007199254741],
  ])('floors %d / %d to %d', (n, divisor, expected) => {
    expect(floorDiv(n, divisor)).toBe(expected);
  });
});

describe('floorDivBigInt', () => {
  it.each([
    [7n, 2n, 3n],
    [-7n, 2n, -4n],
    [-8n, 2n, -4n],
    [-1n, 1_000_000n, -1n],
  ])('floors %s / %s to %s', (n, divisor, expected) => {
    expect(floorDivBigInt(n, divisor)).toBe(expected);
  });
});
