import { describeError } from '../errors.ts';
import type { JobPlan, Key } from '../job/plan.ts';
import type { KafkaEventRecord } from '../source/kafka-event.ts';
import type { TimeWindow } from '../windows/time-window.ts';
import type { DeadLetter, EmittedRow, LateRecord } from './batch-result.ts';
import type { EngineState, PartitionState } from './state.ts';

/**
 * The record being processed and where it stands, written by the engine's batch loop and read
 * by the window operator. One mutable object per engine, so the per-record path allocates nothing.
 */
export interface RecordCursor {
  state: EngineState;
  /** The partition of the current record. */
  p: PartitionState;
  record: KafkaEventRecord;
  /** The current record's event time. */
  timestamp: number;
  /** The watermark the batch's records are judged against: the partition's or the job's, at batch start. */
  watermarkAtStart: number;
}

/**
 * What a window operator does: keep a key's windows as mergeable per-partition partials, and fire
 * them when the watermark passes. Fixed windows (tumbling, sliding, cumulative) and sessions are
 * its two implementations; the engine around them does decoding, timestamps, transforms, keys,
 * watermarks and the batch loop.
 */
export interface WindowOperator {
  /** Adds an element of the current record under `key`; `gap` is its session gap (0 for fixed windows). */
  add(element: unknown, key: Key, gap: number): void;
  /**
   * Emits the windows that the watermark passed, going from `before` to `after`, over the
   * partials of `partitions` (one partition, or all of them for keys that span partitions);
   * re-emits windows changed by late records; clears windows past their allowed lateness.
   */
  fire(partitions: PartitionState[], before: number, after: number, out: WindowOutput): void;
  /** The current partition changed: forget per-partition caches. */
  enterPartition(): void;
  /** The batch ended: forget what it touched. */
  endBatch(): void;
}

/** Rows, late records and dead letters of one batch, and how a window's result becomes rows. */
export class WindowOutput {
  readonly rows: EmittedRow<unknown>[] = [];
  readonly deadLetters: DeadLetter[];

  constructor(
    private readonly plan: JobPlan,
    deadLetters: DeadLetter[],
  ) {
    this.deadLetters = deadLetters;
  }

  /** Turns an accumulator into the window's rows; a throwing window function makes a dead letter. */
  emit(key: Key, window: TimeWindow, acc: unknown, update: boolean): void {
    const publicKey = this.plan.keySelector ? key : undefined;
    let out: unknown;
    try {
      out = this.plan.emit(key, window, this.plan.aggregate.getResult(acc));
    } catch (error) {
      this.windowFailed(key, window, `The window function threw: ${describeError(error)}`);
      return;
    }
    if (Array.isArray(out)) {
      for (const row of out) this.rows.push({ row, key: publicKey, window, update });
    } else {
      this.rows.push({ row: out, key: publicKey, window, update });
    }
  }

  /** A window whose result could not be computed or turned into rows: its rows go to the dead letters. */
  windowFailed(key: Key, window: TimeWindow, reason: string): void {
    this.deadLetters.push({ kind: 'window', key: this.plan.keySelector ? key : undefined, window, reason });
  }
}

/** Records that every window they belong to has already been cleared for. */
export class LateRecords {
  records: LateRecord[] = [];

  constructor(private readonly cursor: RecordCursor) {}

  add(element: unknown): void {
    const { record, timestamp, watermarkAtStart } = this.cursor;
    this.records.push({
      topic: record.topic,
      partition: record.partition,
      offset: record.offset,
      timestamp,
      watermark: watermarkAtStart,
      element,
    });
  }

  take(): LateRecord[] {
    const out = this.records;
    this.records = [];
    return out;
  }
}

/** A total order over keys of mixed types, for a deterministic output order. */
export function compareKeys(a: Key, b: Key): number {
  if (typeof a === typeof b) return a < b ? -1 : a > b ? 1 : 0;
  return typeof a < typeof b ? -1 : 1;
}
