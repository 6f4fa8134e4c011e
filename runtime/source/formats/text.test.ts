import { describe, expect, it } from 'vitest';
import { text } from './text.ts';

describe('text()', () => {
  it.each([
    ['ASCII', 'hello'],
    ['multi-byte UTF-8', 'Zürich – 東京 🚀'],
    ['an empty value', ''],
  ])('decodes %s as the same string', (_, value) => {
    expect(text().decode(Buffer.from(value, 'utf8').toString('base64'))).toBe(value);
  });

  it.each(['hello', 'Zürich – 東京 🚀', ''])(
    'decodes %j given as text (the line of a local run) as itself',
    (value) => {
      expect(text().decodeText!(value)).toBe(text().decode(Buffer.from(value, 'utf8').toString('base64')));
    },
  );

  it('replaces invalid UTF-8 with U+FFFD instead of failing the record', () => {
    expect(text().decode(Buffer.from([0x61, 0xff, 0x62]).toString('base64'))).toBe('a\uFFFDb');
  });

  it('describes itself as Text, with type string', () => {
    expect(String(text())).toBe('Text');
    expect(text().type).toBe('string');
  });
});
