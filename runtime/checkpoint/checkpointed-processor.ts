/**
 * The exactly-once commit protocol: every micro-batch of a commit group becomes one atomic
 * checkpoint, made visible by one conditional write of the group's head. See "Exactly-once
 * commits" in docs/design.md for the invariants and the crash analysis.
 *
 * One batch of a group:
 * 1. Read the head (version v). Unless this process committed v itself (warm), load the state
 *    objects the head's manifest names (per partition a base and its deltas, in parallel) and
 *    apply each partition's deltas to its base in order, or the state the manifest holds.
 * 2. Run the engine. Records at or below the committed offsets are skipped. If nothing changed,
 *    stop: a redelivery commits nothing.
 * 3. Stage, in parallel: one Parquet file per output table with rows, and for each partition
 *    whose state changed one state object: a delta against its committed state, or a new base
 *    (its whole state) once the deltas since its base would outweigh it or number more than
 *    `maxDeltas` (state-delta.ts). Names are unique to this attempt; no reader looks at them.
 *    A group whose whole state is small (`maxInlineStateChars`) writes no state object: the
 *    manifest holds every partition's state (stage.ts `inlineStateOf`).
 * 4. Make the checkpoint manifest (immutable, unique name): written as an object when it names
 *    data files (or is large), else carried inside the head write (manifest.ts, "inline").
 * 5. Commit: put the head naming the manifest, on condition that its version is still v. This
 *    single write is the commit point; a concurrent or stale writer fails its condition.
 * 6. Publish, in rounds of the table committer (committer.ts): once `publishIntervalMs` has passed
 *    since the last round, the invocation that takes the lease appends every group's committed
 *    but unpublished epochs to each table as one snapshot, and moves each group's mark in the
 *    table in the same commit. A flush (`publish()`, `drain()`, a tick) runs a round at once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { BatchResult } from '../engine/batch-result.ts';
import { Engine } from '../engine/engine.ts';
import { type EngineState, newEngineState, type PartitionRef, partitionId } from '../engine/state.ts';
import { FloeError, FloeJobError } from '../errors.ts';
import type { Job } from '../job/job.ts';
import type { Columns, Table } from '../sink/table.ts';
import type { KafkaEvent, KafkaEventRecord } from '../source/kafka-event.ts';
import type { CheckpointStores } from '../stores/checkpoint-stores.ts';
import { permanentStorageError } from '../stores/object-store.ts';
import { StateValueTooLargeError } from '../stores/state-store.ts';
import { type CleanupReport, cleanupGroup, type DataFileSweep } from './cleanup.ts';
import {
  type ChangedPartition,
  CheckpointReader,
  emptyGroup,
  type LoadedGroup,
  loadCommittedState,
} from './committed-state.ts';
import { NO_ROUND, type RoundReport, TableCommitter } from './committer.ts';
import { type CommitterItem, readCommitterItem } from './committer-item.ts';
import { ConsumerLease, type HeldLease } from './consumer-lease.ts';
import { decodeHead, type Head, headFor, listHeads, readHead, readOrCreateHead, writeHead } from './head.ts';
import { headKey, newAttemptId, safeName } from './layout.ts';
import { cleanupLogSegments } from './log-cleanup.ts';
import {
  addCounts,
  type CheckpointManifest,
  MAX_INLINE_MANIFEST_CHARS,
  MAX_INLINE_ROWS_CHARS,
  MAX_INLINE_STATE_CHARS,
  watermarkFromJson,
  zeroCounts,
} from './manifest.ts';
import { type CommitInfo, type CommitOutcome, type CommittedProgress, combine } from './outcome.ts';
import type { JobTables } from './outputs.ts';
import {
  appendToLog,
  type LogAppend,
  type LogSegment,
  listLogHeads,
  pendingSegments,
  readSegment,
} from './partition-log.ts';
import { TablePublisher } from './publish.ts';
import { deadLetterTable, lateTable } from './side-outputs.ts';
import { stageCheckpoint } from './stage.ts';
import { DEFAULT_MAX_DELTAS, diffPartition } from './state-delta.ts';

/**
 * Commits of a group between two cleanups: at 2 invocations a second per partition (a 500 ms
 * batching window), one cleanup every 32 s, whose LISTs then cost under 1 % of a commit's requests.
 */
export const DEFAULT_CLEANUP_EVERY = 64;
/**
 * Every this many cleanups a group's cleanup also lists its recent data files (a LIST a table;
 * committed files stay, so they are the one listing that grows), and every ALL_DATA_FILES_EVERY
 * of those all of them. Orphan data files come only from attempts that failed or were abandoned:
 * rare, and costing only storage while they wait.
 */
export const DATA_FILE_SWEEP_EVERY = 8;
const ALL_DATA_FILES_EVERY = 128;
/** The largest `maxInlineManifestChars` allowed. */
const MAX_INLINE_MANIFEST_LIMIT = 64 * 1024;
/** Garbage a process lets a group's large state leave behind before it cleans up (see cleanupEvery). */
const DEFAULT_CLEANUP_AFTER_BYTES = 64 * 1024 * 1024;

export type { RoundReport, RoundSnapshot } from './committer.ts';
export type { CommitInfo, CommitOutcome, CommittedProgress } from './outcome.ts';

