import { describe, expect, it } from 'vitest';
import { bytes } from './bytes.ts';

describe('bytes()', () => {
  it.each([
    ['no bytes', []],
    ['one zero byte', [0]],
    ['arbitrary binary', [0x00, 0xff, 0x7b, 0x80, 0x01]],
  ])('passes %s through unchanged', (_, values) => {
    const raw = Buffer.from(values);

    const decoded = bytes().decode(raw.toString('base64'));

    expect(decoded).toBeInstanceOf(Uint8Array);
    expect([...decoded]).toEqual(values);
  });

  it('describes itself as Bytes, with type bytes', () => {
    expect(String(bytes())).toBe('Bytes');
    expect(bytes().type).toBe('bytes');
  });
});
