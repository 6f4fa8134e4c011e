/** A window of event time [start, end): start inclusive, end exclusive. */
export interface TimeWindow {
  readonly start: number;
  readonly end: number;
}

/** The last millisecond that belongs to the window. A window fires when the watermark reaches it. */
export function maxTimestamp(window: TimeWindow): number {
  return window.end - 1;
}

/**
 * The start of the window of `size` (shifted by `offset`) that contains `timestamp`.
 *
 * JavaScript's `%` keeps the dividend's sign, so a negative remainder is moved up by one size.
 * The older formula `ts - (ts - offset + size) % size` is wrong for negative timestamps
 * (FLINK-26334, SPARK-39347).
 */
export function windowStart(timestamp: number, offset: number, size: number): number {
  const remainder = (timestamp - offset) % size;
  return remainder < 0 ? timestamp - (remainder + size) : timestamp - remainder;
}
