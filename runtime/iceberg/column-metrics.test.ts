import { describe, expect, it } from 'vitest';
import type { ColumnVector, PhysicalValue } from '../parquet/column-vectors.ts';
import type { ColumnType } from '../sink/table.ts';
import {
  columnMetrics,
  compareStrings,
  truncateBinaryUpper,
  truncateStringLower,
  truncateStringUpper,
} from './column-metrics.ts';
import { decodeSingleValue, encodeSingleValue } from './single-value.ts';

function vector(type: ColumnType, values: (PhysicalValue | null)[]): ColumnVector {
  return {
    column: { name: 'c', type, required: false, fieldId: 1 },
    values,
    nullCount: values.filter((v) => v === null).length,
  };
}

function bounds(type: ColumnType, values: (PhysicalValue | null)[]) {
  const m = columnMetrics(vector(type, values));
  return {
    lower: m.lowerBound === undefined ? undefined : decodeSingleValue(type, m.lowerBound),
    upper: m.upperBound === undefined ? undefined : decodeSingleValue(type, m.upperBound),
  };
}

describe('encodeSingleValue', () => {
  it.each([
    ['boolean', true, '01'],
    ['boolean', false, '00'],
    ['int', -2, 'feffffff'],
    ['long', 1n, '0100000000000000'],
    ['timestamptz', -1_500_000n, 'a01ce9ffffffffff'],
    ['float', 1, '0000803f'],
    ['double', -0, '0000000000000080'],
    ['string', 'hé', '68c3a9'],
    ['binary', Uint8Array.of(0, 255), '00ff'],
  ] as const)('encodes %s %s as %s (little-endian, strings as UTF-8)', (type, value, hex) => {
    const encoded = encodeSingleValue(type, value);

    expect(Buffer.from(encoded).toString('hex')).toBe(hex);
    expect(decodeSingleValue(type, encoded)).toEqual(value);
  });
});

describe('columnMetrics', () => {
  it('counts values including nulls, and bounds only the non-null values', () => {
    const m = columnMetrics(vector('long', [5n, null, -3n, null, 9n]));

    expect(m).toMatchObject({ valueCount: 5, nullCount: 2 });
    expect(bounds('long', [5n, null, -3n, null, 9n])).toEqual({ lower: -3n, upper: 9n });
  });

  it('gives no bounds when every value is null', () => {
    const m = columnMetrics(vector('string', [null, null]));

    expect(m).toEqual({ valueCount: 2, nullCount: 2 });
  });

  it('counts NaN for floating columns and keeps it out of the bounds', () => {
    const m = columnMetrics(vector('double', [Number.NaN, 2.5, -1, Number.NaN]));

    expect(m.nanCount).toBe(2);
    expect(bounds('double', [Number.NaN, 2.5, -1, Number.NaN])).toEqual({ lower: -1, upper: 2.5 });
    expect(columnMetrics(vector('double', [Number.NaN])).lowerBound).toBeUndefined();
    expect(columnMetrics(vector('long', [1n])).nanCount).toBeUndefined();
  });

  it('orders -0.0 before +0.0', () => {
    const { lower, upper } = bounds('double', [0, -0]);

    expect(Object.is(lower, -0)).toBe(true);
    expect(Object.is(upper, 0)).toBe(true);
  });

  it('bounds negative timestamps (microseconds) correctly', () => {
    expect(bounds('timestamptz', [0n, -86_400_000_000n, 1_000n])).toEqual({
      lower: -86_400_000_000n,
      upper: 1_000n,
    });
  });

  it('orders strings by code point, so an astral character sorts after U+FFFD', () => {
    const values = ['\u{1F600}', '\uFFFD', 'a'];

    expect(bounds('string', values)).toEqual({ lower: 'a', upper: '\u{1F600}' });
    expect(compareStrings('\u{1F600}', '\uFFFD')).toBeGreaterThan(0);
    expect(compareStrings('ab', 'abc')).toBeLessThan(0);
  });

  it('truncates long string bounds to 16 characters, incrementing the upper one', () => {
    const long = 'abcdefghijklmnopqrstuvwxyz';

    expect(bounds('string', [long])).toEqual({ lower: 'abcdefghijklmnop', upper: 'abcdefghijklmnoq' });
  });

  it('orders booleans false before true', () => {
    expect(bounds('boolean', [true, false, true])).toEqual({ lower: false, upper: true });
  });
});

describe('bound truncation', () => {
  it.each([
    ['short', 5, 'short', 'short'],
    ['abcdef', 3, 'abc', 'abd'],
    ['a\u{10FFFF}\u{10FFFF}x', 3, 'a\u{10FFFF}\u{10FFFF}', 'b'],
    ['\u{D7FF}x', 1, '\u{D7FF}', '\u{E000}'],
  ])('truncates %j to %i code points: lower %j, upper %j', (value, length, lower, upper) => {
    expect(truncateStringLower(value, length)).toBe(lower);
    expect(truncateStringUpper(value, length)).toBe(upper);
  });

  it('gives no upper bound when no code point can be incremented', () => {
    expect(truncateStringUpper('\u{10FFFF}\u{10FFFF}x', 2)).toBeUndefined();
  });

  it('increments the last byte below 0xff of a truncated binary', () => {
    expect(truncateBinaryUpper(Uint8Array.of(1, 0xff, 7), 2)).toEqual(Uint8Array.of(2));
    expect(truncateBinaryUpper(Uint8Array.of(0xff, 0xff, 7), 2)).toBeUndefined();
    expect(truncateBinaryUpper(Uint8Array.of(1, 2), 2)).toEqual(Uint8Array.of(1, 2));
  });
});
