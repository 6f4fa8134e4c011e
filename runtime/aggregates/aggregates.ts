import type { AggregateFunction } from './aggregate-function.ts';

/** Reads the number a numeric aggregate works on. */
export type NumberSelector<T> = (element: T) => number;

/** The number of records in the window. */
export function count<T = unknown>(): AggregateFunction<T, number, number> {
  return {
    createAccumulator: () => 0,
    add: (_value, accumulator) => accumulator + 1,
    getResult: (accumulator) => accumulator,
    merge: (a, b) => a + b,
  };
}

/** The sum of a numeric field. */
export function sum<T>(selector: NumberSelector<T>): AggregateFunction<T, number, number> {
  return {
    createAccumulator: () => 0,
    add: (value, accumulator) => accumulator + selector(value),
    getResult: (accumulator) => accumulator,
    merge: (a, b) => a + b,
  };
}

/** The smallest value of a numeric field. The accumulator is null until the first record. */
export function min<T>(selector: NumberSelector<T>): AggregateFunction<T, number | null, number> {
  return extremum(selector, Math.min);
}

/** The largest value of a numeric field. The accumulator is null until the first record. */
export function max<T>(selector: NumberSelector<T>): AggregateFunction<T, number | null, number> {
  return extremum(selector, Math.max);
}

function extremum<T>(
  selector: NumberSelector<T>,
  pick: (a: number, b: number) => number,
): AggregateFunction<T, number | null, number> {
  // null, not ±Infinity, marks "no value yet": accumulators are checkpointed as JSON, which has no Infinity.
  return {
    createAccumulator: () => null,
    add: (value, accumulator) =>
      accumulator === null ? selector(value) : pick(accumulator, selector(value)),
    getResult: (accumulator) => accumulator ?? Number.NaN,
    merge: (a, b) => (a === null ? b : b === null ? a : pick(a, b)),
  };
}

export interface AverageAccumulator {
  sum: number;
  count: number;
}

/** The arithmetic mean of a numeric field. */
export function avg<T>(selector: NumberSelector<T>): AggregateFunction<T, AverageAccumulator, number> {
  return {
    createAccumulator: () => ({ sum: 0, count: 0 }),
    add: (value, accumulator) => {
      accumulator.sum += selector(value);
      accumulator.count += 1;
      return accumulator;
    },
    getResult: (accumulator) => accumulator.sum / accumulator.count,
    merge: (a, b) => {
      a.sum += b.sum;
      a.count += b.count;
      return a;
    },
  };
}
