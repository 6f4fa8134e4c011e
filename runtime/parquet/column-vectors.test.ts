import { describe, expect, it } from 'vitest';
import type { ColumnType } from '../sink/table.ts';
import { epochMillisToMicros, InvalidColumnValueError, toColumnVectors } from './column-vectors.ts';
import type { ParquetColumn } from './parquet-column.ts';

const column = (type: ColumnType, required = true): ParquetColumn => ({
  name: 'c',
  type,
  required,
  fieldId: 1,
});
const convert = (type: ColumnType, values: unknown[], required = true) =>
  Array.from(
    toColumnVectors(
      'ns.t',
      [column(type, required)],
      values.map((c) => ({ c })),
    ).at(0)!.values,
  );

describe('toColumnVectors', () => {
  it.each([
    [0, 0n],
    [1, 1_000n],
    [-1, -1_000n],
    [-1_500, -1_500_000n],
    [1_700_000_000_123, 1_700_000_000_123_000n],
    [0.5, 500n],
    [-62_135_596_800_000, -62_135_596_800_000_000n], // 0001-01-01
  ])('converts timestamptz %d ms to %d µs', (ms, micros) => {
    expect(epochMillisToMicros(ms)).toBe(micros);
    expect(convert('timestamptz', [ms])).toEqual([micros]);
  });

  it('uses typed arrays for required numeric columns and plain arrays with nulls otherwise', () => {
    const [required, nullable] = toColumnVectors(
      'ns.t',
      [
        { name: 'a', type: 'long', required: true, fieldId: 1 },
        { name: 'b', type: 'long', required: false, fieldId: 2 },
      ],
      [
        { a: 1, b: null },
        { a: 2 ** 53 - 1, b: 5 },
      ],
    );

    expect(required!.values).toBeInstanceOf(BigInt64Array);
    expect(Array.from(required!.values)).toEqual([1n, 2n ** 53n - 1n]);
    expect(nullable!.values).toEqual([null, 5n]);
    expect(nullable!.nullCount).toBe(1);
  });

  it('rounds floats to 32 bits as they will be read back', () => {
    expect(convert('float', [0.1])).toEqual([Math.fround(0.1)]);
  });

  it('treats a missing member of a nullable column as null', () => {
    expect(toColumnVectors('ns.t', [column('string', false)], [{}])[0]).toMatchObject({
      values: [null],
      nullCount: 1,
    });
  });

  it.each([
    ['long', 2 ** 53, /column c \(long\) cannot hold number 9007199254740992; it accepts a safe integer/],
    ['long', 1.5, /cannot hold number 1\.5/],
    [
      'int',
      2 ** 31,
      /column c \(int\) cannot hold number 2147483648; it accepts an integer from -2147483648 to 2147483647/,
    ],
    ['timestamptz', Number.NaN, /cannot hold number NaN; it accepts epoch milliseconds/],
    ['timestamptz', new Date(0), /cannot hold a Date \(pass epoch milliseconds instead/],
    ['string', 5, /column c \(string\) cannot hold number 5; it accepts a string/],
    ['binary', 'x', /cannot hold the string "x"; it accepts a Uint8Array/],
    ['boolean', 0, /cannot hold number 0; it accepts a boolean/],
  ] as const)('rejects a %s column holding %s, naming the table, row and rule', (type, value, message) => {
    const attempt = () => convert(type, [value]);

    expect(attempt).toThrow(InvalidColumnValueError);
    expect(attempt).toThrow(/^Table ns\.t, row 0: /);
    expect(attempt).toThrow(message);
  });

  it('rejects a null in a required column and says how to allow it', () => {
    expect(() => convert('long', [1, null])).toThrow(
      "Table ns.t, row 1: column c (long) is required but the row holds null. Declare the column as { type: 'long', nullable: true } or set a value.",
    );
  });
});
