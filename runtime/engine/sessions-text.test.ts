/**
 * A key's sessions are stringified as one list when that list is plain JSON, and per session
 * otherwise (state-codec.ts, `sessionsText`). Both must give the codec's original text: the whole
 * encoded partition through JSON.stringify with the tagging replacer. These are the values where
 * the two paths could part: non-finite or -0 bounds, accumulators JSON cannot hold as they are,
 * toJSON, and lists that mix plain and tagged sessions.
 */
import { describe, expect, it } from 'vitest';
import { referenceEncoding } from '../../test/support/reference-state-encoding.ts';
import { newPartitionState, type SessionPartial } from './state.ts';
import { decodePartition, encodePartition, sessionsText, stringifyTagged } from './state-codec.ts';

/** A text per session, as the fallback writes it. */
function perSession(list: readonly SessionPartial[]): string {
  return `[${list.map((s) => `[${stringifyTagged(s.start)},${stringifyTagged(s.end)},${stringifyTagged(s.acc)}]`).join(',')}]`;
}

const session = (acc: unknown, start = 0, end = 1): SessionPartial => ({ start, end, acc });
// biome-ignore lint/suspicious/noSparseArray: an array with a hole is what this case is about
const holes = [1, , 3];
const cases: Record<string, SessionPartial[]> = {
  'no sessions': [],
  'plain accumulators': [session({ bids: 3, top: ['a', true] }), session(7, 2, 3)],
  'start at -Infinity': [session(1, Number.NEGATIVE_INFINITY, 10)],
  'end at +Infinity': [session(1, 0, Number.POSITIVE_INFINITY)],
  'start NaN': [session(1, Number.NaN, 10)],
  '-0 bounds and accumulator': [session(-0, -0, -0)],
  'accumulator undefined': [session(undefined)],
  'accumulator a function, then a symbol': [session(() => 1), session(Symbol('s'), 2, 3)],
  'a property undefined': [session({ a: undefined, b: 2 })],
  'an array with a hole': [session(holes)],
  'a nested bigint': [session({ a: { b: [1n, { c: 2n ** 70n }] } })],
  'a bigint between plain sessions': [session({ n: 1 }), session(5n, 2, 3), session('x', 4, 5)],
  'toJSON giving plain JSON': [session({ toJSON: () => ({ v: 1 }) })],
  'toJSON giving Infinity': [session({ toJSON: () => Number.POSITIVE_INFINITY })],
  'toJSON giving a bigint': [session({ toJSON: () => 7n })],
  'toJSON giving undefined': [session({ toJSON: () => undefined })],
  'a Date': [session(new Date(0))],
  'an invalid Date': [session(new Date(Number.NaN))],
  'a boxed Infinity': [session(Object(Number.POSITIVE_INFINITY))],
  'text and keys that say null': [session({ label: 'nullable', null: 1 })],
  'huge and tiny numbers': [session([-1e300, 0.1 + 0.2], 1e21, 5e-324)],
  'a lone surrogate and escapes': [session('\ud800 "q" \\ \u2028')],
  'a Map and a Set': [session({ m: new Map([[1, 2]]), s: new Set([1]) })],
  'a null accumulator among plain ones': [session(1), session(null, 2, 3)],
};

describe("a key's sessions as text", () => {
  for (const [name, list] of Object.entries(cases)) {
    it(`${name}: the codec's original text, and decodable`, () => {
      const p = newPartitionState('bids', 0);
      p.sessions.set('k', list);
      p.sessions.set(2n, [session(2)]);
      expect(sessionsText(list)).toBe(perSession(list));
      expect(encodePartition(p)).toBe(referenceEncoding(p));
      expect(() => decodePartition(encodePartition(p))).not.toThrow();
    });
  }

  it('a circular accumulator throws its own error, not a swallowed one', () => {
    const acc: Record<string, unknown> = {};
    acc.self = acc;
    expect(() => sessionsText([session(acc)])).toThrow(/circular/i);
  });
});