export interface CheckpointedProcessorOptions {
  readonly stores: CheckpointStores;
  /** Processing time, for idleness and attempt ages. @default Date.now */
  readonly clock?: () => number;
  /**
   * The topic's partitions, when known. Windows whose keys span partitions then wait for
   * partitions that have not delivered yet.
   * @default - partitions are learnt from their first record
   */
  readonly partitions?: readonly PartitionRef[];
  /** Checkpoint manifests kept per group; older ones and the state only they name are deleted. @default 10 */
  readonly keepCheckpoints?: number;
  /**
   * Run cleanup after every this many commits of a group. Each cleanup lists the group's
   * checkpoint objects (an S3 LIST per folder, $5 per million; every 8th also its recent data
   * files, a LIST or two per table), while
   * what it deletes costs almost nothing to keep a little longer: so rarely, not every few commits
   * ("Cleanup" in docs/design.md). A group also cleans up once this process has written
   * `cleanupAfterBytes` of its state objects since it last did, which bounds the garbage of jobs
   * with large state and large batches (local runs). @default 64
   */
  readonly cleanupEvery?: number;
  /** See `cleanupEvery`. @default 64 MiB */
  readonly cleanupAfterBytes?: number;
  /**
   * The largest manifest, in characters of its compressed encoding, that a commit without data
   * files keeps in its head item instead of writing it as an object (manifest.ts
   * `encodeInlineManifest`); 0 writes every manifest as an object. @default 4096
   */
  readonly maxInlineManifestChars?: number;
  /**
   * The largest group state, in characters of its compressed encoding (brotli, base64), that a
   * commit keeps inside its manifest instead of writing state objects: then a commit without data
   * files writes only its head (the manifest and the state inline), and a cold load reads only the
   * head. A group whose state outgrows it moves to state objects and comes back at three quarters of it
   * ("State in the manifest" in docs/design.md). 0 always writes state objects. @default 2048
   */
  readonly maxInlineStateChars?: number;
  /**
   * The most characters (of their JSON) of one table's rows of a commit that its manifest holds
   * instead of a Parquet file of their own: the publish round then writes every epoch's rows it
   * publishes as one file per group and table, so a job firing a few rows per batch leaves one
   * file per round rather than one per commit, and a commit writes one object less ("Small
   * outputs in the manifest" in docs/design.md). 0 writes a file per commit and table, and keeps
   * the manifests readable by a Floe from before this setting. @default 16384
   */
  readonly maxInlineRowsChars?: number;
  /**
   * How old an uncommitted attempt's objects must be before cleanup deletes them. An attempt
   * may still be running until then, so keep it above the function timeout.
   * @default 15 minutes (Lambda's longest timeout)
   */
  readonly orphanGraceMs?: number;
  /** Tries of one group's batch when another writer commits first or a store call fails. @default 8 */
  readonly maxAttempts?: number;
  /**
   * State deltas a partition may have after its base before a commit writes a new base (a new
   * base is also written once the deltas would outweigh the base in bytes). @default 32
   */
  readonly maxDeltas?: number;
  /**
   * How a job whose windows merge partitions (keyBy without isKafkaKey, windowAll) commits a
   * partition's batch. With `true`, each partition appends its new records to its own log and
   * never waits for another partition; the job group then consumes every partition's log in one
   * batch, under a lease ("Partition logs" in docs/design.md). With `false`, every partition's
   * batch commits through the job group's head, and concurrent partitions retry each other's
   * conflicts. Jobs keyed by the Kafka key commit per partition either way and ignore it.
   * @default false
   */
  readonly partitionLogs?: boolean;
  /** How long the log consumer's lease lasts before another process may take it over. @default 20 seconds */
  readonly consumerLeaseMs?: number;
  /** The most records one consume round of the partition logs takes (whole segments). @default 100,000 */
  readonly maxRecordsPerRound?: number;
  /**
   * With partition logs: an invocation consumes the logs only if no consume started in the last
   * this many ms; otherwise its batch waits in its log for a later invocation or the next tick.
   * Fewer job group commits, but more batches written to logs, for up to this much more latency
   * while records flow; since a free lease consumes a batch directly, it rarely lowers the bill
   * ("Partition logs" in docs/design.md). Above 0, deploy the ticker, which consumes what is left
   * when the topic goes quiet. @default 0 (every invocation may consume)
   */
  readonly consumeIntervalMs?: number;
  /**
   * How often committed rows are published to the tables. A commit no longer appends to the
   * tables itself: once this long has passed since the last publish round of the job (by the
   * committer item in the heads store), the invocation that takes the round's lease appends every
   * commit group's unpublished epochs to each table as one snapshot; the others skip. `publish()`,
   * `drain()` and `emitPeriodicWatermarks()` (the ticker) run a round at once. So rows are
   * visible at most about this long (plus a round) after their commit while batches arrive, and
   * after the next tick or flush when they stop. 0: every commit is followed by a round, without
   * a lease, before `process()` returns (the rows are visible when it returns).
   * @default 10_000 (10 s; docs/design.md, "The table committer", says why)
   */
  readonly publishIntervalMs?: number;
}

const DEFAULT_KEEP = 10;
const DEFAULT_GRACE_MS = 15 * 60 * 1000;
const DEFAULT_ATTEMPTS = 8;
const DEFAULT_LEASE_MS = 20_000;
const DEFAULT_ROUND_RECORDS = 100_000;
export const DEFAULT_PUBLISH_INTERVAL_MS = 10_000;
/** Manifests a process keeps in memory per group while they are unpublished, at most. */
const MAX_REMEMBERED = 512;
/** The group of a job whose windows merge partitions: all partitions commit through one head. */
const JOB_GROUP = 'job';

/**
 * Runs a job batch by batch with exactly-once effects on its tables. The Lambda handler, `floe
 * invoke` and `floe run` all use it.
 */
export class CheckpointedProcessor<Row> {
  readonly engine: Engine<Row>;
  private readonly stores: CheckpointStores;
  private readonly clock: () => number;
  private readonly jobId: string;
  private readonly keep: number;
  private readonly cleanupEvery: number;
  private readonly cleanupAfterBytes: number;
  /** Bytes of state objects this process committed per group since it last cleaned it up. */
  private readonly stateBytesSinceCleanup = new Map<string, number>();
  private readonly graceMs: number;
  private readonly maxAttempts: number;
  private readonly maxDeltas: number;
  private readonly maxInlineManifestChars: number;
  private readonly maxInlineStateChars: number;
  private readonly maxInlineRowsChars: number;
  private readonly tables: JobTables;
  private readonly publisher: TablePublisher;
  private readonly committer: TableCommitter;
  private readonly reader: CheckpointReader;
  /** Warm state per group, valid while the head's version equals the cached version. */
  private readonly cache = new Map<string, LoadedGroup>();
  /** The newest manifests of each group this process read or wrote, for cleanup's chain walk. */
  private readonly recentManifests = new Map<string, Map<string, CheckpointManifest>>();
  /** Groups with a batch in progress in this process: one at a time each. */
  private readonly busy = new Map<string, Promise<unknown>>();
  /** Whether this process appends partitions' batches to their logs (options.partitionLogs). */
  private readonly appendsToLogs: boolean;
  /** Whether this process, not appending to logs, has consumed what they held before its first batch. */
  private logsDrained = false;
  /** Records of the segments this process appended and has not consumed yet: no need to read them back. */
  private readonly ownSegments = new Map<string, KafkaEventRecord[]>();
  /** Set for a job whose windows merge partitions: partition logs, their lease and settings. */
  private readonly logs:
    | {
        readonly lease: ConsumerLease;
        readonly roundRecords: number;
        readonly intervalMs: number;
        readonly budgetMs: number;
      }
    | undefined;

