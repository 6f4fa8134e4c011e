/**
 * Column vectors are a table's rows turned into one array per column, with each value checked
 * against its column type and converted to the form Parquet and Iceberg store:
 * - long: bigint (rows hold safe-integer numbers);
 * - timestamptz: bigint microseconds since the epoch (rows hold epoch milliseconds);
 * - float: the value rounded to 32 bits, as it will be read back;
 * - int, double: number; boolean, string, binary: as given.
 *
 * Required numeric columns use typed arrays, which the Parquet encoder walks fastest.
 */
import { FloeError } from '../errors.ts';
import type { ColumnType } from '../sink/table.ts';
import type { ParquetColumn } from './parquet-column.ts';

export type PhysicalValue = boolean | number | bigint | string | Uint8Array;

export interface ColumnVector {
  readonly column: ParquetColumn;
  /** One entry per row, `null` for a null. */
  readonly values: ArrayLike<PhysicalValue | null>;
  readonly nullCount: number;
}

/** A row holds a value its column cannot store. Names the table, the row, the column and the rule. */
export class InvalidColumnValueError extends FloeError {
  constructor(
    readonly table: string,
    /** The row's index in the rows given. */
    readonly row: number,
    readonly column: string,
    readonly columnType: ColumnType,
    /** The value, described and truncated, e.g. `the string "abc"`. */
    readonly value: string,
    /** The column, the value and the rule, e.g. `column c (long) cannot hold ...; it accepts ...`. */
    readonly problem: string,
  ) {
    super(`Table ${table}, row ${row}: ${problem}`);
    this.name = 'InvalidColumnValueError';
  }
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

interface Converter {
  /** The stored value, or `undefined` when `value` does not fit the column. */
  convert(value: unknown): PhysicalValue | undefined;
  /** What the column accepts, for error messages. */
  readonly accepts: string;
  /** A typed array for a required column of this type, if there is one. */
  allocate?(length: number): PhysicalValue[] | Int32Array | Float32Array | Float64Array | BigInt64Array;
}

const CONVERTERS: Readonly<Record<ColumnType, Converter>> = {
  boolean: { convert: (v) => (typeof v === 'boolean' ? v : undefined), accepts: 'a boolean' },
  int: {
    convert: (v) => (typeof v === 'number' && Number.isInteger(v) && v === (v | 0) ? v : undefined),
    accepts: 'an integer from -2147483648 to 2147483647',
    allocate: (n) => new Int32Array(n),
  },
  long: {
    convert: (v) => {
      if (typeof v === 'number') return Number.isSafeInteger(v) ? BigInt(v) : undefined;
      if (typeof v === 'bigint') return v >= INT64_MIN && v <= INT64_MAX ? v : undefined;
      return undefined;
    },
    accepts: 'a safe integer number (|v| <= 2^53 - 1) or a 64-bit bigint',
    allocate: (n) => new BigInt64Array(n),
  },
  float: {
    convert: (v) => (typeof v === 'number' ? Math.fround(v) : undefined),
    accepts: 'a number',
    allocate: (n) => new Float32Array(n),
  },
  double: {
    convert: (v) => (typeof v === 'number' ? v : undefined),
    accepts: 'a number',
    allocate: (n) => new Float64Array(n),
  },
  string: { convert: (v) => (typeof v === 'string' ? v : undefined), accepts: 'a string' },
  binary: { convert: (v) => (v instanceof Uint8Array ? v : undefined), accepts: 'a Uint8Array' },
  timestamptz: {
    convert: (v) => (typeof v === 'number' ? epochMillisToMicros(v) : undefined),
    accepts: 'epoch milliseconds as a finite number (negative before 1970)',
    allocate: (n) => new BigInt64Array(n),
  },
};

/**
 * Epoch milliseconds to epoch microseconds, exactly for integer milliseconds. Fractional
 * milliseconds round to the nearest microsecond; `undefined` outside the int64 range.
 */
export function epochMillisToMicros(ms: number): bigint | undefined {
  if (!Number.isFinite(ms)) return undefined;
  const micros = Number.isSafeInteger(ms) ? BigInt(ms) * 1000n : BigInt(Math.round(ms * 1000));
  return micros >= INT64_MIN && micros <= INT64_MAX ? micros : undefined;
}

/**
 * Converts rows into one vector per column. Throws {@link InvalidColumnValueError} on the first
 * value that does not fit, naming `table`, the row index and the column.
 */
export function toColumnVectors(
  table: string,
  columns: readonly ParquetColumn[],
  rows: readonly Readonly<Record<string, unknown>>[],
): ColumnVector[] {
  return columns.map((column) => toColumnVector(table, column, rows));
}

function toColumnVector(
  table: string,
  column: ParquetColumn,
  rows: readonly Readonly<Record<string, unknown>>[],
): ColumnVector {
  const converter = CONVERTERS[column.type];
  const values: { [index: number]: PhysicalValue | null; length: number } =
    column.required && converter.allocate ? converter.allocate(rows.length) : new Array(rows.length);
  let nullCount = 0;
  for (let i = 0; i < rows.length; i++) {
    const raw = rows[i]![column.name];
    if (raw === null || raw === undefined) {
      if (column.required) {
        const value = raw === null ? 'null' : 'no value';
        throw new InvalidColumnValueError(
          table,
          i,
          column.name,
          column.type,
          value,
          `column ${column.name} (${column.type}) is required but the row holds ${value}. Declare the column as { type: '${column.type}', nullable: true } or set a value.`,
        );
      }
      values[i] = null;
      nullCount++;
      continue;
    }
    const value = converter.convert(raw);
    if (value === undefined) {
      const described = describe(raw);
      throw new InvalidColumnValueError(
        table,
        i,
        column.name,
        column.type,
        described,
        `column ${column.name} (${column.type}) cannot hold ${described}; it accepts ${converter.accepts}.`,
      );
    }
    values[i] = value;
  }
  return { column, values, nullCount };
}

function describe(value: unknown): string {
  if (typeof value === 'string') {
    return `the string ${JSON.stringify(value.slice(0, 40))}${value.length > 40 ? ` (${value.length} characters)` : ''}`;
  }
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') {
    return `${typeof value} ${String(value)}`;
  }
  if (value instanceof Date) return `a Date (pass epoch milliseconds instead, e.g. date.getTime())`;
  return `a ${value === null ? 'null' : typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value}`;
}
