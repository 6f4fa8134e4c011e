import avsc from 'avsc';
import {
  type AvscSchema,
  type AvscTypeOptions,
  requireUnderlying,
  schemaAttributes,
} from './avro-logical-type.ts';
import { AVRO_LONG_TYPE, type AvroLong } from './avro-long.ts';
import { floorDiv, floorDivBigInt, isSafeBigInt } from './epoch-ms.ts';
import { FormatDecodeError } from './format-decode-error.ts';

/**
 * How many units of each timestamp logical type make one millisecond. The local-* types are wall
 * clock times with no zone; Floe reads them as if they were UTC, which keeps their calendar
 * fields (a local 2021-03-04T05:06 becomes the epoch ms of 2021-03-04T05:06Z).
 */
const UNITS_PER_MS: ReadonlyMap<string, number> = new Map([
  ['timestamp-millis', 1],
  ['timestamp-micros', 1_000],
  ['timestamp-nanos', 1_000_000],
  ['local-timestamp-millis', 1],
  ['local-timestamp-micros', 1_000],
  ['local-timestamp-nanos', 1_000_000],
]);

/** The logical type names TimestampType handles; all annotate a `long`. */
export const TIMESTAMP_LOGICAL_TYPES: readonly string[] = [...UNITS_PER_MS.keys()];

/** Builds the underlying long as Floe's long, also for the object form `{"type": "long"}`. */
function floeLongHook(schema: AvscSchema): avsc.Type | undefined {
  return schemaAttributes(schema).type === 'long' ? AVRO_LONG_TYPE : undefined;
}

/**
 * Avro timestamps (millis, micros, nanos; UTC or local) as epoch milliseconds, Floe's time model.
 * Finer units are floored, not truncated, so pre-1970 instants keep their millisecond:
 * -1 µs becomes -1 ms, not 0. Precision below a millisecond is dropped; a job that needs it can
 * declare the field a plain `long`.
 */
export class TimestampType extends avsc.types.LogicalType {
  private readonly unitsPerMs: number;
  private readonly bigUnitsPerMs: bigint;

  constructor(schema: AvscSchema, opts?: AvscTypeOptions) {
    super(schema, { ...opts, typeHook: floeLongHook });
    const logicalType = String(schemaAttributes(schema).logicalType);
    requireUnderlying(this, logicalType, 'abstract:long');
    this.unitsPerMs = UNITS_PER_MS.get(logicalType) ?? 1;
    this.bigUnitsPerMs = BigInt(this.unitsPerMs);
  }

  protected override _fromValue(value: AvroLong | undefined): number | undefined {
    if (typeof value === 'number') return this.unitsPerMs === 1 ? value : floorDiv(value, this.unitsPerMs);
    // undefined: avsc read past the end of a truncated value; the decoder reports it.
    if (value === undefined) return undefined;
    const ms = floorDivBigInt(value, this.bigUnitsPerMs);
    if (!isSafeBigInt(ms)) {
      throw new FormatDecodeError(
        `Avro ${this.typeName.slice('logical:'.length)} value ${value} is beyond the ±2^53 ms that Floe timestamps hold.`,
      );
    }
    return Number(ms);
  }

  protected override _toValue(epochMs: unknown): AvroLong | undefined {
    if (typeof epochMs !== 'number' || !Number.isSafeInteger(epochMs)) return undefined;
    const units = epochMs * this.unitsPerMs;
    return Number.isSafeInteger(units) ? units : BigInt(epochMs) * this.bigUnitsPerMs;
  }
}
