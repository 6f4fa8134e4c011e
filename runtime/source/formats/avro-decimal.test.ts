import { describe, expect, it } from 'vitest';
import { avro } from './avro.ts';
import { buildAvroType } from './avro-type.ts';
import { encodePlain } from './test-encodings.ts';

/** Big-endian two's complement of `value`, in `size` bytes. */
function twosComplement(value: bigint, size: number): Buffer {
  const unsigned = value < 0n ? (1n << BigInt(size * 8)) + value : value;
  return Buffer.from(unsigned.toString(16).padStart(size * 2, '0'), 'hex');
}

const bytesDecimal = (precision: number, scale?: number) => ({
  type: 'bytes',
  logicalType: 'decimal',
  precision,
  scale,
});
const fixedDecimal = (size: number, precision: number, scale: number) => ({
  type: 'fixed',
  name: 'Amount',
  size,
  logicalType: 'decimal',
  precision,
  scale,
});

describe('Avro decimal decodes to its exact decimal text', () => {
  it.each([
    [-1234n, 2, 2, '-12.34'],
    [1234n, 2, 2, '12.34'],
    [5n, 1, 2, '0.05'],
    [-5n, 1, 2, '-0.05'],
    [0n, 1, 2, '0.00'],
    [150n, 2, 2, '1.50'],
    [-128n, 1, 0, '-128'],
    [127n, 1, 0, '127'],
    [42n, 1, undefined, '42'],
    // Beyond 2^53: a number would print 1180591620717411303424.1 or worse.
    [11805916207174113034241n, 10, 1, '1180591620717411303424.1'],
    [-(2n ** 100n), 13, 30, '-1.267650600228229401496703205376'],
    [-(2n ** 64n), 9, 25, '-0.0000018446744073709551616'],
  ])('bytes %s (%d bytes, scale %s) -> %s', (unscaled, size, scale, expected) => {
    const schema = bytesDecimal(38, scale);
    const raw = encodePlain('bytes', twosComplement(unscaled, size));

    expect(avro<string>(schema).decode(raw.toString('base64'))).toBe(expected);
  });

  it.each([
    [-1234n, '-1.234'],
    [1n, '0.001'],
    [-(10n ** 37n) + 1n, '-9999999999999999999999999999999999.999'],
  ])('fixed(16) %s -> %s', (unscaled, expected) => {
    const schema = fixedDecimal(16, 37, 3);

    expect(avro<string>(schema).decode(twosComplement(unscaled, 16).toString('base64'))).toBe(expected);
  });

  it.each(['-12.34', '0.05', '99999.99', '-0.01'])('writes %s back and reads the same text', (text) => {
    const schema = bytesDecimal(7, 2);
    const bytes = buildAvroType(schema, undefined, 'test').toBuffer(text);

    expect(avro(schema).decode(bytes.toString('base64'))).toBe(text);
  });

  it.each(['1.234', '123456.00', 'abc', ''])(
    'refuses to write %j, which would need rounding or is not a decimal',
    (text) => {
      expect(buildAvroType(bytesDecimal(7, 2), undefined, 'test').isValid(text)).toBe(false);
    },
  );

  it.each([
    ['a scale above the precision', bytesDecimal(2, 3)],
    ['a precision of 0', bytesDecimal(0, 0)],
    ['a precision that does not fit the fixed', fixedDecimal(2, 5, 0)],
  ])('reads a decimal with %s as its underlying bytes, as the specification requires', (_, schema) => {
    const size = schema.type === 'fixed' ? 2 : 1;
    const raw = schema.type === 'fixed' ? Buffer.from([0, 7]) : encodePlain('bytes', Buffer.from([7]));

    expect(avro(schema).decode(raw.toString('base64'))).toEqual(Buffer.from(size === 2 ? [0, 7] : [7]));
  });
});
