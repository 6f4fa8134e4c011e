import type { TimeWindow } from './time-window.ts';

/**
 * A WindowAssigner decides which windows a record belongs to.
 *
 * Fixed assigners (tumbling, sliding, cumulative) give windows that depend only on the
 * timestamp, so a window is identified by its end and its start is derived from it. Merging
 * assigners (sessions) give each record its own window and merge windows of a key that touch.
 */
export type WindowAssigner<T> = FixedWindowAssigner | MergingWindowAssigner<T>;

export interface FixedWindowAssigner {
  readonly merging: false;
  /**
   * Writes the ends of every window that contains `timestamp` into `ends`, latest first, and
   * returns how many it wrote. Reusing one array keeps the per-record path free of allocation.
   */
  assignWindowEnds(timestamp: number, ends: number[]): number;
  /** The start of the window that ends at `end`; each end names exactly one window. */
  windowStart(end: number): number;
  /** The largest number of windows one record can belong to. */
  readonly maxWindowsPerRecord: number;
  toString(): string;
}

export interface MergingWindowAssigner<T> {
  readonly merging: true;
  /**
   * The session gap for one record, in ms. A record belongs to [ts, ts + gap). A gap <= 0 or
   * a non-integer makes that record a dead letter.
   */
  sessionGap(element: T, timestamp: number): number;
  toString(): string;
}

export function windowOf(assigner: FixedWindowAssigner, end: number): TimeWindow {
  return { start: assigner.windowStart(end), end };
}
