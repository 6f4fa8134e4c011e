import { describe, expect, it } from 'vitest';
import { avro } from './avro.ts';
import { buildAvroType } from './avro-type.ts';
import { encodePlain } from './test-encodings.ts';

const UUID = '0f8fad5b-d9cb-469f-a165-70867728950e';

describe('Avro uuid', () => {
  it('decodes a uuid string as the string', () => {
    const schema = { type: 'string', logicalType: 'uuid' };

    expect(avro(schema).decode(encodePlain('string', UUID).toString('base64'))).toBe(UUID);
  });

  it('decodes a uuid fixed(16) as the same lowercase text', () => {
    const schema = { type: 'fixed', name: 'Id', size: 16, logicalType: 'uuid' };
    const bytes = Buffer.from(UUID.replaceAll('-', ''), 'hex');

    expect(avro(schema).decode(bytes.toString('base64'))).toBe(UUID);
    expect(buildAvroType(schema, undefined, 'test').toBuffer(UUID.toUpperCase())).toEqual(bytes);
  });
});
