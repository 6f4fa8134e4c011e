import { describe, expect, it } from 'vitest';
import { collecting, reducing } from './aggregate-function.ts';

describe('reducing', () => {
  const larger = reducing<number>((a, b) => Math.max(a, b));

  it('turns a ReduceFunction into an aggregate whose result is the reduced record', () => {
    let acc = larger.createAccumulator();
    for (const n of [3, 9, 4]) acc = larger.add(n, acc);
    expect(larger.getResult(acc)).toBe(9);
  });

  it('merges partial results, an empty side included', () => {
    expect(larger.merge(null, 4)).toBe(4);
    expect(larger.merge(4, null)).toBe(4);
    expect(larger.merge(4, 7)).toBe(7);
  });
});

describe('collecting', () => {
  it('keeps every record for a process-window function, in arrival order', () => {
    const all = collecting<string>();
    let acc = all.createAccumulator();
    for (const s of ['a', 'b']) acc = all.add(s, acc);
    expect(all.getResult(acc)).toEqual(['a', 'b']);
  });

  it('merges partial lists without modifying the second one', () => {
    const all = collecting<number>();
    const b = [3, 4];
    expect(all.merge([1, 2], b)).toEqual([1, 2, 3, 4]);
    expect(b).toEqual([3, 4]);
  });

  it('merges a very large partial list without overflowing the stack', () => {
    const all = collecting<number>();
    const big = Array.from({ length: 500_000 }, (_, i) => i);
    expect(all.merge([], big)).toHaveLength(500_000);
  });
});
