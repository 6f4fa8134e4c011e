import { FloeConfigError } from '../errors.ts';
import { requireDuration } from '../time/duration.ts';
import { windowStart } from './time-window.ts';
import type { FixedWindowAssigner } from './window-assigner.ts';

/**
 * Tumbling windows: consecutive, non-overlapping windows of one size, each record in exactly one.
 * An offset shifts the grid, e.g. to align daily windows to a time zone.
 */
export class TumblingEventTimeWindows implements FixedWindowAssigner {
  readonly merging = false;
  readonly maxWindowsPerRecord = 1;

  private constructor(
    readonly sizeMs: number,
    readonly offsetMs: number,
  ) {}

  /** @param offsetMs must satisfy |offset| < size. @default offsetMs 0 */
  static of(sizeMs: number, offsetMs = 0): TumblingEventTimeWindows {
    requireDuration('TumblingEventTimeWindows size', sizeMs);
    requireOffset('TumblingEventTimeWindows', offsetMs, sizeMs, 'size');
    return new TumblingEventTimeWindows(sizeMs, offsetMs);
  }

  assignWindowEnds(timestamp: number, ends: number[]): number {
    ends[0] = windowStart(timestamp, this.offsetMs, this.sizeMs) + this.sizeMs;
    return 1;
  }

  windowStart(end: number): number {
    return end - this.sizeMs;
  }

  toString(): string {
    return `TumblingEventTimeWindows(${this.sizeMs}${this.offsetMs ? `, offset ${this.offsetMs}` : ''})`;
  }
}

export function requireOffset(assigner: string, offset: number, period: number, periodName: string): void {
  if (!Number.isSafeInteger(offset) || Math.abs(offset) >= period) {
    throw new FloeConfigError(
      `${assigner} offset must be a whole number of ms with |offset| < ${periodName} (${period}), got ${offset}.`,
    );
  }
}
