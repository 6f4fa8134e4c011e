/**
 * An AggregateFunction folds a window's records into an accumulator, incrementally, so a window
 * holds one small value instead of its records. `merge` combines accumulators of the same key
 * and window built on different partitions or in sessions that merged; it is required.
 *
 * Accumulators are stored as engine state and checkpointed, so they must be plain JSON-like
 * data (numbers, strings, booleans, null, arrays and plain objects; bigint is allowed).
 */
export interface AggregateFunction<IN, ACC, OUT> {
  createAccumulator(): ACC;
  /** Adds one record. May modify `accumulator` and return it. */
  add(value: IN, accumulator: ACC): ACC;
  getResult(accumulator: ACC): OUT;
  /** Combines two accumulators. May modify and return `a`; must not modify `b`. */
  merge(a: ACC, b: ACC): ACC;
}

/** Combines two records of a window into one, as in Flink's ReduceFunction. Must not modify its inputs. */
export type ReduceFunction<T> = (a: T, b: T) => T;

/** An AggregateFunction for a ReduceFunction: the accumulator is the reduced record. */
export function reducing<T>(reduce: ReduceFunction<T>): AggregateFunction<T, T | null, T> {
  return {
    createAccumulator: () => null,
    add: (value, accumulator) => (accumulator === null ? value : reduce(accumulator, value)),
    getResult: (accumulator) => accumulator as T,
    merge: (a, b) => (a === null ? b : b === null ? a : reduce(a, b)),
  };
}

/** Keeps every record of the window, for process-window functions that need them all. */
export function collecting<T>(): AggregateFunction<T, T[], readonly T[]> {
  return {
    createAccumulator: () => [],
    add: (value, accumulator) => {
      accumulator.push(value);
      return accumulator;
    },
    getResult: (accumulator) => accumulator,
    merge: (a, b) => {
      // A loop, not push(...b): spreading a large window would overflow the call stack.
      for (const value of b) a.push(value);
      return a;
    },
  };
}
