import { describe, expect, it } from 'vitest';
import { parseJson, stringifyJson } from './json-bigint.ts';

describe('parseJson', () => {
  it('keeps 64-bit snapshot ids exact, as bigint', () => {
    const parsed = parseJson('{"snapshot-id": 9223372036854775807, "min": -9223372036854775808}') as Record<
      string,
      unknown
    >;

    expect(parsed['snapshot-id']).toBe(9223372036854775807n);
    expect(parsed.min).toBe(-9223372036854775808n);
  });

  it.each([
    ['9007199254740991', 9007199254740991],
    ['-9007199254740991', -9007199254740991],
    ['9007199254740992', 9007199254740992n],
    ['1.5', 1.5],
    ['1e300', 1e300],
    ['0', 0],
  ])('parses %s as %s', (text, expected) => {
    expect(parseJson(text)).toBe(expected);
  });

  it('parses the rest of JSON like JSON.parse', () => {
    const text = '{"a":[1,"x\\n\\u00e9",true,false,null,{}],"b":{"c":[]}, "__proto__": 1}';

    expect(parseJson(text)).toEqual(JSON.parse(text));
    expect(Object.getPrototypeOf(parseJson(text))).toBe(Object.prototype);
  });

  it.each(['{', '[1,]', '{"a" 1}', '01', 'nul', '"\u0001"', '1 2', ''])(
    'rejects %j with the offset',
    (text) => {
      expect(() => parseJson(text)).toThrow(/Invalid JSON at offset \d+/);
    },
  );
});

describe('stringifyJson', () => {
  it('writes bigints as bare digits and round-trips through parseJson', () => {
    const value = { id: 2n ** 63n - 1n, small: 5, list: [1n, 'x', null, true], skipped: undefined };

    const text = stringifyJson(value);

    expect(text).toBe('{"id":9223372036854775807,"small":5,"list":[1,"x",null,true]}');
    expect(parseJson(text)).toEqual({ id: 2n ** 63n - 1n, small: 5, list: [1, 'x', null, true] });
  });

  it('refuses values JSON cannot hold', () => {
    expect(() => stringifyJson({ x: Number.NaN })).toThrow(TypeError);
    expect(() => stringifyJson({ f: () => 1 })).toThrow(TypeError);
  });
});
