import { floorDiv } from './epoch-ms.ts';
import { FormatDecodeError } from './format-decode-error.ts';

/**
 * The legacy Impala/Hive INT96 timestamp: 12 bytes, the first 8 a little-endian int64 of
 * nanoseconds since midnight, the last 4 a little-endian int32 Julian day number (as read by
 * parquet-mr's NanoTime and DuckDB). Days count whole from midnight UTC, so pre-1970 instants
 * are an earlier day plus a positive time of day.
 */
export const INT96_SIZE = 12;

/** The Julian day number of 1970-01-01. */
export const JULIAN_DAY_OF_UNIX_EPOCH = 2_440_588;

const MS_PER_DAY = 86_400_000;
const NANOS_PER_MS = 1_000_000;
const TWO_POW_32 = 4_294_967_296;

/** Epoch milliseconds of an INT96 timestamp, nanoseconds floored to the millisecond. */
export function int96ToEpochMs(bytes: Buffer): number {
  const nanosOfDay = bytes.readInt32LE(4) * TWO_POW_32 + bytes.readUInt32LE(0);
  // A real time of day is below 86,400 s (2^47 ns); beyond 2^53 the value is corrupt, not a time.
  if (!Number.isSafeInteger(nanosOfDay)) {
    throw new FormatDecodeError(
      `INT96 timestamp has a time of day of ${bytes.readBigInt64LE(0)} ns; expected 0 to 86399999999999.`,
    );
  }
  const days = bytes.readInt32LE(8) - JULIAN_DAY_OF_UNIX_EPOCH;
  return days * MS_PER_DAY + floorDiv(nanosOfDay, NANOS_PER_MS);
}

/** The INT96 bytes of an epoch-ms timestamp (a whole day plus a non-negative time of day). */
export function epochMsToInt96(epochMs: number): Buffer {
  const days = floorDiv(epochMs, MS_PER_DAY);
  const nanosOfDay = (epochMs - days * MS_PER_DAY) * NANOS_PER_MS;
  const bytes = Buffer.alloc(INT96_SIZE);
  bytes.writeUInt32LE(nanosOfDay % TWO_POW_32, 0);
  bytes.writeUInt32LE(Math.floor(nanosOfDay / TWO_POW_32), 4);
  bytes.writeInt32LE(days + JULIAN_DAY_OF_UNIX_EPOCH, 8);
  return bytes;
}
