import type { Key } from '../job/plan.ts';
import type { TimeWindow } from '../windows/time-window.ts';

/** One row a window firing produced. */
export interface EmittedRow<Row> {
  readonly row: Row;
  /** The window's key; undefined for windowAll. */
  readonly key: Key | undefined;
  readonly window: TimeWindow;
  /**
   * True for a late firing: the window fired before and this row carries its updated full
   * result. Sinks treat it as an update of the earlier row for the same key and window.
   */
  readonly update: boolean;
}

/** A record whose every window was already cleared when it arrived. Never dropped silently. */
export interface LateRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** The element's event time. */
  readonly timestamp: number;
  /** The watermark it was judged against (as the batch started). */
  readonly watermark: number;
  /** The element as it reached the window (after map, filter, flatMap). */
  readonly element: unknown;
}

/**
 * Where in the pipeline a record failed; `oversized`: the record is over Lambda's 6 MB event
 * limit, so it was never decoded (and its value is not kept).
 */
export type DeadLetterStage = 'tombstone' | 'oversized' | 'decode' | 'timestamp' | 'transform' | 'window';

/** A record that could not be processed, with everything needed to find and replay it. */
export interface RecordDeadLetter {
  readonly kind: 'record';
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** The Kafka record timestamp. */
  readonly timestamp: number;
  readonly stage: DeadLetterStage;
  readonly reason: string;
  /** The raw key and value bytes, base64 as delivered; null when absent. */
  readonly key: string | null;
  readonly value: string | null;
}

/** A window whose window function threw; its rows are lost from the table but kept here. */
export interface WindowDeadLetter {
  readonly kind: 'window';
  readonly key: Key | undefined;
  readonly window: TimeWindow;
  readonly reason: string;
}

export type DeadLetter = RecordDeadLetter | WindowDeadLetter;

export interface PartitionProgress {
  readonly id: string;
  readonly offset: number;
  readonly watermark: number;
  readonly idle: boolean;
}

export interface BatchMetrics {
  /** Records in the batch. */
  readonly records: number;
  /** Records at or below the committed offset, skipped as redeliveries. */
  readonly redelivered: number;
  readonly tombstones: number;
  /** Elements dropped by dedupeBy. */
  readonly deduplicated: number;
  readonly late: number;
  readonly deadLetters: number;
  readonly rows: number;
  /** The job watermark after the batch. */
  readonly watermark: number;
}

export interface BatchResult<Row> {
  readonly rows: EmittedRow<Row>[];
  readonly late: LateRecord[];
  readonly deadLetters: DeadLetter[];
  readonly metrics: BatchMetrics;
  readonly partitions: PartitionProgress[];
}
