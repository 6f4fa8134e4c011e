import { FloeConfigError } from '../errors.ts';
import { requireDuration } from '../time/duration.ts';
import { windowStart } from './time-window.ts';
import { requireOffset } from './tumbling.ts';
import type { FixedWindowAssigner } from './window-assigner.ts';

/**
 * Sliding windows: windows of `size` starting every `slide`, so a record belongs to about
 * size / slide windows. State and work grow with that ratio.
 */
export class SlidingEventTimeWindows implements FixedWindowAssigner {
  readonly merging = false;
  readonly maxWindowsPerRecord: number;

  private constructor(
    readonly sizeMs: number,
    readonly slideMs: number,
    readonly offsetMs: number,
  ) {
    this.maxWindowsPerRecord = Math.ceil(sizeMs / slideMs);
  }

  /** @param offsetMs must satisfy |offset| < slide. @default offsetMs 0 */
  static of(sizeMs: number, slideMs: number, offsetMs = 0): SlidingEventTimeWindows {
    requireDuration('SlidingEventTimeWindows size', sizeMs);
    requireDuration('SlidingEventTimeWindows slide', slideMs);
    if (slideMs > sizeMs) {
      throw new FloeConfigError(
        `SlidingEventTimeWindows slide (${slideMs}) must not exceed size (${sizeMs}); records between windows would belong to none. Use TumblingEventTimeWindows for slide = size.`,
      );
    }
    requireOffset('SlidingEventTimeWindows', offsetMs, slideMs, 'slide');
    return new SlidingEventTimeWindows(sizeMs, slideMs, offsetMs);
  }

  assignWindowEnds(timestamp: number, ends: number[]): number {
    const lastStart = windowStart(timestamp, this.offsetMs, this.slideMs);
    let count = 0;
    for (let start = lastStart; start > timestamp - this.sizeMs; start -= this.slideMs) {
      ends[count++] = start + this.sizeMs;
    }
    return count;
  }

  windowStart(end: number): number {
    return end - this.sizeMs;
  }

  toString(): string {
    const offset = this.offsetMs ? `, offset ${this.offsetMs}` : '';
    return `SlidingEventTimeWindows(${this.sizeMs}, ${this.slideMs}${offset})`;
  }
}