  constructor(
    readonly job: Job<Row>,
    private readonly options: CheckpointedProcessorOptions,
  ) {
    this.engine = new Engine(job);
    this.stores = options.stores;
    this.clock = options.clock ?? Date.now;
    this.jobId = safeName(job.name);
    this.keep = positive('keepCheckpoints', options.keepCheckpoints ?? DEFAULT_KEEP);
    this.cleanupEvery = positive('cleanupEvery', options.cleanupEvery ?? DEFAULT_CLEANUP_EVERY);
    this.cleanupAfterBytes = positive(
      'cleanupAfterBytes',
      options.cleanupAfterBytes ?? DEFAULT_CLEANUP_AFTER_BYTES,
    );
    this.graceMs = options.orphanGraceMs ?? DEFAULT_GRACE_MS;
    this.maxAttempts = positive('maxAttempts', options.maxAttempts ?? DEFAULT_ATTEMPTS);
    this.maxDeltas = positive('maxDeltas', options.maxDeltas ?? DEFAULT_MAX_DELTAS);
    this.maxInlineManifestChars = nonNegative(
      'maxInlineManifestChars',
      options.maxInlineManifestChars ?? MAX_INLINE_MANIFEST_CHARS,
    );
    // The head item must stay well inside DynamoDB's 400 KB, offsets and all.
    if (this.maxInlineManifestChars > MAX_INLINE_MANIFEST_LIMIT) {
      throw new FloeError(
        `maxInlineManifestChars must be at most ${MAX_INLINE_MANIFEST_LIMIT} (a head item must fit DynamoDB's 400 KB item), got ${this.maxInlineManifestChars}.`,
      );
    }
    this.maxInlineStateChars = nonNegative(
      'maxInlineStateChars',
      options.maxInlineStateChars ?? MAX_INLINE_STATE_CHARS,
    );
    // Every publish round and cold load reads the manifest that holds it.
    if (this.maxInlineStateChars > MAX_INLINE_MANIFEST_LIMIT) {
      throw new FloeError(
        `maxInlineStateChars must be at most ${MAX_INLINE_MANIFEST_LIMIT} (larger state is cheaper as state objects), got ${this.maxInlineStateChars}.`,
      );
    }
    this.maxInlineRowsChars = nonNegative(
      'maxInlineRowsChars',
      options.maxInlineRowsChars ?? MAX_INLINE_ROWS_CHARS,
    );
    this.tables = {
      rows: job.plan.table,
      late: lateTable(job as Job<unknown>) as unknown as Table<Columns>,
      deadLetters: deadLetterTable(job as Job<unknown>) as unknown as Table<Columns>,
    };
    const { rows, late, deadLetters } = this.tables;
    this.publisher = new TablePublisher(
      this.stores,
      new Map([rows, late, deadLetters].map((t) => [t.name, t])),
      this.jobId,
    );
    this.reader = new CheckpointReader(this.stores.checkpoints, job.name);
    // Every job whose windows merge partitions can find records in partition logs (left by
    // processes that append to them, whatever this one does), so every one can consume them.
    this.appendsToLogs = options.partitionLogs === true && job.plan.scope === 'job';
    this.logs =
      job.plan.scope === 'job'
        ? {
            lease: new ConsumerLease(
              this.stores.heads,
              this.jobId,
              positive('consumerLeaseMs', options.consumerLeaseMs ?? DEFAULT_LEASE_MS),
              this.clock,
              () => readHead(this.stores.heads, this.jobId, JOB_GROUP),
            ),
            roundRecords: positive('maxRecordsPerRound', options.maxRecordsPerRound ?? DEFAULT_ROUND_RECORDS),
            intervalMs: nonNegative('consumeIntervalMs', options.consumeIntervalMs ?? 0),
            // Passes of one consume while others keep appending: at most half a lease of wall time,
            // after which the next invocation or tick goes on.
            budgetMs: positive('consumerLeaseMs', options.consumerLeaseMs ?? DEFAULT_LEASE_MS) / 2,
          }
        : undefined;
    const intervalMs = options.publishIntervalMs ?? DEFAULT_PUBLISH_INTERVAL_MS;
    if (!Number.isSafeInteger(intervalMs) || intervalMs < 0) {
      throw new FloeError(
        `publishIntervalMs must be a whole number of milliseconds, at least 0, got ${intervalMs}.`,
      );
    }
    this.committer = new TableCommitter({
      stores: this.stores,
      jobId: this.jobId,
      jobName: job.name,
      intervalMs,
      clock: this.clock,
      reader: this.reader,
      publisher: this.publisher,
      known: (group, key) => this.recentManifests.get(group)?.get(key),
    });
  }

  /** The tables this job writes: its rows, the late records and the dead letters. */
  get tableNames(): { readonly rows: string; readonly late: string; readonly deadLetters: string } {
    const { rows, late, deadLetters } = this.tables;
    return { rows: rows.name, late: late.name, deadLetters: deadLetters.name };
  }

  /** The commit group of a partition: itself when windows fire per partition, else the whole job. */
  groupOf(topic: string, partition: number): string {
    return this.job.plan.scope === 'partition' ? safeName(partitionId(topic, partition)) : JOB_GROUP;
  }

  /**
   * Processes one Lambda Kafka event: each commit group's records are one atomic commit. Returns
   * after every commit, and after the publish round if one was due (`publishIntervalMs`); a throw
   * means some group did not commit, and redelivering the same event is safe. A failed round
   * after a commit does not fail the event (`round.error`; the next round publishes it), except
   * with `publishIntervalMs: 0`, where the rows must be visible when it returns.
   */
  async process(event: KafkaEvent): Promise<CommitOutcome<Row>> {
    if (this.appendsToLogs) return this.processThroughLogs(event);
    // A process that does not append (FLOE_PARTITION_LOGS=off, a redeployment with it) first takes
    // what earlier processes left in the logs: its commits would otherwise move the job group's
    // offsets past records that are only there.
    if (this.logs !== undefined && !this.logsDrained) {
      await this.consumeLogs(false, true);
      this.logsDrained = true;
    }
    const byGroup = new Map<string, (readonly KafkaEventRecord[])[]>();
    for (const records of Object.values(event.records)) {
      const first = records[0];
      if (first === undefined) continue;
      const group = this.groupOf(first.topic, first.partition);
      const list = byGroup.get(group);
      if (list) list.push(records);
      else byGroup.set(group, [records]);
    }
    const outcomes = await Promise.all(
      [...byGroup].map(([group, records]) => this.exclusive(group, () => this.commitGroup(group, records))),
    );
    const outcome = combine(outcomes);
    if (outcome.commits.length === 0) return outcome;
    return { ...outcome, round: await this.roundAfterCommit() };
  }

  /**
   * Publishes now, whatever the interval: every group's committed epochs are in the tables when
   * it returns (a round; it retries store failures, then throws). `floe run`, `floe invoke` and
   * `drain()` end with it; the ticker runs it on its schedule.
   */
  async publish(): Promise<RoundReport> {
    try {
      return await this.retried(() => this.committer.flush());
    } catch (error) {
      throwIfPermanent(error);
      throw new FloeError(
        `Job ${this.job.name}: publishing the committed rows to the tables failed after ${this.maxAttempts} tries: ${describe(error)}. Nothing committed is lost: the next publish round (a later batch, a tick, or publish again) appends it.`,
        { cause: error },
      );
    }
  }

