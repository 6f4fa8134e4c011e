import { describe, expect, it } from 'vitest';
import { avro } from './avro.ts';
import { buildAvroType } from './avro-type.ts';
import { encodePlain } from './test-encodings.ts';

const DATE = { type: 'int', logicalType: 'date' };
const encodeDays = (days: number) => encodePlain('int', days);

describe('Avro date', () => {
  it.each([
    [0, '1970-01-01'],
    [18690, '2021-03-04'],
    [-1, '1969-12-31'],
    [-25567, '1900-01-01'],
  ])('decodes day %d as the epoch ms of %s at UTC midnight', (days, isoDate) => {
    const ms = avro<number>(DATE).decode(encodeDays(days).toString('base64'));

    expect(ms).toBe(Date.parse(`${isoDate}T00:00:00Z`));
  });

  it('writes a UTC midnight back as its day, and refuses any other instant', () => {
    const type = buildAvroType(DATE, undefined, 'test');

    expect(type.toBuffer(Date.parse('1969-12-31T00:00:00Z'))).toEqual(encodeDays(-1));
    expect(type.isValid(Date.parse('1969-12-31T00:00:00.001Z'))).toBe(false);
  });
});
