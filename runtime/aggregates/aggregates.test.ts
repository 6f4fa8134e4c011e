import { describe, expect, it } from 'vitest';
import { random, randomInt } from '../../test/support/engine-harness.ts';
import type { AggregateFunction } from './aggregate-function.ts';
import { avg, count, max, min, sum } from './aggregates.ts';

interface Sale {
  readonly price: number;
}

function fold<IN, ACC, OUT>(fn: AggregateFunction<IN, ACC, OUT>, values: readonly IN[]): ACC {
  let acc = fn.createAccumulator();
  for (const value of values) acc = fn.add(value, acc);
  return acc;
}

/** Splits values into random chunks, folds each (through a JSON checkpoint) and merges them. */
function foldInChunks<IN, ACC, OUT>(
  fn: AggregateFunction<IN, ACC, OUT>,
  values: readonly IN[],
  rnd: () => number,
): OUT {
  let merged = fn.createAccumulator();
  let i = 0;
  while (i < values.length) {
    const n = randomInt(rnd, 0, values.length - i);
    const acc = JSON.parse(JSON.stringify(fold(fn, values.slice(i, i + n)))) as ACC;
    merged = fn.merge(merged, acc);
    i += n;
  }
  return fn.getResult(merged);
}

const prices = [5, -2, 12, 0, 7].map((price) => ({ price }));
const byPrice = (s: Sale) => s.price;

describe('built-in aggregates', () => {
  it.each([
    ['count', count<Sale>(), 5],
    ['sum', sum(byPrice), 22],
    ['min', min(byPrice), -2],
    ['max', max(byPrice), 12],
    ['avg', avg(byPrice), 4.4],
  ] as [string, AggregateFunction<Sale, unknown, number>, number][])(
    '%s folds a window',
    (_name, fn, expected) => {
      expect(fn.getResult(fold(fn, prices))).toBe(expected);
    },
  );

  it.each([
    ['count', count<Sale>()],
    ['sum', sum(byPrice)],
    ['min', min(byPrice)],
    ['max', max(byPrice)],
    ['avg', avg(byPrice)],
  ] as [string, AggregateFunction<Sale, unknown, number>][])(
    '%s gives the same result when partial accumulators from several partitions are merged',
    (_name, fn) => {
      const rnd = random(4);
      for (let run = 0; run < 200; run++) {
        const values = Array.from({ length: randomInt(rnd, 1, 30) }, () => ({
          price: randomInt(rnd, -100, 100),
        }));
        expect(foldInChunks(fn, values, rnd)).toBeCloseTo(fn.getResult(fold(fn, values)), 9);
      }
    },
  );

  it('merges without modifying the second accumulator', () => {
    const fn = avg(byPrice);
    const b = fold(fn, prices);
    const copy = structuredClone(b);
    fn.merge(fold(fn, [{ price: 1 }]), b);
    expect(b).toEqual(copy);
  });

  it('keeps min and max accumulators JSON-safe before the first record (null, not Infinity)', () => {
    expect(JSON.stringify(min(byPrice).createAccumulator())).toBe('null');
    expect(JSON.stringify(max(byPrice).createAccumulator())).toBe('null');
    expect(min(byPrice).merge(null, 3)).toBe(3);
    expect(max(byPrice).merge(3, null)).toBe(3);
  });
});