  /** The round after a batch committed: when due, or always when the interval is 0. */
  private async roundAfterCommit(): Promise<RoundReport> {
    if (this.committer.mayBeDue() === false) return NO_ROUND;
    if ((this.options.publishIntervalMs ?? DEFAULT_PUBLISH_INTERVAL_MS) === 0) return this.publish();
    try {
      return await this.committer.dueRound();
    } catch (error) {
      throwIfPermanent(error);
      // The batch committed: a failed round must not fail it (a retry would find its records
      // applied and report nothing). The next round, tick or flush publishes what it missed.
      return { ...NO_ROUND, error: describe(error) };
    }
  }

  /**
   * Ends a bounded input (a local run): the watermark of every group goes to +infinity, every
   * window fires, and the result commits. Lambda never drains: a Kafka topic has no end.
   */
  async drain(): Promise<CommitOutcome<Row>> {
    // The end of a bounded input: everything must be consumed, whoever holds the lease (it only
    // saves work; the job group's head decides).
    const consumed = this.logs === undefined ? undefined : await this.consumeLogs(false, true);
    const groups = new Set((await this.heads()).map((h) => h.group));
    const outcomes = await Promise.all(
      [...groups].map((group) => this.exclusive(group, () => this.commitGroup(group, 'drain'))),
    );
    // A consume that found nothing adds nothing (its empty outcome's watermark is -infinity).
    const ran = consumed !== undefined && (consumed.commits.length > 0 || consumed.metrics.records > 0);
    return { ...combine(ran ? [consumed, ...outcomes] : outcomes), round: await this.publish() };
  }

  /**
   * Flink's periodic watermark emission (`onPeriodicEmit`), for where nothing runs between
   * deliveries (Lambda is invoked only when records arrive): runs, for each commit group with a
   * head, a batch without records at the current processing time. The engine then applies the
   * idleness rule (`withIdleness`), advances the watermarks and fires what they passed, and the
   * result commits through the same protocol as a batch of records; a group with nothing to do
   * commits nothing, as a redelivery. The ticker (`createTicker`, `floe tick`) calls it on a
   * schedule.
   *
   * Without records the watermarks move only through idleness, so a tick does nothing (and reads
   * nothing) unless the job has an idleness timeout and either its windows wait for every
   * partition (keys that span partitions, windowAll) or `idleTopicWatermark` is
   * `'processing-time'`.
   *
   * Idleness measures processing time, which counts the time since a group's last commit for at
   * most half the timeout (the downtime rule, "Idleness across stops" in docs/design.md). A tick
   * proves the job is running, so a tick that found nothing to do at a processing time held back
   * by that rule, while a partition may still go idle, commits that processing time (a checkpoint
   * with the same state): otherwise a silent group would never reach its timeout. A tick commits
   * only when a partition went idle, something fired, or that processing time must be recorded: a
   * watermark that moved without firing anything (a silent topic under `'processing-time'`) is
   * computed again by the next tick.
   *
   * Every tick then publishes (`publish()`), whether or not ticks can change the job's state:
   * rows committed after the last publish round are in the tables by the end of the next tick.
   */
  async emitPeriodicWatermarks(): Promise<CommitOutcome<Row>> {
    let outcomes: CommitOutcome<Row>[] = [];
    if (this.appendsToLogs) outcomes = [await this.consumeLogs(true)];
    else if (this.ticksMatter()) {
      const groups = new Set((await this.heads()).map((h) => h.group));
      outcomes = await Promise.all(
        [...groups].map((group) => this.exclusive(group, () => this.commitGroup(group, []))),
      );
    }
    return { ...combine(outcomes), round: await this.publish() };
  }

  /** Whether a batch without records can ever change this job's state (see emitPeriodicWatermarks). */
  ticksMatter(): boolean {
    // With partition logs, a tick consumes what invocations left in them: batches held back by
    // the consume interval, or by a consumer that died holding the lease, once traffic stops.
    if (this.appendsToLogs) return true;
    const { idlenessMs, idleTopicWatermark } = this.job.plan.watermarks;
    if (idlenessMs === undefined) return false;
    return this.job.plan.scope === 'job' || idleTopicWatermark === 'processing-time';
  }

  /** What the heads say is committed. */
  async committed(): Promise<CommittedProgress> {
    // Listed and read again on a failure: a concurrent cleanup may delete a manifest just listed.
    const manifests = await this.retried(async () => {
      const heads = (await this.heads()).filter((h) => h.head.value.manifest !== null);
      return Promise.all(heads.map((h) => this.reader.manifestOf(this.jobId, h.group, h.head)));
    });
    const offsets = new Map<string, number>();
    const watermarks = new Map<string, number>();
    let totals = zeroCounts();
    const groups = manifests.map((m) => {
      for (const [id, p] of Object.entries(m.partitions)) {
        offsets.set(id, p.offset);
        watermarks.set(id, watermarkFromJson(p.watermark));
      }
      totals = addCounts(totals, m.totals);
      return {
        group: m.group,
        epoch: m.epoch,
        drained: m.drained,
        watermark: watermarkFromJson(m.watermark),
        totals: m.totals,
      };
    });
    return {
      groups,
      offsets,
      watermarks,
      totals,
      drained: groups.length > 0 && groups.every((g) => g.drained),
    };
  }

  /**
   * Deletes old checkpoints and orphaned objects of every group (also run every few commits).
   * `dataFiles`: which of the groups' data files to judge. @default 'all'
   */
  async cleanup(options: { readonly dataFiles?: DataFileSweep } = {}): Promise<CleanupReport> {
    const [heads, committer] = await Promise.all([
      this.heads(),
      this.retried(() => readCommitterItem(this.stores.heads, this.jobId)),
    ]);
    const [reports] = await Promise.all([
      Promise.all(heads.map((h) => this.cleanupGroup(h.group, committer?.value ?? null, options.dataFiles))),
      this.retried(() => this.cleanupLogs()),
    ]);
    return reports.reduce(
      (a, b) => ({
        manifests: a.manifests + b.manifests,
        states: a.states + b.states,
        dataFiles: a.dataFiles + b.dataFiles,
      }),
      { manifests: 0, states: 0, dataFiles: 0 },
    );
  }

  /** After a commit of `epoch`: whether it is the group's turn to clean up (see `cleanupEvery`). */
  private cleanupDue(group: string, epoch: number): boolean {
    return (
      epoch % this.cleanupEvery === 0 ||
      (this.stateBytesSinceCleanup.get(group) ?? 0) >= this.cleanupAfterBytes
    );
  }

  /** Which data files the cleanup after a commit of `epoch` judges (see DATA_FILE_SWEEP_EVERY). */
  private dataFileSweep(epoch: number): DataFileSweep {
    const period = this.cleanupEvery * DATA_FILE_SWEEP_EVERY;
    if (epoch % period !== 0) return 'none';
    return epoch % (period * ALL_DATA_FILES_EVERY) === 0 ? 'all' : 'recent';
  }

