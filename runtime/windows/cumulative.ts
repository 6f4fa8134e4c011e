import { FloeConfigError } from '../errors.ts';
import { requireDuration } from '../time/duration.ts';
import { windowStart } from './time-window.ts';
import { requireOffset } from './tumbling.ts';
import type { FixedWindowAssigner } from './window-assigner.ts';

/**
 * Cumulative windows (Flink SQL CUMULATE): within each tumbling window of `maxSize`, windows
 * that share its start and grow by `step`, e.g. revenue so far today, updated every 10 minutes.
 * A record belongs to every window [S, S + k * step) that ends after it.
 */
export class CumulativeEventTimeWindows implements FixedWindowAssigner {
  readonly merging = false;
  readonly maxWindowsPerRecord: number;

  private constructor(
    readonly stepMs: number,
    readonly maxSizeMs: number,
    readonly offsetMs: number,
  ) {
    this.maxWindowsPerRecord = maxSizeMs / stepMs;
  }

  /** @param maxSizeMs a multiple of stepMs. @param offsetMs |offset| < maxSize. @default offsetMs 0 */
  static of(stepMs: number, maxSizeMs: number, offsetMs = 0): CumulativeEventTimeWindows {
    requireDuration('CumulativeEventTimeWindows step', stepMs);
    requireDuration('CumulativeEventTimeWindows maxSize', maxSizeMs);
    if (maxSizeMs % stepMs !== 0) {
      throw new FloeConfigError(
        `CumulativeEventTimeWindows maxSize (${maxSizeMs}) must be a multiple of step (${stepMs}).`,
      );
    }
    requireOffset('CumulativeEventTimeWindows', offsetMs, maxSizeMs, 'maxSize');
    return new CumulativeEventTimeWindows(stepMs, maxSizeMs, offsetMs);
  }

  assignWindowEnds(timestamp: number, ends: number[]): number {
    const start = windowStart(timestamp, this.offsetMs, this.maxSizeMs);
    let count = 0;
    for (let end = start + this.maxSizeMs; end > timestamp; end -= this.stepMs) {
      ends[count++] = end;
    }
    return count;
  }

  windowStart(end: number): number {
    return windowStart(end - 1, this.offsetMs, this.maxSizeMs);
  }

  toString(): string {
    const offset = this.offsetMs ? `, offset ${this.offsetMs}` : '';
    return `CumulativeEventTimeWindows(${this.stepMs}, ${this.maxSizeMs}${offset})`;
  }
}
