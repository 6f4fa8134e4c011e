import { describe, expect, it } from 'vitest';
import { json } from './json.ts';

const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

interface Bid {
  auction: number;
  price: number;
  channel: string;
}

describe('json()', () => {
  it('decodes a UTF-8 JSON object to the type the job names', () => {
    const format = json<Bid>();

    const bid = format.decode(base64('{"auction":1001,"price":42.5,"channel":"Google 🚀"}'));

    expect(bid).toEqual({ auction: 1001, price: 42.5, channel: 'Google 🚀' });
  });

  it.each([
    ['a number', '7', 7],
    ['a string', '"x"', 'x'],
    ['null (a value, not a tombstone)', 'null', null],
    ['an array', '[1,2]', [1, 2]],
  ])('decodes %s', (_, text, expected) => {
    expect(json().decode(base64(text))).toEqual(expected);
  });

  it.each([
    ['truncated JSON', '{"auction":1'],
    ['plain text', 'hello'],
    ['an empty value', ''],
  ])('throws a SyntaxError naming the problem for %s', (_, text) => {
    expect(() => json().decode(base64(text))).toThrow(SyntaxError);
  });

  it.each([
    ['an object', '{"auction":1001,"channel":"Google 🚀"}'],
    ['a number', '7'],
    ['truncated JSON', '{"auction":1'],
    ['an empty value', ''],
  ])('decodes %s given as text (the line of a local run) exactly as its base64', (_, text) => {
    const format = json();
    const outcome = (decode: () => unknown) => {
      try {
        return { value: decode() };
      } catch (error) {
        return { error: String(error) };
      }
    };
    expect(outcome(() => format.decodeText!(text))).toEqual(outcome(() => format.decode(base64(text))));
  });

  it('describes itself as Json, with type json', () => {
    const format = json();

    expect(String(format)).toBe('Json');
    expect(format.type).toBe('json');
  });
});
