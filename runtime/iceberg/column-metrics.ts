/**
 * Per-column metrics of a data file, as Iceberg manifests store them: value, null and NaN
 * counts, and lower and upper bounds serialized as single values. Readers prune files with the
 * bounds, so a bound must never be tighter than the data:
 * - NaN is counted, never a bound; -0.0 sorts before +0.0 (IEEE 754 totalOrder);
 * - strings compare by code point (UTF-8 byte order), not by UTF-16 unit as JavaScript's `<` does;
 * - strings and binaries longer than the truncation length get a truncated lower bound and an
 *   upper bound whose last character (or byte) is incremented, as Iceberg's default metrics mode
 *   `truncate(16)` does, so that long values do not bloat manifests.
 */
import type { ColumnVector, PhysicalValue } from '../parquet/column-vectors.ts';
import type { ColumnType } from '../sink/table.ts';
import { encodeSingleValue } from './single-value.ts';

export interface ColumnMetrics {
  readonly valueCount: number;
  readonly nullCount: number;
  /** Only for float and double columns. */
  readonly nanCount?: number;
  readonly lowerBound?: Uint8Array;
  readonly upperBound?: Uint8Array;
}

/** Iceberg's default: `write.metadata.metrics.default = truncate(16)`. */
export const DEFAULT_TRUNCATE_LENGTH = 16;

export function columnMetrics(vector: ColumnVector, truncateLength = DEFAULT_TRUNCATE_LENGTH): ColumnMetrics {
  const { type } = vector.column;
  const compare = COMPARATORS[type];
  const floating = type === 'float' || type === 'double';
  let min: PhysicalValue | undefined;
  let max: PhysicalValue | undefined;
  let nanCount = 0;
  const { values } = vector;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value === null || value === undefined) continue;
    if (floating && Number.isNaN(value)) {
      nanCount++;
      continue;
    }
    if (min === undefined || compare(value, min) < 0) min = value;
    if (max === undefined || compare(value, max) > 0) max = value;
  }
  const bounds =
    min === undefined || max === undefined ? {} : serializeBounds(type, min, max, truncateLength);
  return {
    valueCount: values.length,
    nullCount: vector.nullCount,
    ...(floating ? { nanCount } : {}),
    ...bounds,
  };
}

function serializeBounds(
  type: ColumnType,
  min: PhysicalValue,
  max: PhysicalValue,
  truncateLength: number,
): { lowerBound: Uint8Array; upperBound?: Uint8Array } {
  if (type === 'string') {
    const upper = truncateStringUpper(max as string, truncateLength);
    return {
      lowerBound: encodeSingleValue(type, truncateStringLower(min as string, truncateLength)),
      ...(upper === undefined ? {} : { upperBound: encodeSingleValue(type, upper) }),
    };
  }
  if (type === 'binary') {
    const upper = truncateBinaryUpper(max as Uint8Array, truncateLength);
    return {
      lowerBound: (min as Uint8Array).slice(0, truncateLength),
      ...(upper === undefined ? {} : { upperBound: upper }),
    };
  }
  return { lowerBound: encodeSingleValue(type, min), upperBound: encodeSingleValue(type, max) };
}

/** The first `length` code points: a prefix never sorts after the value. */
export function truncateStringLower(value: string, length: number): string {
  const codePoints = Array.from(value);
  return codePoints.length <= length ? value : codePoints.slice(0, length).join('');
}

/**
 * The first `length` code points with the last one incremented, which sorts after every string
 * with that prefix; `undefined` when no code point can be incremented (all are U+10FFFF).
 */
export function truncateStringUpper(value: string, length: number): string | undefined {
  const codePoints = Array.from(value);
  if (codePoints.length <= length) return value;
  const prefix = codePoints.slice(0, length);
  for (let i = prefix.length - 1; i >= 0; i--) {
    let next = prefix[i]!.codePointAt(0)! + 1;
    if (next >= 0xd800 && next <= 0xdfff) next = 0xe000; // surrogates are not characters
    if (next <= 0x10ffff) return prefix.slice(0, i).join('') + String.fromCodePoint(next);
  }
  return undefined;
}

/** The first `length` bytes with the last byte below 0xff incremented; `undefined` if all are 0xff. */
export function truncateBinaryUpper(value: Uint8Array, length: number): Uint8Array | undefined {
  if (value.length <= length) return value;
  const prefix = value.slice(0, length);
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i]! < 0xff) {
      const upper = prefix.slice(0, i + 1);
      upper[i]! += 1;
      return upper;
    }
  }
  return undefined;
}

type Comparator = (a: PhysicalValue, b: PhysicalValue) => number;

/** Numbers in IEEE 754 totalOrder for the values that are bounds: -0 < +0 (NaN never reaches here). */
const compareNumbers: Comparator = (a, b) => {
  const x = a as number;
  const y = b as number;
  if (x !== y) return x < y ? -1 : 1;
  if (x === 0 && Object.is(x, -0) !== Object.is(y, -0)) return Object.is(x, -0) ? -1 : 1;
  return 0;
};

const compareBigInts: Comparator = (a, b) => {
  const x = a as bigint;
  const y = b as bigint;
  return x === y ? 0 : x < y ? -1 : 1;
};

/**
 * Code point order. UTF-16 units order code points correctly except that surrogates (U+D800 to
 * U+DFFF, which encode U+10000 and above) must sort after U+E000..U+FFFF; shifting both ranges
 * fixes that without decoding.
 */
export const compareStrings: Comparator = (a, b) => {
  const x = a as string;
  const y = b as string;
  const length = Math.min(x.length, y.length);
  for (let i = 0; i < length; i++) {
    const cx = x.charCodeAt(i);
    const cy = y.charCodeAt(i);
    if (cx !== cy) return codeUnitRank(cx) - codeUnitRank(cy);
  }
  return x.length - y.length;
};

function codeUnitRank(unit: number): number {
  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000;
  if (unit >= 0xe000) return unit - 0x800;
  return unit;
}

const compareBytes: Comparator = (a, b) => {
  const x = a as Uint8Array;
  const y = b as Uint8Array;
  const length = Math.min(x.length, y.length);
  for (let i = 0; i < length; i++) {
    if (x[i] !== y[i]) return x[i]! - y[i]!;
  }
  return x.length - y.length;
};

const COMPARATORS: Readonly<Record<ColumnType, Comparator>> = {
  boolean: (a, b) => Number(a) - Number(b),
  int: compareNumbers,
  float: compareNumbers,
  double: compareNumbers,
  long: compareBigInts,
  timestamptz: compareBigInts,
  string: compareStrings,
  binary: compareBytes,
};