  /**
   * `committer`: the committer item if already read (null: there is none), else cleanup reads it.
   * `dataFiles`: which data files to judge (cleanup() and a drain judge all).
   */
  private cleanupGroup(
    group: string,
    committer?: CommitterItem | null,
    dataFiles: DataFileSweep = 'all',
  ): Promise<CleanupReport> {
    this.stateBytesSinceCleanup.delete(group);
    return cleanupGroup(this.stores, {
      committer,
      dataFiles,
      // Two sweep periods: a sweep that fails (or a process that stops) loses nothing.
      recentEpochs: 2 * this.cleanupEvery * DATA_FILE_SWEEP_EVERY,
      job: this.jobId,
      group,
      keep: this.keep,
      graceMs: this.graceMs,
      now: this.clock(),
      tables: [this.tables.rows.name, this.tables.late.name, this.tables.deadLetters.name],
      known: (key) => this.recentManifests.get(group)?.get(key),
    });
  }

  /**
   * Remembers a manifest of the group (immutable): the newest `keepCheckpoints`, and those not
   * known to be published (up to a bound), so that a publish round or a cleanup of this process
   * walks the chain without reading them.
   */
  private remember(group: string, key: string, manifest: CheckpointManifest): void {
    const recent = this.recentManifests.get(group) ?? new Map<string, CheckpointManifest>();
    this.recentManifests.set(group, recent);
    recent.set(key, manifest);
    const published = this.committer.publishedThrough(group, manifest.lineage);
    for (const [old, m] of recent) {
      if (recent.size <= this.keep) break;
      if (recent.size <= MAX_REMEMBERED && m.epoch > published && m.lineage === manifest.lineage) break;
      recent.delete(old);
    }
  }

  private heads(): Promise<{ group: string; head: Head }[]> {
    return this.retried(() => listHeads(this.stores.heads, this.jobId));
  }

