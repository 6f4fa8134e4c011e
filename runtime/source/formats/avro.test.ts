import { describe, expect, it } from 'vitest';
import { FloeConfigError } from '../../errors.ts';
import { avro } from './avro.ts';
import { FormatDecodeError } from './format-decode-error.ts';
import { encodePlain } from './test-encodings.ts';

const BID_SCHEMA = {
  type: 'record',
  name: 'Bid',
  namespace: 'nexmark',
  fields: [
    { name: 'auction', type: 'long' },
    { name: 'bidder', type: { type: 'long' } },
    { name: 'price', type: 'double' },
    { name: 'channel', type: { type: 'enum', name: 'Channel', symbols: ['Google', 'Facebook'] } },
    { name: 'url', type: ['null', 'string'] },
    { name: 'tags', type: { type: 'array', items: 'string' } },
    { name: 'extra', type: { type: 'map', values: 'int' } },
    { name: 'payload', type: 'bytes' },
  ],
};

const BID = {
  auction: 1001,
  bidder: -7,
  price: 42.5,
  channel: 'Facebook',
  url: null,
  tags: ['a', 'b'],
  extra: { k: 1 },
  payload: Buffer.from([1, 2, 3]),
};

const base64 = (bytes: Buffer) => bytes.toString('base64');

describe('avro()', () => {
  it('decodes a record written by avsc into an object with the same fields', () => {
    const format = avro<typeof BID>(BID_SCHEMA);

    const bid = format.decode(base64(encodePlain(BID_SCHEMA, BID)));

    expect(bid).toEqual(BID);
  });

  it('decodes records as plain data: only the fields are enumerable', () => {
    const bid = avro<Record<string, unknown>>(BID_SCHEMA).decode(base64(encodePlain(BID_SCHEMA, BID)));

    const keys: string[] = [];
    for (const key in bid) keys.push(key);

    expect(keys).toEqual(Object.keys(BID));
  });

  it('accepts the schema as JSON text, as the Schema Registry returns it', () => {
    const format = avro(JSON.stringify(BID_SCHEMA));

    expect(format.decode(base64(encodePlain(BID_SCHEMA, BID)))).toEqual(BID);
  });

  it.each([
    ['string', 'héllo'],
    ['int', -3],
    ['boolean', true],
  ])('decodes a bare %s value', (schema, value) => {
    expect(avro(schema).decode(base64(encodePlain(schema, value)))).toEqual(value);
  });

  it('decodes an empty value when the schema needs no bytes: an empty value is not a tombstone', () => {
    expect(avro('null').decode('')).toBeNull();
  });

  it("wraps every union in { branch: value } with wrapUnions: 'always'", () => {
    const schema = { type: 'record', name: 'R', fields: [{ name: 'url', type: ['null', 'string'] }] };

    const value = avro(schema, { wrapUnions: 'always' }).decode(base64(encodePlain(schema, { url: 'x' })));

    expect(value).toEqual({ url: { string: 'x' } });
  });

  it('describes itself with the schema type and full name', () => {
    expect(String(avro(BID_SCHEMA))).toBe('Avro(record nexmark.Bid)');
    expect(String(avro('string'))).toBe('Avro(string)');
    expect(String(avro('long'))).toBe('Avro(long)');
    expect(String(avro(['null', 'long']))).toBe('Avro(union)');
    expect(String(avro({ type: 'long', logicalType: 'timestamp-millis' }))).toBe('Avro(timestamp-millis)');
    expect(avro('string').type).toBe('avro');
  });

  describe('rejects a bad schema when the job is defined', () => {
    it.each([
      [
        'an unknown type',
        { type: 'recrd', name: 'X', fields: [] },
        'avro(): invalid Avro schema: unknown type: "recrd".',
      ],
      [
        'an undefined type name',
        { type: 'record', name: 'X', fields: [{ name: 'a', type: 'Missing' }] },
        'avro(): invalid Avro schema: undefined type name: Missing.',
      ],
      ['malformed JSON text', '{"type": "record",', /^avro\(\): the Avro schema text is not valid JSON: /],
      ['no schema', undefined, 'avro(): an Avro schema is required, got undefined.'],
    ])('%s', (_, schema, message) => {
      expect(() => avro(schema as never)).toThrow(FloeConfigError);
      expect(() => avro(schema as never)).toThrow(message);
    });

    it('an unknown wrapUnions option', () => {
      expect(() => avro('string', { wrapUnions: 'sometimes' as never })).toThrow(
        `avro(): wrapUnions must be 'auto', 'always' or 'never', got "sometimes".`,
      );
    });
  });

  describe('turns bytes that are not this schema into a FormatDecodeError', () => {
    const valid = encodePlain(BID_SCHEMA, BID);

    it('a truncated value', () => {
      const truncated = valid.subarray(0, valid.length - 1);

      expect(() => avro(BID_SCHEMA).decode(base64(truncated))).toThrow(
        `Avro value (record nexmark.Bid) is truncated: its ${truncated.length} bytes end before the value does.`,
      );
    });

    it.each([
      ['an INT96 fixed', { type: 'fixed', name: 'INT96', size: 12 }, Buffer.alloc(11)],
      [
        'a decimal',
        { type: 'bytes', logicalType: 'decimal', precision: 9, scale: 2 },
        Buffer.from([4, 0xff]),
      ],
      ['a uuid fixed', { type: 'fixed', name: 'Id', size: 16, logicalType: 'uuid' }, Buffer.alloc(15)],
      ['a timestamp-micros', { type: 'long', logicalType: 'timestamp-micros' }, Buffer.from([0x80, 0x80])],
      ['a date', { type: 'int', logicalType: 'date' }, Buffer.from([0x80])],
    ])('a truncated %s, reported as truncation', (_, fieldType, fieldBytes) => {
      const schema = { type: 'record', name: 'Row', fields: [{ name: 'field', type: fieldType }] };

      expect(() => avro(schema).decode(base64(fieldBytes))).toThrow(
        `Avro value (record Row) is truncated: its ${fieldBytes.length} bytes end before the value does.`,
      );
    });

    it('an empty value for a record', () => {
      expect(() => avro(BID_SCHEMA).decode('')).toThrow(FormatDecodeError);
    });

    it('trailing bytes after a complete value', () => {
      const padded = Buffer.concat([valid, Buffer.from([0, 0])]);

      expect(() => avro(BID_SCHEMA).decode(base64(padded))).toThrow(
        `Avro value (record nexmark.Bid) has 2 trailing bytes: the value ends after ${valid.length} of ${padded.length} bytes.`,
      );
    });

    it('a union branch the schema does not have', () => {
      // Branch index 5 (zigzag 10) of ["null", "string"].
      const bytes = Buffer.from([10]);

      expect(() => avro(['null', 'string']).decode(base64(bytes))).toThrow(
        'Avro value (union) is not valid: invalid union index: 5.',
      );
    });
  });
});
