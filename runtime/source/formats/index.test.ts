import { describe, expect, it } from 'vitest';
import { avro, bytes, confluentAvro, json, text, type ValueFormat } from './index.ts';

/** What a caller switching on the format's type sees; the union narrows each case. */
function describeFormat(format: ValueFormat): string {
  switch (format.type) {
    case 'json':
    case 'string':
    case 'bytes':
    case 'avro':
      return `${format.type}: ${format}`;
    case 'confluent-avro':
      return `${format.type}: ids ${format.schemaIds.join(',')}`;
  }
}

describe('the formats barrel', () => {
  it.each<[ValueFormat, string]>([
    [json(), 'json: Json'],
    [text(), 'string: Text'],
    [bytes(), 'bytes: Bytes'],
    [avro('string'), 'avro: Avro(string)'],
    [confluentAvro({ schemas: { 2: 'string', 1: 'int' } }), 'confluent-avro: ids 1,2'],
  ])('exports a factory whose format is keyed on type: %s', (format, expected) => {
    expect(describeFormat(format)).toBe(expected);
  });
});
