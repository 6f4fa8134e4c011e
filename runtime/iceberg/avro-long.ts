/**
 * An Avro long backed by bigint. avsc's default long type refuses values beyond 2^53 ("potential
 * precision loss"), and Iceberg snapshot ids use the whole 64-bit range. With this type every
 * long reads as a bigint, and a long accepts a bigint or a safe-integer number on write.
 */
import avro from 'avsc';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function isLong(value: unknown): boolean {
  if (typeof value === 'bigint') return value >= INT64_MIN && value <= INT64_MAX;
  return typeof value === 'number' && Number.isSafeInteger(value);
}

export const bigIntLongType: avro.Type = avro.types.LongType.__with({
  fromBuffer: (buffer: Buffer) => buffer.readBigInt64LE(),
  toBuffer: (value: bigint | number) => {
    const buffer = Buffer.alloc(8);
    buffer.writeBigInt64LE(BigInt(value));
    return buffer;
  },
  fromJSON: (value: number | string) => BigInt(value),
  toJSON: (value: bigint) => (Number.isSafeInteger(Number(value)) ? Number(value) : value.toString()),
  isValid: isLong,
  compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
});

/** avsc `typeHook` that puts the bigint long in place of every plain `long` in a schema. */
export function bigIntLongHook(schema: unknown): avro.Type | undefined {
  if (schema === 'long') return bigIntLongType;
  if (typeof schema === 'object' && schema !== null && (schema as { type?: unknown }).type === 'long') {
    return bigIntLongType;
  }
  return undefined;
}

/** Parsed schemas by their JSON: a table writes the same manifest schemas on every commit. */
const parsed = new Map<string, avro.Type>();
/** Enough for the schemas of many tables; beyond it the cache starts over. */
const MAX_PARSED = 256;

/**
 * Parses an Avro schema with bigint longs. A parsed type holds no per-use state, so the same
 * schema (by its JSON) is parsed once: avsc's parsing cost more than the encoding of a manifest.
 */
export function avroType(schema: object): avro.Type {
  const text = JSON.stringify(schema);
  const known = parsed.get(text);
  if (known !== undefined) return known;
  const type = avro.Type.forSchema(schema as avro.Schema, { typeHook: bigIntLongHook });
  if (parsed.size >= MAX_PARSED) parsed.clear();
  parsed.set(text, type);
  return type;
}
