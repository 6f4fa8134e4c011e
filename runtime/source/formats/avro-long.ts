import avsc from 'avsc';
import { isSafeBigInt } from './epoch-ms.ts';
import { FormatDecodeError } from './format-decode-error.ts';

/**
 * An Avro `long` as Floe decodes it: a `number` when the value is a safe integer (|n| < 2^53),
 * a `bigint` otherwise.
 *
 * avsc's own long type throws ("potential precision loss") on the first value beyond 2^53, which
 * would dead-letter records carrying ids such as Iceberg snapshot ids or hashes. Always returning
 * a bigint would be exact too, but would make every counter and epoch-ms field a bigint, which
 * does not mix with `number` arithmetic. So the type is `number | bigint`, and code that may see
 * large values checks `typeof`. Both forms are accepted for writing.
 */
export type AvroLong = number | bigint;

const MIN_LONG = -(2n ** 63n);
const MAX_LONG = 2n ** 63n - 1n;
// Below this, a zigzag value summed in double arithmetic is exact.
const EXACT_ZIGZAG_LIMIT = 2 ** 53;

/** Decodes one long from its zigzag varint bytes. */
export function longFromVarint(bytes: Buffer): AvroLong {
  // Fast path, the common case: sums of exact powers of two stay exact below 2^53, and rounding
  // is monotonic, so a true sum of 2^53 or more can never look smaller than the limit.
  let zigzag = 0;
  let scale = 1;
  for (let i = 0; i < bytes.length; i++) {
    zigzag += (bytes[i]! & 0x7f) * scale;
    scale *= 128;
  }
  if (zigzag < EXACT_ZIGZAG_LIMIT) return zigzag % 2 === 0 ? zigzag / 2 : -(zigzag + 1) / 2;
  let big = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) big = (big << 7n) | BigInt(bytes[i]! & 0x7f);
  return normalizeLong((big >> 1n) ^ -(big & 1n));
}

/** The zigzag varint bytes of a long. Writing is off the hot path, so it is plain bigint code. */
export function longToVarint(value: AvroLong): Buffer {
  const n = BigInt(value);
  let zigzag = BigInt.asUintN(64, (n << 1n) ^ (n >> 63n));
  const bytes: number[] = [];
  while (zigzag >= 0x80n) {
    bytes.push(Number(zigzag & 0x7fn) | 0x80);
    zigzag >>= 7n;
  }
  bytes.push(Number(zigzag));
  return Buffer.from(bytes);
}

/** True for a value an Avro long can hold, in the form Floe uses. */
export function isAvroLong(value: unknown): value is AvroLong {
  if (typeof value === 'number') return Number.isSafeInteger(value);
  return typeof value === 'bigint' && value >= MIN_LONG && value <= MAX_LONG;
}

/** The canonical form: a number when exact, else the bigint. */
export function normalizeLong(n: bigint): AvroLong {
  return isSafeBigInt(n) ? Number(n) : n;
}

function longFromJson(value: unknown): AvroLong {
  // JSON cannot hold a bigint, so large longs travel as decimal strings (see longToJson).
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'bigint') {
    return normalizeLong(BigInt(value));
  }
  throw new TypeError(`Avro long: cannot read ${String(value)} as a long.`);
}

function longToJson(value: AvroLong): number | string {
  return typeof value === 'number' ? value : value.toString();
}

function compareLongs(a: AvroLong, b: AvroLong): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * avsc's read cursor. Not part of its typed API, but the contract every avsc 5 type's `_read`
 * works against: `pos` past `buf.length` means the value was truncated.
 */
interface AvscTap {
  readonly buf: Buffer;
  pos: number;
}

/** Avro allows at most 10 bytes for a 64-bit long. */
const MAX_LONG_BYTES = 10;

/**
 * Reads one long straight from avsc's cursor. `__with` alone would hand every long to
 * `fromBuffer` as a fresh Buffer, which measured ~100 ns per long (+70% on a Nexmark bid);
 * this reads the same bytes in place and allocates only for the rare value beyond 2^52.
 */
function readLongInPlace(tap: AvscTap): AvroLong | undefined {
  const { buf } = tap;
  const start = tap.pos;
  let pos = start;
  let zigzag = 0;
  let scale = 1;
  let byte: number | undefined;
  do {
    byte = buf[pos++];
    // Past the end: leave pos beyond the buffer, which avsc reports as truncation.
    if (byte === undefined) {
      tap.pos = pos;
      return undefined;
    }
    zigzag += (byte & 0x7f) * scale;
    scale *= 128;
  } while (byte & 0x80);
  tap.pos = pos;
  if (zigzag < EXACT_ZIGZAG_LIMIT) return zigzag % 2 === 0 ? zigzag / 2 : -(zigzag + 1) / 2;
  if (pos - start > MAX_LONG_BYTES) {
    throw new FormatDecodeError(`Avro long at byte ${start} is ${pos - start} bytes; a long has at most 10.`);
  }
  return longFromVarint(buf.subarray(start, pos));
}

const SPEC_LONG_TYPE = avsc.types.LongType.__with(
  {
    fromBuffer: longFromVarint,
    toBuffer: longToVarint,
    fromJSON: longFromJson,
    toJSON: longToJson,
    isValid: isAvroLong,
    compare: compareLongs,
  },
  // noUnpack: the buffers are the varint bytes themselves, which longFromVarint reads.
  true,
);

/**
 * The long type Floe uses for every schema (see avro-type.ts): avsc's `__with` long, which writes,
 * validates and compares, with its read replaced by readLongInPlace. Relies on avsc 5 internals
 * (`_read`, the tap); the tests in avro-long.test.ts pin the behaviour at every boundary.
 */
export const AVRO_LONG_TYPE: avsc.types.LongType = Object.create(SPEC_LONG_TYPE, {
  _read: { value: readLongInPlace },
});
