import { requireDuration } from '../time/duration.ts';
import type { MergingWindowAssigner } from './window-assigner.ts';

/** Computes a session gap in ms from a record, e.g. a per-user inactivity timeout. */
export type SessionGapExtractor<T> = (element: T) => number;

/**
 * Session windows: a key's records within `gap` of each other form one session. Each record
 * opens [ts, ts + gap); windows that overlap or touch merge into their cover. A session fires
 * when the watermark passes its last record plus the gap, so the gap is also its latency.
 */
export class EventTimeSessionWindows<T> implements MergingWindowAssigner<T> {
  readonly merging = true;

  private constructor(
    private readonly staticGapMs: number | undefined,
    private readonly gapExtractor: SessionGapExtractor<T> | undefined,
  ) {}

  static withGap<T = unknown>(gapMs: number): EventTimeSessionWindows<T> {
    return new EventTimeSessionWindows<T>(requireDuration('EventTimeSessionWindows gap', gapMs), undefined);
  }

  /** The gap comes from each record; a gap <= 0 makes that record a dead letter. */
  static withDynamicGap<T>(extractor: SessionGapExtractor<T>): EventTimeSessionWindows<T> {
    return new EventTimeSessionWindows<T>(undefined, extractor);
  }

  sessionGap(element: T): number {
    return this.staticGapMs ?? this.gapExtractor!(element);
  }

  toString(): string {
    return this.staticGapMs === undefined
      ? 'EventTimeSessionWindows(dynamic gap)'
      : `EventTimeSessionWindows(${this.staticGapMs})`;
  }
}
