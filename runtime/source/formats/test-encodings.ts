import avsc from 'avsc';

/**
 * Hand-written encoders for tests: independent of the code under test, straight from the
 * Avro specification and the INT96 layout, for values plain avsc cannot write.
 */

/** An Avro long as the specification writes it: zigzag, then 7-bit groups, low first. */
export function varint(n: bigint): Buffer {
  let zigzag = n >= 0n ? n * 2n : -n * 2n - 1n;
  const bytes: number[] = [];
  do {
    const low = Number(zigzag % 128n);
    zigzag /= 128n;
    bytes.push(zigzag > 0n ? low | 0x80 : low);
  } while (zigzag > 0n);
  return Buffer.from(bytes);
}

/** INT96: 8 bytes little-endian nanoseconds of the day, then 4 bytes little-endian Julian day. */
export function int96Bytes(nanosOfDay: bigint, julianDay: number): Buffer {
  const bytes = Buffer.alloc(12);
  bytes.writeBigInt64LE(nanosOfDay, 0);
  bytes.writeInt32LE(julianDay, 8);
  return bytes;
}

/** Avro binary written by plain avsc: no Floe long or logical types, which it ignores. */
export function encodePlain(schema: unknown, value: unknown): Buffer {
  return avsc.Type.forSchema(schema as Parameters<typeof avsc.Type.forSchema>[0]).toBuffer(value);
}
