import { describe, expect, it } from 'vitest';
import { FloeConfigError } from '../../errors.ts';
import { confluentAvro } from './confluent-avro.ts';
import { FormatDecodeError } from './format-decode-error.ts';
import { encodePlain } from './test-encodings.ts';

const BID_V1 = {
  type: 'record',
  name: 'Bid',
  namespace: 'nexmark',
  fields: [
    { name: 'auction', type: 'long' },
    { name: 'price', type: 'long' },
  ],
};
const BID_V7 = {
  ...BID_V1,
  fields: [...BID_V1.fields, { name: 'dateTime', type: { type: 'long', logicalType: 'timestamp-millis' } }],
};

/** The Confluent wire format by hand: magic byte 0, big-endian schema id, Avro binary. */
function frame(schemaId: number, avroBytes: Buffer, magicByte = 0): string {
  const header = Buffer.alloc(5);
  header.writeUInt8(magicByte, 0);
  header.writeUInt32BE(schemaId, 1);
  return Buffer.concat([header, avroBytes]).toString('base64');
}

describe('confluentAvro()', () => {
  const format = confluentAvro({ schemas: { 7: BID_V7, 1: BID_V1 } });

  it('decodes each record with the schema its id names', () => {
    const v1 = format.decode(frame(1, encodePlain(BID_V1, { auction: 1001, price: 42 })));
    const v7 = format.decode(frame(7, encodePlain(BID_V7, { auction: 1002, price: 43, dateTime: -5 })));

    expect(v1).toEqual({ auction: 1001, price: 42 });
    expect(v7).toEqual({ auction: 1002, price: 43, dateTime: -5 });
  });

  it('decodes a header-only value when the schema needs no bytes', () => {
    expect(confluentAvro({ schemas: { 3: 'null' } }).decode(frame(3, Buffer.alloc(0)))).toBeNull();
  });

  it('reads the schema id as a 4-byte big-endian integer', () => {
    const wide = confluentAvro({ schemas: { 16909060: 'string' } });

    expect(wide.decode(frame(0x01020304, encodePlain('string', 'x')))).toBe('x');
  });

  it('describes itself with its schema ids in ascending order', () => {
    expect(String(format)).toBe('ConfluentAvro(schema ids 1, 7)');
    expect(format.schemaIds).toEqual([1, 7]);
    expect(format.type).toBe('confluent-avro');
  });

  describe('turns values that are not in the wire format into a FormatDecodeError', () => {
    it('an unknown schema id, naming it and the known ids', () => {
      const value = frame(9, encodePlain(BID_V1, { auction: 1, price: 2 }));

      expect(() => format.decode(value)).toThrow(FormatDecodeError);
      expect(() => format.decode(value)).toThrow(
        'Confluent Avro schema id 9 is not configured; known ids: 1, 7. Add its writer schema to confluentAvro({ schemas }).',
      );
    });

    it.each([
      [0, 'Confluent Avro value is 0 bytes;'],
      [1, 'Confluent Avro value is 1 byte;'],
      [4, 'Confluent Avro value is 4 bytes;'],
    ])('a value of %d bytes, too short for the header', (length, start) => {
      const value = Buffer.alloc(length).toString('base64');

      expect(() => format.decode(value)).toThrow(
        `${start} the wire format needs at least 5 (magic byte 0 and a 4-byte schema id before the Avro value).`,
      );
    });

    it('a wrong magic byte, naming the byte found', () => {
      const value = frame(1, encodePlain(BID_V1, { auction: 1, price: 2 }), 1);

      expect(() => format.decode(value)).toThrow(
        'Confluent Avro value starts with byte 1 (0x01), not the magic byte 0. Was it written by the Confluent Avro serializer?',
      );
    });

    it('a JSON value on an Avro topic, saying so', () => {
      const value = Buffer.from('{"auction":1}').toString('base64');

      expect(() => format.decode(value)).toThrow(
        'Confluent Avro value starts with byte 123 (0x7b), not the magic byte 0. The value looks like JSON; use json() for this topic.',
      );
    });

    it('a truncated Avro payload', () => {
      const avroBytes = encodePlain(BID_V7, { auction: 1002, price: 43, dateTime: 1614834367123 });
      const value = frame(7, avroBytes.subarray(0, avroBytes.length - 1));

      expect(() => format.decode(value)).toThrow(
        `Avro value (schema id 7, record nexmark.Bid) is truncated: its ${avroBytes.length - 1} bytes end before the value does.`,
      );
    });

    it('trailing bytes, as when a value is read with an older schema than it was written with', () => {
      const value = frame(1, encodePlain(BID_V7, { auction: 1002, price: 43, dateTime: 1614834367123 }));

      expect(() => format.decode(value)).toThrow(
        /^Avro value \(schema id 1, record nexmark\.Bid\) has 6 trailing bytes: the value ends after 3 of 9 bytes\.$/,
      );
    });
  });

  describe('rejects a bad configuration when the job is defined', () => {
    it.each([
      ['no schemas', {}],
      ['no options', undefined],
    ])('%s', (_, options) => {
      expect(() => confluentAvro(options as never)).toThrow(FloeConfigError);
      expect(() => confluentAvro(options as never)).toThrow(
        'confluentAvro(): schemas must map at least one Schema Registry id to its Avro schema',
      );
    });

    it.each(['abc', '-1', '1.5', '4294967296'])('a schema id of %s', (id) => {
      expect(() => confluentAvro({ schemas: { [id]: 'string' } })).toThrow(
        `confluentAvro(): schema id "${id}" must be an integer from 0 to 4294967295.`,
      );
    });

    it('a bad schema, naming its id', () => {
      expect(() => confluentAvro({ schemas: { 1: BID_V1, 7: { type: 'recrd' } } })).toThrow(
        'confluentAvro(): schema id 7: invalid Avro schema: unknown type: "recrd".',
      );
    });
  });
});
