/** What a batch of the checkpointed processor did: its engine result and the commits that made it durable. */
import type {
  BatchMetrics,
  BatchResult,
  DeadLetter,
  EmittedRow,
  LateRecord,
  PartitionProgress,
} from '../engine/batch-result.ts';
import type { RoundReport } from './committer.ts';
import type { CheckpointCounts, TablePublish } from './manifest.ts';

/** One commit a batch made. */
export interface CommitInfo {
  readonly group: string;
  readonly epoch: number;
  readonly manifest: string;
  readonly publishes: readonly TablePublish[];
}

/** A batch's result, with the commits that made it durable (none when it changed nothing). */
export interface CommitOutcome<Row> extends BatchResult<Row> {
  readonly commits: readonly CommitInfo[];
  /**
   * The publish round that followed, if one ran or was tried (`ran: false`: not due, or another
   * process holds the lease). Absent when nothing committed.
   */
  readonly round?: RoundReport;
}

/** What is committed, read from the heads: for resuming a run and for summaries. */
export interface CommittedProgress {
  readonly groups: readonly {
    readonly group: string;
    readonly epoch: number;
    readonly drained: boolean;
    readonly watermark: number;
    readonly totals: CheckpointCounts;
  }[];
  /** Partition id → last committed offset (-1 before any). */
  readonly offsets: ReadonlyMap<string, number>;
  /** Partition id → committed watermark. */
  readonly watermarks: ReadonlyMap<string, number>;
  readonly totals: CheckpointCounts;
  /** True when every group has drained (a local run finished its input). */
  readonly drained: boolean;
}

export function countsOf(metrics: BatchMetrics): CheckpointCounts {
  return {
    records: metrics.records - metrics.redelivered,
    redelivered: metrics.redelivered,
    rows: metrics.rows,
    late: metrics.late,
    deadLetters: metrics.deadLetters,
    tombstones: metrics.tombstones,
    deduplicated: metrics.deduplicated,
  };
}

/** The outcome of several groups' batches as one. */
export function combine<Row>(outcomes: readonly CommitOutcome<Row>[]): CommitOutcome<Row> {
  const rows: EmittedRow<Row>[] = [];
  const late: LateRecord[] = [];
  const deadLetters: DeadLetter[] = [];
  const partitions: PartitionProgress[] = [];
  const commits: CommitInfo[] = [];
  const metrics = {
    records: 0,
    redelivered: 0,
    tombstones: 0,
    deduplicated: 0,
    late: 0,
    deadLetters: 0,
    rows: 0,
    watermark: outcomes.length === 0 ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY,
  };
  for (const o of outcomes) {
    rows.push(...o.rows);
    late.push(...o.late);
    deadLetters.push(...o.deadLetters);
    partitions.push(...o.partitions);
    commits.push(...o.commits);
    metrics.records += o.metrics.records;
    metrics.redelivered += o.metrics.redelivered;
    metrics.tombstones += o.metrics.tombstones;
    metrics.deduplicated += o.metrics.deduplicated;
    metrics.late += o.metrics.late;
    metrics.deadLetters += o.metrics.deadLetters;
    metrics.rows += o.metrics.rows;
    metrics.watermark = Math.min(metrics.watermark, o.metrics.watermark);
  }
  return { rows, late, deadLetters, metrics, partitions, commits };
}
