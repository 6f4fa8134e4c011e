import { describe, expect, it } from 'vitest';
import { avro } from './avro.ts';
import { buildAvroType } from './avro-type.ts';
import { FormatDecodeError } from './format-decode-error.ts';
import { encodePlain, varint } from './test-encodings.ts';

const timestamp = (logicalType: string) => ({ type: 'long', logicalType });
const decodeRaw = (logicalType: string, raw: bigint) =>
  avro<number>(timestamp(logicalType)).decode(varint(raw).toString('base64'));

const MARCH_4 = Date.parse('2021-03-04T05:06:07.123Z');

describe('Avro timestamps decode to epoch milliseconds', () => {
  it.each([
    ['timestamp-millis', 1614834367123n, MARCH_4],
    ['timestamp-millis', 0n, 0],
    ['timestamp-millis', -1n, -1],
    ['timestamp-millis', -2208988800000n, Date.parse('1900-01-01T00:00:00Z')],
    ['local-timestamp-millis', 1614834367123n, MARCH_4],
    ['timestamp-micros', 1614834367123456n, MARCH_4],
    ['local-timestamp-micros', 1614834367123999n, MARCH_4],
    ['timestamp-nanos', 1614834367123456789n, MARCH_4],
    ['local-timestamp-nanos', 1614834367123000000n, MARCH_4],
  ])('%s %s -> %s', (logicalType, raw, expected) => {
    expect(decodeRaw(logicalType, raw)).toBe(expected);
  });

  it('decodes a value written by plain avsc, which ignores the logical type', () => {
    const schema = timestamp('timestamp-micros');
    const bytes = encodePlain(schema, 1614834367123456);

    expect(avro(schema).decode(bytes.toString('base64'))).toBe(MARCH_4);
  });

  describe('floors finer units, so pre-1970 instants keep their millisecond', () => {
    it.each([
      [0n, 0],
      [999n, 0],
      [1000n, 1],
      [-1n, -1],
      [-999n, -1],
      [-1000n, -1],
      [-1001n, -2],
      [-1614834367123456n, -1614834367124],
      [BigInt(Number.MAX_SAFE_INTEGER), 9007199254740],
      [2n ** 60n, 1152921504606846],
    ])('timestamp-micros %s -> %s ms', (raw, expected) => {
      expect(decodeRaw('timestamp-micros', raw)).toBe(expected);
    });

    it.each([
      [-1n, -1],
      [-1_000_000n, -1],
      [-1_000_001n, -2],
      [999_999n, 0],
      [-(2n ** 63n), -9223372036855],
    ])('timestamp-nanos %s -> %s ms', (raw, expected) => {
      expect(decodeRaw('timestamp-nanos', raw)).toBe(expected);
    });
  });

  it('dead-letters a timestamp-millis beyond the ±2^53 ms a number holds', () => {
    expect(() => decodeRaw('timestamp-millis', 2n ** 60n)).toThrow(FormatDecodeError);
    expect(() => decodeRaw('timestamp-millis', 2n ** 60n)).toThrow(
      'Avro timestamp-millis value 1152921504606846976 is beyond the ±2^53 ms that Floe timestamps hold.',
    );
  });

  it('reads a timestamp annotation on an int as the plain int, as the specification requires', () => {
    const schema = { type: 'int', logicalType: 'timestamp-millis' };

    expect(avro(schema).decode(encodePlain('int', 5).toString('base64'))).toBe(5);
  });

  it.each([
    ['timestamp-millis', -1, -1n],
    ['timestamp-micros', -1, -1000n],
    ['timestamp-micros', MARCH_4, 1614834367123000n],
    ['timestamp-nanos', MARCH_4, 1614834367123000000n],
  ])('writes %s from epoch ms %s as %s', (logicalType, ms, raw) => {
    expect(buildAvroType(timestamp(logicalType), undefined, 'test').toBuffer(ms)).toEqual(varint(raw));
  });
});
