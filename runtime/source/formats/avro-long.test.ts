import { describe, expect, it } from 'vitest';
import { avro } from './avro.ts';
import { type AvroLong, isAvroLong, longFromVarint, longToVarint } from './avro-long.ts';
import { buildAvroType } from './avro-type.ts';
import { varint } from './test-encodings.ts';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

describe('Avro long', () => {
  it.each<[string, bigint, AvroLong]>([
    ['0', 0n, 0],
    ['-1', -1n, -1],
    ['2^52 (the last value of the fast path)', 2n ** 52n, 2 ** 52],
    ['-(2^52) - 1', -(2n ** 52n) - 1n, -(2 ** 52) - 1],
    ['2^52 + 1', 2n ** 52n + 1n, 2 ** 52 + 1],
    ['2^53 - 1 (largest safe integer)', MAX_SAFE, Number.MAX_SAFE_INTEGER],
    ['-(2^53 - 1)', -MAX_SAFE, -Number.MAX_SAFE_INTEGER],
    ['2^53', MAX_SAFE + 1n, MAX_SAFE + 1n],
    ['-(2^53)', -MAX_SAFE - 1n, -MAX_SAFE - 1n],
    ['2^53 + 1', MAX_SAFE + 2n, MAX_SAFE + 2n],
    ['2^63 - 1', 2n ** 63n - 1n, 2n ** 63n - 1n],
    ['-(2^63)', -(2n ** 63n), -(2n ** 63n)],
  ])('decodes %s as a number when safe, else a bigint', (_, written, expected) => {
    const value = avro<AvroLong>('long').decode(varint(written).toString('base64'));

    expect(value).toBe(expected);
  });

  it('decodes the object form {"type": "long"} the same way', () => {
    const value = avro<AvroLong>({ type: 'long' }).decode(varint(2n ** 60n).toString('base64'));

    expect(value).toBe(2n ** 60n);
  });

  it.each<AvroLong>([0, -1, 1234567890123, Number.MAX_SAFE_INTEGER, 2n ** 60n, -(2n ** 63n), 2n ** 63n - 1n])(
    'writes %s back to the bytes the specification defines',
    (value) => {
      const type = buildAvroType('long', undefined, 'test');

      expect(type.toBuffer(value)).toEqual(varint(BigInt(value)));
      expect(longToVarint(value)).toEqual(varint(BigInt(value)));
      expect(longFromVarint(varint(BigInt(value)))).toBe(value);
    },
  );

  it.each<[unknown, boolean]>([
    [1, true],
    [2n ** 63n - 1n, true],
    [2n ** 63n, false],
    [-(2n ** 63n) - 1n, false],
    [2 ** 53, false], // an unsafe number may already have lost precision: write a bigint instead
    [1.5, false],
    ['1', false],
  ])('accepts %s for writing: %s', (value, valid) => {
    expect(isAvroLong(value)).toBe(valid);
  });

  it('dead-letters a long longer than the 10 bytes Avro allows', () => {
    const elevenBytes = Buffer.from([...Array(10).fill(0xff), 0x01]);

    expect(() => avro('long').decode(elevenBytes.toString('base64'))).toThrow(
      'Avro long at byte 0 is 11 bytes; a long has at most 10.',
    );
  });

  it('reports a long cut off mid-varint as truncated', () => {
    const cut = varint(2n ** 60n).subarray(0, 4);

    expect(() => avro('long').decode(cut.toString('base64'))).toThrow('Avro value (long) is truncated');
  });

  it('keeps bigint longs inside records and unions', () => {
    const schema = {
      type: 'record',
      name: 'Snapshot',
      fields: [
        { name: 'id', type: 'long' },
        { name: 'parent', type: ['null', 'long'] },
      ],
    };
    const value = { id: 2n ** 62n + 3n, parent: -(2n ** 62n) };
    const bytes = buildAvroType(schema, undefined, 'test').toBuffer(value);

    expect(avro(schema).decode(bytes.toString('base64'))).toEqual(value);
  });
});