  /** Runs a read again when a store call fails (a throttle, a 5xx), as a batch is tried again. */
  private async retried<T>(read: () => Promise<T>): Promise<T> {
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      if (attempt > 1) await backoff(attempt);
      try {
        return await read();
      } catch (error) {
        throwIfPermanent(error);
        lastError = error;
      }
    }
    throw lastError;
  }

  /** Runs one group's batches one after another within this process (concurrent ones race by CAS anyway). */
  private async exclusive<T>(group: string, run: () => Promise<T>): Promise<T> {
    const before = this.busy.get(group) ?? Promise.resolve();
    const next = before.then(run, run);
    this.busy.set(group, next);
    try {
      return await next;
    } finally {
      if (this.busy.get(group) === next) this.busy.delete(group);
    }
  }

  private async commitGroup(
    group: string,
    given: (readonly KafkaEventRecord[])[] | 'drain',
    logs?: LogRound,
  ): Promise<CommitOutcome<Row>> {
    let lastError: unknown;
    // The last attempt that reached its head write: if that write landed but its answer was lost,
    // the reloaded head names its manifest, and the batch's result is that attempt's.
    let tried:
      | { readonly info: CommitInfo; readonly result: BatchResult<Row>; readonly direct: boolean }
      | undefined;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      if (attempt > 1) await backoff(attempt);
      let loaded: LoadedGroup;
      let input = given;
      try {
        loaded = await this.load(group, attempt === 1 ? logs?.head : undefined);
        if (logs !== undefined) {
          // The job group consuming the partition logs: its input is what they hold above its
          // committed offsets, read again on every try since another consumer may have moved them.
          const read = await this.readLogs(loaded, logs.roundRecords);
          logs.more = read.more;
          // The consumer's own batch, in no log (the direct path): after what the logs hold of its
          // partitions, and only when the round read all of that (a round cut short by its budget
          // would leave a gap the batch's offsets would skip over).
          const direct = logs.direct !== undefined && !read.more ? logs.direct : [];
          logs.directTaken = direct.length > 0;
          const groups = direct.length > 0 ? [...read.groups, ...direct] : read.groups;
          if (groups.length > 0) input = groups;
          else if (!logs.tick && (tried === undefined || loaded.manifestKey !== tried.info.manifest)) {
            this.cache.set(group, loaded);
            return combine([]);
          }
        }
      } catch (error) {
        this.cache.delete(group);
        throwIfPermanent(error);
        lastError = error;
        continue;
      }
      if (tried !== undefined && loaded.manifestKey === tried.info.manifest) {
        this.cache.set(group, loaded);
        if (logs !== undefined) logs.directTaken = tried.direct;
        return { ...tried.result, commits: [tried.info] };
      }
      // From here the engine changes the state in place: any failure drops the cache.
      this.cache.delete(group);
      // A batch without records (a tick) or a drain of a group that never committed has nothing
      // to work on.
      if ((input === 'drain' || input.length === 0) && loaded.epoch === 0) return combine([]);
      const now = this.processingTime(loaded);
      const watermarkBefore = loaded.state.jobWatermark;
      const idleBefore = idlePartitions(loaded.state);
      const result =
        input === 'drain'
          ? this.engine.drain(loaded.state, now)
          : this.engine.processBatch(loaded.state, input, { now, wallClock: this.clock() });

      const changed: ChangedPartition[] = [];
      for (const [id, p] of loaded.state.partitions) {
        const diff = diffPartition(loaded.chains.get(id)?.image, p);
        if (diff.changed) changed.push({ id, diff });
      }
      const outputs = result.rows.length + result.late.length + result.deadLetters.length;
      if (
        changed.length === 0 &&
        outputs === 0 &&
        loaded.state.jobWatermark === watermarkBefore &&
        !this.tickMustRecordTime(loaded, input)
      ) {
        // Nothing to commit (a redelivery, or a drain after the end): the loaded state is still
        // exactly what is committed, so it stays warm.
        this.cache.set(group, loaded);
        return { ...result, commits: [] };
      }
      if (
        input !== 'drain' &&
        input.length === 0 &&
        outputs === 0 &&
        idlePartitions(loaded.state) === idleBefore &&
        !this.tickMustRecordTime(loaded, input)
      ) {
        // A tick that only moved watermarks (idleTopicWatermark 'processing-time' on a silent
        // topic) without firing anything: not worth a commit per tick, since the next tick
        // computes them again from the wall clock. The state in memory is now ahead of the
        // committed one, so it is not kept warm.
        return { ...result, commits: [] };
      }
      try {
        const direct = logs?.directTaken === true;
        const commit = await this.commit(group, loaded, result, input, changed, now, (info) => {
          tried = { info, result, direct };
        });
        // Housekeeping: the batch has committed, so a failed cleanup must not fail it (a retry
        // would find its records applied and report nothing). The next cleanup catches up.
        if (this.cleanupDue(group, commit.epoch))
          await this.cleanupGroup(group, undefined, this.dataFileSweep(commit.epoch)).catch(() => undefined);
        return { ...result, commits: [commit] };
      } catch (error) {
        this.cache.delete(group);
        // The job's own mistake: every retry would fail the same way. Nothing was staged.
        if (error instanceof FloeJobError) throw error;
        throwIfPermanent(error);
        lastError = error;
      }
    }
    throw new FloeError(
      `Job ${this.job.name}, commit group ${group}: the batch did not complete after ${this.maxAttempts} tries; the last error was: ${describe(lastError)}. Redeliver the batch (Lambda does): if it did not commit, nothing of it is visible; if it did, its records are skipped and its files are published.`,
      { cause: lastError },
    );
  }

  /**
   * A batch of a job whose windows merge partitions, with partition logs. If no other process
   * holds the consumer lease, this one takes it and consumes the batch directly, with what the
   * logs hold, in one job group commit. Otherwise each partition's new records go to its log (one
   * segment and one conditional write of its own head, never waiting for another partition), and
   * the holder's next round applies them. Returns once the records are committed, in the job
   * group or in the logs, which is what lets the event source mapping move on.
   */
  private async processThroughLogs(event: KafkaEvent): Promise<CommitOutcome<Row>> {
    const partitions = Object.values(event.records).filter((records) => records.length > 0);
    if (partitions.length === 0) return combine([]);
    const logs = this.logs!;
    // The direct path: when the consumer lease is free (and the consume interval has passed), this
    // process consumes its own batch in the job group's commit, together with whatever the logs
    // hold, and never writes it to a log: no segment, no log head write, no delete later.
    const attempt = await this.retried(() => logs.lease.attempt(logs.intervalMs)).catch((error: unknown) => {
      throwIfPermanent(error);
      return undefined; // the append path does not need the lease
    });
    const lease = attempt?.lease;
    let directError: unknown;
    if (lease !== undefined) {
      try {
        const consumed = await this.consumeLogs(false, false, { lease, batch: partitions });
        if (consumed.commits.length === 0) return consumed;
        return { ...consumed, round: await this.roundAfterCommit() };
      } catch (error) {
        if (permanentStorageError(error) !== undefined) throw error;
        // The consume failed (a job error, perhaps in another partition's logged records, or
        // tries used up): the batch goes to its log as on the append path, so that it is not left
        // only to Lambda's retries, which end at the failure destination.
        directError = error;
      }
    }
    // What the job group has consumed: from the head the lease attempt read a moment ago when it
    // found the lease held (one read and one round trip less for every append), else read now (a
    // direct consume that failed may have committed rounds since).
    const jobHead =
      attempt !== undefined && lease === undefined
        ? attempt.jobHead
        : await this.retried(() => readHead(this.stores.heads, this.jobId, JOB_GROUP));
    const consumedOffset = (id: string): number => jobHead?.value.offsets?.[id]?.[0] ?? -1;
    const appends = await this.appendAll(partitions, consumedOffset);
    if (directError instanceof FloeJobError) throw directError;
    if (directError !== undefined) {
      const logged = appendOutcome<Row>(appends, true);
      const watermark = watermarkFromJson(jobHead?.value.watermark ?? null);
      return { ...logged, metrics: { ...logged.metrics, watermark } };
    }
    // The batch is durable in the logs now. A consume that fails for a reason retrying can heal
    // leaves it there for the next invocation or tick: failing the invocation would make Lambda
    // redeliver a batch that is already safe (and, in the end, send it to the failure destination).
    // A job error fails it, as it fails every batch until the job is fixed.
    let consumed: CommitOutcome<Row>;
    try {
      consumed = await this.consumeLogs(false);
    } catch (error) {
      if (error instanceof FloeJobError || permanentStorageError(error) !== undefined) throw error;
      consumed = combine([]);
    }
    // The job watermark: the consume's, or the committed one when this process did not consume.
    const ran = consumed.commits.length > 0 || consumed.metrics.records > 0;
    const watermark = ran ? consumed.metrics.watermark : watermarkFromJson(jobHead?.value.watermark ?? null);
    const outcome = combine(
      ran ? [appendOutcome<Row>(appends, false), consumed] : [appendOutcome<Row>(appends, true)],
    );
    const reported = { ...outcome, metrics: { ...outcome.metrics, watermark } };
    // A consume that committed is a commit of the job group like any other: the committer's round.
    if (!ran || consumed.commits.length === 0) return reported;
    return { ...reported, round: await this.roundAfterCommit() };
  }

  /** Appends each partition's records to its log, partitions in parallel. */
  private appendAll(
    partitions: readonly (readonly KafkaEventRecord[])[],
    consumedOffset: (partition: string) => number,
  ): Promise<LogAppend[]> {
    return Promise.all(
      partitions.map((records) => {
        const id = partitionId(records[0]!.topic, records[0]!.partition);
        return this.exclusive(`log:${id}`, () => this.appendWithRetries(records, consumedOffset(id)));
      }),
    );
  }

  private async appendWithRetries(
    records: readonly KafkaEventRecord[],
    consumed: number,
  ): Promise<LogAppend> {
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      if (attempt > 1) await backoff(attempt);
      try {
        const appended = await appendToLog(
          this.stores.heads,
          this.stores.checkpoints,
          this.jobId,
          records,
          consumed,
          newAttemptId(this.clock()),
        );
        if (appended.segment !== undefined)
          this.ownSegments.set(appended.segment.key, records.slice(appended.skipped) as KafkaEventRecord[]);
        return appended;
      } catch (error) {
        if (error instanceof StateValueTooLargeError) {
          const first = records[0]!;
          throw new FloeError(
            `Job ${this.job.name}, partition ${partitionId(first.topic, first.partition)}: its log head lists more unconsumed segments than a state item holds, because the job group has not consumed them. Find why consumes fail (the ticker's and the handler's logs), or consume with a drain; the records are safe in the logs.`,
            { cause: error },
          );
        }
        throwIfPermanent(error);
        lastError = error;
      }
    }
    const first = records[0]!;
    throw new FloeError(
      `Job ${this.job.name}, partition ${partitionId(first.topic, first.partition)}: appending offsets ${first.offset}-${records[records.length - 1]!.offset} to the partition log did not complete after ${this.maxAttempts} tries; the last error was: ${describe(lastError)}. Redeliver the batch (Lambda does): records already in the log are skipped.`,
      { cause: lastError },
    );
  }

  /**
   * Consumes the partition logs into the job group while this process holds the consumer lease,
   * round after round until they are empty. `tick`: the first round runs even without records
   * (periodic watermarks: idleness). After giving the lease up it looks at the logs once more:
   * an append that found the lease held after this process last read the logs skipped its own
   * round, and would otherwise wait for the next batch.
   */
  private async consumeLogs(
    tick: boolean,
    force = false,
    first?: { readonly lease: HeldLease; readonly batch: readonly (readonly KafkaEventRecord[])[] },
  ): Promise<CommitOutcome<Row>> {
    const logs = this.logs;
    if (logs === undefined) return combine([]);
    const outcomes: CommitOutcome<Row>[] = [];
    let ticking = tick;
    let held = first?.lease;
    let direct = first?.batch;
    const started = performance.now();
    while (performance.now() - started < logs.budgetMs) {
      // A tick consumes whatever the interval says: it is what bounds the wait once traffic stops.
      const interval = tick ? 0 : logs.intervalMs;
      const lease = held ?? (force ? UNLEASED : await this.retried(() => logs.lease.acquire(interval)));
      held = undefined;
      if (lease === undefined) break;
      let head = lease.jobHead;
      // The epoch this process's last round committed: that commit ended the lease.
      let committed: number | undefined;
      try {
        for (;;) {
          const round: LogRound = {
            tick: ticking,
            roundRecords: logs.roundRecords,
            more: false,
            direct,
            head,
          };
          ticking = false;
          head = undefined;
          const outcome = await this.exclusive(JOB_GROUP, () => this.commitGroup(JOB_GROUP, [], round));
          if (direct !== undefined && round.directTaken !== true) {
            // The logs held more than one round: the batch goes to its logs, for the next rounds.
            const offsets = this.cache.get(JOB_GROUP)?.state.partitions;
            const appends = await this.appendAll(direct, (id) => offsets?.get(id)?.offset ?? -1);
            outcomes.push(appendOutcome<Row>(appends, false));
            round.more = true;
          }
          direct = undefined;
          // A round that found nothing says nothing, but a tick reports the watermark it computed.
          if (round.tick || outcome.commits.length > 0 || outcome.metrics.records > 0) outcomes.push(outcome);
          const epoch = outcome.commits[0]?.epoch;
          if (epoch !== undefined) committed = epoch;
          if (epoch !== undefined && epoch % this.cleanupEvery === 0)
            await this.cleanupLogs().catch(() => undefined);
          // A renew that keeps failing (throttled, say) ends the consume here, not in an error:
          // what this round committed stands, and the next invocation or tick goes on.
          if (!round.more || !(await this.retried(() => lease.renew(committed)).catch(() => false))) break;
        }
      } finally {
        await lease.release(committed);
      }
      if (!(await this.retried(() => this.logsPending()))) break;
    }
    this.ownSegments.clear();
    return combine(outcomes);
  }

  /** The records of the partition logs above the group's committed offsets, one group per partition. */
  private async readLogs(
    loaded: LoadedGroup,
    budget: number,
  ): Promise<{ groups: KafkaEventRecord[][]; more: boolean }> {
    const pending = pendingSegments(
      await listLogHeads(this.stores.heads, this.jobId),
      (id) => loaded.state.partitions.get(id)?.offset ?? -1,
    );
    // Whole segments, taken across partitions in turn so that no partition's watermark is left
    // behind (the job watermark waits for the slowest).
    const chosen = pending.map(() => [] as LogSegment[]);
    let left = budget;
    let more = false;
    for (let i = 0; ; i++) {
      let any = false;
      for (let j = 0; j < pending.length; j++) {
        const segment = pending[j]!.segments[i];
        if (segment === undefined) continue;
        if (left <= 0) {
          more = true;
          continue;
        }
        any = true;
        chosen[j]!.push(segment);
        left -= segment.records;
      }
      if (!any) break;
    }
    const read = await Promise.all(
      chosen
        .flat()
        .map((segment) => this.ownSegments.get(segment.key) ?? readSegment(this.stores.checkpoints, segment)),
    );
    const groups: KafkaEventRecord[][] = [];
    let next = 0;
    for (const segments of chosen) {
      if (segments.length === 0) continue;
      const records: KafkaEventRecord[] = [];
      for (let k = 0; k < segments.length; k++) for (const r of read[next++]!) records.push(r);
      groups.push(records);
    }
    return { groups, more };
  }

  /** Whether any partition log holds records the job group has not committed. */
  private async logsPending(): Promise<boolean> {
    if (this.cache.has(JOB_GROUP)) {
      const logHeads = await listLogHeads(this.stores.heads, this.jobId);
      // Offsets as of this process's last commit or load, taken after the await: a state still
      // in the cache at this point is committed (a batch running on this processor meanwhile
      // takes it out before changing it). A later commit elsewhere only consumed more, so this
      // can only see as pending what another process consumed meanwhile (the next round then
      // finds nothing), never miss an append. No read of the head.
      const cached = this.cache.get(JOB_GROUP);
      if (cached !== undefined)
        return pendingSegments(logHeads, (id) => cached.state.partitions.get(id)?.offset ?? -1).length > 0;
    }
    const [logHeads, job] = await Promise.all([
      listLogHeads(this.stores.heads, this.jobId),
      this.stores.heads.get(headKey(this.jobId, JOB_GROUP)),
    ]);
    const offsets = job === undefined ? undefined : decodeHead(job).value.offsets;
    return pendingSegments(logHeads, (id) => offsets?.[id]?.[0] ?? -1).length > 0;
  }

  /** Deletes log segments the job group has consumed, and orphans of failed appends. */
  private async cleanupLogs(): Promise<number> {
    if (this.logs === undefined) return 0;
    const [logHeads, job] = await Promise.all([
      listLogHeads(this.stores.heads, this.jobId),
      this.stores.heads.get(headKey(this.jobId, JOB_GROUP)),
    ]);
    const offsets = job === undefined ? undefined : decodeHead(job).value.offsets;
    return cleanupLogSegments(this.stores.checkpoints, this.jobId, logHeads, {
      consumed: (id) => offsets?.[id]?.[0] ?? -1,
    });
  }

  /**
   * Reads the group's head (or takes `given`, read a moment ago) and, unless the warm cache holds
   * that version, its state.
   */
  private async load(group: string, given?: Head): Promise<LoadedGroup> {
    const head = given ?? (await readOrCreateHead(this.stores.heads, this.jobId, group));
    const cached = this.cache.get(group);
    const { lineage, manifest: manifestKey } = head.value;
    // The version alone is not enough: a head deleted and created again restarts its versions.
    if (
      cached !== undefined &&
      cached.version === head.version &&
      cached.lineage === lineage &&
      cached.manifestKey === manifestKey
    )
      return cached;
    if (manifestKey === null) return emptyGroup(head, this.freshState(group));
    const manifest = await this.reader.manifestOf(this.jobId, group, head);
    this.remember(group, manifestKey, manifest);
    // Another process committed since this one's last commit (a Lambda container whose group
    // others consume too): its warm state catches up with the deltas committed since, instead of
    // reading every base again. The load takes its partitions over, so it leaves the cache.
    const behind =
      cached !== undefined && cached.lineage === lineage && cached.epoch < head.value.epoch
        ? cached
        : undefined;
    if (behind !== undefined) this.cache.delete(group);
    return loadCommittedState(this.reader, head, manifestKey, manifest, this.freshState(group), behind);
  }

  /**
   * The processing time a batch of the group runs at: what idleness (withIdleness) measures. It
   * is the wall clock, except that the time since the group's last commit counts for at most half
   * the idleness timeout. So a stop of the job (an outage, a redeploy, a killed local run) never
   * makes a partition idle by itself, while a partition that misses deliveries across two or more
   * batches still goes idle, however sparse the traffic. Flink's processing time likewise does not
   * advance while a job is down.
   */
  private processingTime(loaded: LoadedGroup): number {
    const wall = this.clock();
    const idleness = this.job.plan.watermarks.idlenessMs;
    const last = loaded.manifest;
    if (idleness === undefined || last === undefined) return wall;
    return last.processingTime + Math.min(Math.max(0, wall - last.createdAt), idleness / 2);
  }

  /**
   * A tick that changed nothing still commits its processing time when the downtime rule held it
   * back (more than half the idleness timeout of wall-clock time since the group's last commit)
   * and a partition of the group may still go idle: the next tick then counts from it. Without
   * this, a group whose partitions all went silent within half the timeout of its last commit
   * would never reach the timeout. At most one such commit per half timeout, and none once every
   * partition is idle.
   */
  private tickMustRecordTime(loaded: LoadedGroup, input: (readonly KafkaEventRecord[])[] | 'drain'): boolean {
    const idleness = this.job.plan.watermarks.idlenessMs;
    if (input === 'drain' || input.length > 0 || idleness === undefined || loaded.manifest === undefined)
      return false;
    if (this.clock() - loaded.manifest.createdAt <= idleness / 2) return false;
    for (const p of loaded.state.partitions.values()) if (!p.idle) return true;
    return false;
  }

  private freshState(group: string): EngineState {
    if (group === JOB_GROUP) return newEngineState(this.options.partitions);
    const ref = this.options.partitions?.find((p) => safeName(partitionId(p.topic, p.partition)) === group);
    return newEngineState(ref ? [ref] : []);
  }

  /** Stages, writes the manifest and commits the head. Throws if it did not commit. */
  private async commit(
    group: string,
    loaded: LoadedGroup,
    result: BatchResult<Row>,
    input: (readonly KafkaEventRecord[])[] | 'drain',
    changed: readonly ChangedPartition[],
    processingTime: number,
    beforeHeadWrite: (info: CommitInfo) => void,
  ): Promise<CommitInfo> {
    const epoch = loaded.epoch + 1;
    const { key, manifest, inline, stateBytes, chains } = await stageCheckpoint(this.stores, this.tables, {
      jobId: this.jobId,
      group,
      loaded,
      result,
      changed,
      input,
      jobName: this.job.name,
      processingTime,
      attempt: newAttemptId(this.clock()),
      clock: this.clock,
      maxDeltas: this.maxDeltas,
      maxInlineManifestChars: this.maxInlineManifestChars,
      maxInlineStateChars: this.maxInlineStateChars,
      maxInlineRowsChars: this.maxInlineRowsChars,
    });
    const info: CommitInfo = { group, epoch, manifest: key, publishes: manifest.publishes };
    beforeHeadWrite(info);
    const written = await writeHead(
      this.stores.heads,
      this.jobId,
      group,
      headFor(manifest, key, inline),
      loaded.version,
    );
    // Committed. The state is now exactly the checkpoint's, so it is the warm cache.
    this.stateBytesSinceCleanup.set(group, (this.stateBytesSinceCleanup.get(group) ?? 0) + stateBytes);
    const next: LoadedGroup = {
      version: written.version,
      lineage: loaded.lineage,
      epoch,
      manifestKey: key,
      manifest,
      inline: inline !== undefined,
      state: loaded.state,
      chains,
    };
    this.cache.set(group, next);
    this.remember(group, key, manifest);
    return info;
  }
}

