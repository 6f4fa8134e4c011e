/**
 * The late-data side output and the dead letters, as Iceberg tables next to the job's table.
 * They are committed with the batch that produced them, like the rows, so a record is never
 * both lost and never reported: it is in the job's table, the late table or the dead letters.
 */
import type { DeadLetter, LateRecord } from '../engine/batch-result.ts';
import type { Job } from '../job/job.ts';
import { toJson } from '../output-json.ts';
import { type RowOf, type Table, table } from '../sink/table.ts';

const LATE_COLUMNS = {
  topic: 'string',
  partition: 'int',
  offset: 'long',
  /** The element's event time. */
  timestamp: 'timestamptz',
  /** The watermark the record was judged against; null when it was not finite. */
  watermark: { type: 'timestamptz', nullable: true },
  /** The element as it reached the window, as JSON. */
  element: 'string',
} as const;

const DEAD_LETTER_COLUMNS = {
  /** `record`: a record that could not be processed; `window`: a window function that threw. */
  kind: 'string',
  topic: { type: 'string', nullable: true },
  partition: { type: 'int', nullable: true },
  offset: { type: 'long', nullable: true },
  /** The Kafka record timestamp. */
  timestamp: { type: 'timestamptz', nullable: true },
  stage: { type: 'string', nullable: true },
  reason: 'string',
  /** The raw key and value, base64 as delivered. */
  key: { type: 'string', nullable: true },
  value: { type: 'string', nullable: true },
  /** For a window dead letter: its key (as JSON) and bounds. */
  window_key: { type: 'string', nullable: true },
  window_start: { type: 'timestamptz', nullable: true },
  window_end: { type: 'timestamptz', nullable: true },
} as const;

export type LateTable = Table<typeof LATE_COLUMNS>;
export type DeadLetterTable = Table<typeof DEAD_LETTER_COLUMNS>;

/** `<namespace of the job's table>.<job name>_late`, e.g. `nexmark.bids_per_auction_late`. */
export function lateTable(job: Job<unknown>): LateTable {
  return table(`${namespaceOf(job)}.${identifier(job.name)}_late`, LATE_COLUMNS);
}

/** `<namespace of the job's table>.<job name>_dead_letters`. */
export function deadLetterTable(job: Job<unknown>): DeadLetterTable {
  return table(`${namespaceOf(job)}.${identifier(job.name)}_dead_letters`, DEAD_LETTER_COLUMNS);
}

export function lateRow(late: LateRecord): RowOf<typeof LATE_COLUMNS> {
  return {
    topic: late.topic,
    partition: late.partition,
    offset: late.offset,
    timestamp: late.timestamp,
    watermark: Number.isFinite(late.watermark) ? late.watermark : null,
    element: toJson(late.element) ?? 'null',
  };
}

export function deadLetterRow(dead: DeadLetter): RowOf<typeof DEAD_LETTER_COLUMNS> {
  if (dead.kind === 'record') {
    return {
      kind: 'record',
      topic: dead.topic,
      partition: dead.partition,
      offset: dead.offset,
      timestamp: dead.timestamp,
      stage: dead.stage,
      reason: dead.reason,
      key: dead.key,
      value: dead.value,
      window_key: null,
      window_start: null,
      window_end: null,
    };
  }
  return {
    kind: 'window',
    topic: null,
    partition: null,
    offset: null,
    timestamp: null,
    stage: null,
    reason: dead.reason,
    key: null,
    value: null,
    window_key: dead.key === undefined ? null : toJson(dead.key),
    window_start: dead.window.start,
    window_end: dead.window.end,
  };
}

function namespaceOf(job: Job<unknown>): string {
  const name = job.plan.table.name;
  return name.slice(0, name.lastIndexOf('.'));
}

/** A job name as a table identifier: `bids-per-auction` → `bids_per_auction`. */
function identifier(name: string): string {
  const id = name.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[A-Za-z_]/.test(id) ? id : `job_${id}`;
}
