import { describe, expect, it } from 'vitest';
import { avro } from './avro.ts';
import { buildAvroType } from './avro-type.ts';
import { int96Bytes } from './test-encodings.ts';

const MARCH_4_BYTES = int96Bytes(18_367_123_000_000n, 2459278);
const MARCH_4 = Date.parse('2021-03-04T05:06:07.123Z');

const record = (fieldType: unknown) => ({
  type: 'record',
  name: 'Row',
  fields: [{ name: 'ts', type: fieldType }],
});

describe('INT96 fixed(12) fields in Avro', () => {
  it.each([
    ['logicalType "int96" on any fixed(12)', { type: 'fixed', name: 'Ts', size: 12, logicalType: 'int96' }],
    ['a fixed(12) named INT96', { type: 'fixed', name: 'INT96', size: 12 }],
    ['a fixed(12) named int96', { type: 'fixed', name: 'int96', size: 12 }],
    [
      'a fixed(12) named Int96 in a namespace',
      { type: 'fixed', name: 'Int96', namespace: 'org.apache.parquet', size: 12 },
    ],
    ['a fixed(12) with the full name parquet.INT96', { type: 'fixed', name: 'parquet.INT96', size: 12 }],
  ])('decode to epoch ms when marked by %s', (_, fixed) => {
    expect(avro(record(fixed)).decode(MARCH_4_BYTES.toString('base64'))).toEqual({ ts: MARCH_4 });
  });

  it('decode to epoch ms where the named type is referenced again', () => {
    const schema = {
      type: 'record',
      name: 'Row',
      fields: [
        { name: 'created', type: { type: 'fixed', name: 'INT96', size: 12 } },
        { name: 'updated', type: ['null', 'INT96'] },
      ],
    };
    const bytes = Buffer.concat([
      int96Bytes(0n, 2440588),
      Buffer.from([2]),
      int96Bytes(86_399_999_000_000n, 2440587),
    ]);

    expect(avro(schema).decode(bytes.toString('base64'))).toEqual({ created: 0, updated: -1 });
  });

  it.each([
    ['a fixed(12) with another name', { type: 'fixed', name: 'Checksum', size: 12 }],
    ['a fixed(16) named INT96', { type: 'fixed', name: 'INT96', size: 16 }],
    ['a fixed named MyInt96', { type: 'fixed', name: 'MyInt96', size: 12 }],
  ])('leave %s as bytes', (_, fixed) => {
    const raw = Buffer.alloc(fixed.size, 1);

    expect(avro(record(fixed)).decode(raw.toString('base64'))).toEqual({ ts: raw });
  });

  it('write epoch ms back as INT96 bytes', () => {
    const type = buildAvroType(record({ type: 'fixed', name: 'INT96', size: 12 }), undefined, 'test');

    expect(type.toBuffer({ ts: MARCH_4 })).toEqual(MARCH_4_BYTES);
  });
});