/** The lease of a consume that must run regardless (a drain). */
const UNLEASED: HeldLease = { renew: async () => true, release: async () => undefined };

/** A consume round of the partition logs: its budget, and whether it left records for the next. */
interface LogRound {
  readonly tick: boolean;
  readonly roundRecords: number;
  more: boolean;
  /** The consumer's own batch, one list per partition, written to no log (the direct path). */
  readonly direct?: readonly (readonly KafkaEventRecord[])[];
  /** Whether the round's commit applied `direct` (false: it must go to the logs after all). */
  directTaken?: boolean;
  /**
   * The job group's head as the lease's taker read it a moment ago: the round's first try starts
   * from it instead of reading it again (one read and one round trip less). Stale only if a
   * process committed without the lease meanwhile; the commit's condition then fails, and the
   * next try reads the head.
   */
  readonly head?: Head;
}

/**
 * The appends of a batch as an outcome: records already logged or consumed count as redelivered;
 * appended ones count as records unless the consume that applied them reports them.
 */
function appendOutcome<Row>(appends: readonly LogAppend[], countAppended: boolean): CommitOutcome<Row> {
  let skipped = 0;
  let appended = 0;
  const commits: CommitInfo[] = [];
  for (const a of appends) {
    skipped += a.skipped;
    appended += a.appended;
    if (a.segment !== undefined)
      commits.push({ group: `log:${a.partition}`, epoch: a.epoch, manifest: a.segment.key, publishes: [] });
  }
  return {
    rows: [],
    late: [],
    deadLetters: [],
    metrics: {
      // The consume that applied the appended records counts them, when this process ran it.
      records: skipped + (countAppended ? appended : 0),
      redelivered: skipped,
      tombstones: 0,
      deduplicated: 0,
      late: 0,
      deadLetters: 0,
      rows: 0,
      // Neutral in combine's minimum: the caller sets the job watermark.
      watermark: Number.POSITIVE_INFINITY,
    },
    partitions: [],
    commits,
  };
}

function idlePartitions(state: EngineState): number {
  let idle = 0;
  for (const p of state.partitions.values()) if (p.idle) idle++;
  return idle;
}

/** A jittered pause before try `attempt` (2, 3, ...): 10 ms doubling, at most 1 s. */
function backoff(attempt: number): Promise<void> {
  return sleep(Math.random() * Math.min(1000, 10 * 2 ** (attempt - 2)));
}

/**
 * Stops the retries at a failure retrying cannot heal (no permission, a full disk): the same
 * batch would fail the same way every time. Nothing of an attempt is visible before its head
 * write, so giving up is as safe as a crash.
 */
function throwIfPermanent(error: unknown): void {
  const permanent = permanentStorageError(error);
  if (permanent !== undefined) throw permanent;
}

function positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new FloeError(`${name} must be a whole number of at least 1, got ${value}.`);
  }
  return value;
}

function nonNegative(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new FloeError(`${name} must be a whole number of at least 0, got ${value}.`);
  }
  return value;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
