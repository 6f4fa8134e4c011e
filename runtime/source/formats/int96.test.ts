import { describe, expect, it } from 'vitest';
import { epochMsToInt96, int96ToEpochMs } from './int96.ts';
import { int96Bytes } from './test-encodings.ts';

// Julian day numbers from astronomical tables, not from the code under test.
const CASES: [string, bigint, number, number][] = [
  ['1970-01-01T00:00:00.000Z', 0n, 2440588, 0],
  ['2021-03-04T05:06:07.123Z', 18_367_123_000_000n, 2459278, Date.parse('2021-03-04T05:06:07.123Z')],
  ['1969-12-31T23:59:59.999Z', 86_399_999_000_000n, 2440587, -1],
  ['1900-01-01T12:00:00.000Z', 43_200_000_000_000n, 2415021, Date.parse('1900-01-01T12:00:00Z')],
];

describe('INT96 timestamps', () => {
  it.each(CASES)('decodes %s', (_, nanosOfDay, julianDay, epochMs) => {
    expect(int96ToEpochMs(int96Bytes(nanosOfDay, julianDay))).toBe(epochMs);
  });

  it.each(CASES)('encodes %s', (_, nanosOfDay, julianDay, epochMs) => {
    expect(epochMsToInt96(epochMs)).toEqual(int96Bytes(nanosOfDay, julianDay));
  });

  it.each([
    ['2021-03-04T05:06:07.123999999Z', 18_367_123_999_999n, 2459278, Date.parse('2021-03-04T05:06:07.123Z')],
    ['1969-12-31T23:59:59.9999995Z', 86_399_999_999_500n, 2440587, -1],
  ])('floors sub-millisecond nanoseconds of %s', (_, nanosOfDay, julianDay, epochMs) => {
    expect(int96ToEpochMs(int96Bytes(nanosOfDay, julianDay))).toBe(epochMs);
  });

  it('refuses a time of day too large to be one', () => {
    expect(() => int96ToEpochMs(int96Bytes(2n ** 62n, 2440588))).toThrow(
      'INT96 timestamp has a time of day of 4611686018427387904 ns; expected 0 to 86399999999999.',
    );
  });
});
