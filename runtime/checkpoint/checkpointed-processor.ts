/**
 * The exactly-once commit protocol: every micro-batch of a commit group becomes one atomic
 * checkpoint, made visible by one conditional write of the group's head. See "Exactly-once
 * commits" in docs/design.md for the invariants and the crash analysis.
 *
 * One batch of a group:
 * 1. Read the head (version v). Unless this process committed v itself (warm), load the state
 *    objects the head's manifest names (per partition a base and its deltas, in parallel) and
 *    apply each partition's deltas to its base in order. If the head's manifest may not be
 *    published yet, publish it (idempotent, by snapshot id).
 * 2. Run the engine. Records at or below the committed offsets are skipped. If nothing changed,
 *    stop: a redelivery commits nothing.
 * 3. Stage, in parallel: one Parquet file per output table with rows, and for each partition
 *    whose state changed one state object: a delta against its committed state, or a new base
 *    (its whole state) once the deltas since its base would outweigh it or number more than
 *    `maxDeltas` (state-delta.ts). Names are unique to this attempt; no reader looks at them.
 * 4. Write the checkpoint manifest (immutable, unique name).
 * 5. Commit: put the head naming the manifest, on condition that its version is still v. This
 *    single write is the commit point; a concurrent or stale writer fails its condition.
 * 6. Publish each table's files with the snapshot id the manifest fixed, and move the table's
 *    mark for the group's history to the epoch (found again even after the snapshot expired),
 *    then return.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  BatchMetrics,
  BatchResult,
  DeadLetter,
  EmittedRow,
  LateRecord,
  PartitionProgress,
} from '../engine/batch-result.ts';
import { Engine } from '../engine/engine.ts';
import { type EngineState, newEngineState, type PartitionRef, partitionId } from '../engine/state.ts';
import { decodePartition, encodePartition } from '../engine/state-codec.ts';
import { FloeError } from '../errors.ts';
import { appendFiles, TableCache } from '../iceberg/append-files.ts';
import type { DataFile } from '../iceberg/data-file.ts';
import { writeDataFile } from '../iceberg/data-file.ts';
import { dataFileKey } from '../iceberg/table-layout.ts';
import type { Job } from '../job/job.ts';
import type { Columns, RowOf, Table } from '../sink/table.ts';
import type { KafkaEvent, KafkaEventRecord } from '../source/kafka-event.ts';
import type { CheckpointStores } from '../stores/checkpoint-stores.ts';
import { permanentStorageError } from '../stores/object-store.ts';
import { ConditionFailedError, type JsonValue, type VersionedItem } from '../stores/state-store.ts';
import { type CleanupReport, cleanupGroup } from './cleanup.ts';
import {
  dataFileName,
  headKey,
  headPrefix,
  manifestKey,
  newAttemptId,
  safeName,
  snapshotIdFor,
  stateDeltaKey,
  stateKey,
} from './layout.ts';
import {
  addCounts,
  type CheckpointCounts,
  type CheckpointManifest,
  decodeManifest,
  encodeManifest,
  type PartitionCheckpoint,
  type TablePublish,
  watermarkFromJson,
  watermarkToJson,
  zeroCounts,
} from './manifest.ts';
import { deadLetterRow, deadLetterTable, lateRow, lateTable } from './side-outputs.ts';
import {
  applyDelta,
  DEFAULT_MAX_DELTAS,
  diffPartition,
  imageOf,
  type PartitionDiff,
  type PartitionImage,
  shouldWriteBase,
} from './state-delta.ts';

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
  /** Run cleanup after every this many commits of a group. @default half of keepCheckpoints */
  readonly cleanupEvery?: number;
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
}

/** What the head item of a group holds. */
interface HeadValue {
  readonly lineage: string;
  /** 0 until the group's first commit. */
  readonly epoch: number;
  /** The latest checkpoint manifest; null until the first commit. */
  readonly manifest: string | null;
}

/** A group's committed state, as loaded or as left by this process's last commit. */
interface LoadedGroup {
  /** The head item's version. */
  readonly version: number;
  readonly lineage: string;
  readonly epoch: number;
  readonly manifestKey: string | null;
  readonly manifest: CheckpointManifest | undefined;
  readonly state: EngineState;
  /** Each partition's committed state: its image, to diff against, and its objects. */
  readonly chains: Map<string, PartitionChain>;
  /** True when this process knows the head's manifest is published. */
  published: boolean;
}

/** A partition's committed state: a base object and deltas, and its image to diff against. */
interface PartitionChain {
  readonly image: PartitionImage;
  readonly base: string;
  readonly baseBytes: number;
  readonly deltas: readonly string[];
  readonly deltaBytes: number;
}

/** A partition whose state changed in a batch, and its diff against the committed state. */
interface ChangedPartition {
  readonly id: string;
  readonly diff: PartitionDiff;
}

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

const DEFAULT_KEEP = 10;
const DEFAULT_GRACE_MS = 15 * 60 * 1000;
const DEFAULT_ATTEMPTS = 8;
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
  private readonly graceMs: number;
  private readonly maxAttempts: number;
  private readonly maxDeltas: number;
  private readonly tables: Map<string, Table<Columns>>;
  private readonly rowsTable: Table<Columns>;
  private readonly lateTable: Table<Columns>;
  private readonly deadLetterTable: Table<Columns>;
  /** Warm state per group, valid while the head's version equals the cached version. */
  private readonly cache = new Map<string, LoadedGroup>();
  /** What this process's last append to each table left, to skip re-reading it (TableCache). */
  private readonly tableCaches = new Map<string, TableCache>();
  /** The newest manifests of each group this process read or wrote, for cleanup's chain walk. */
  private readonly recentManifests = new Map<string, Map<string, CheckpointManifest>>();
  /** Groups with a batch in progress in this process: one at a time each. */
  private readonly busy = new Map<string, Promise<unknown>>();

  constructor(
    readonly job: Job<Row>,
    private readonly options: CheckpointedProcessorOptions,
  ) {
    this.engine = new Engine(job);
    this.stores = options.stores;
    this.clock = options.clock ?? Date.now;
    this.jobId = safeName(job.name);
    this.keep = positive('keepCheckpoints', options.keepCheckpoints ?? DEFAULT_KEEP);
    this.cleanupEvery = positive(
      'cleanupEvery',
      options.cleanupEvery ?? Math.max(1, Math.floor(this.keep / 2)),
    );
    this.graceMs = options.orphanGraceMs ?? DEFAULT_GRACE_MS;
    this.maxAttempts = positive('maxAttempts', options.maxAttempts ?? DEFAULT_ATTEMPTS);
    this.maxDeltas = positive('maxDeltas', options.maxDeltas ?? DEFAULT_MAX_DELTAS);
    this.rowsTable = job.plan.table;
    this.lateTable = lateTable(job as Job<unknown>) as unknown as Table<Columns>;
    this.deadLetterTable = deadLetterTable(job as Job<unknown>) as unknown as Table<Columns>;
    this.tables = new Map([this.rowsTable, this.lateTable, this.deadLetterTable].map((t) => [t.name, t]));
  }

  /** The tables this job writes: its rows, the late records and the dead letters. */
  get tableNames(): { readonly rows: string; readonly late: string; readonly deadLetters: string } {
    return { rows: this.rowsTable.name, late: this.lateTable.name, deadLetters: this.deadLetterTable.name };
  }

  /** The commit group of a partition: itself when windows fire per partition, else the whole job. */
  groupOf(topic: string, partition: number): string {
    return this.job.plan.scope === 'partition' ? safeName(partitionId(topic, partition)) : JOB_GROUP;
  }

  /**
   * Processes one Lambda Kafka event: each commit group's records are one atomic commit. Returns
   * after every commit and publish; a throw means some group did not commit, and redelivering
   * the same event is safe.
   */
  async process(event: KafkaEvent): Promise<CommitOutcome<Row>> {
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
    return combine(outcomes);
  }

  /**
   * Ends a bounded input (a local run): the watermark of every group goes to +infinity, every
   * window fires, and the result commits. Lambda never drains: a Kafka topic has no end.
   */
  async drain(): Promise<CommitOutcome<Row>> {
    const groups = new Set((await this.heads()).map((h) => h.group));
    const outcomes = await Promise.all(
      [...groups].map((group) => this.exclusive(group, () => this.commitGroup(group, 'drain'))),
    );
    return combine(outcomes);
  }

  /** What the heads say is committed. */
  async committed(): Promise<CommittedProgress> {
    // Listed and read again on a failure: a concurrent cleanup may delete a manifest just listed.
    const manifests = await this.retried(async () => {
      const keys = (await this.heads()).flatMap((h) => (h.value.manifest === null ? [] : [h.value.manifest]));
      return Promise.all(keys.map((key) => this.readManifest(key)));
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

  /** Deletes old checkpoints and orphaned objects of every group (also run every few commits). */
  async cleanup(): Promise<CleanupReport> {
    const reports = await Promise.all((await this.heads()).map((h) => this.cleanupGroup(h.group)));
    return reports.reduce(
      (a, b) => ({
        manifests: a.manifests + b.manifests,
        states: a.states + b.states,
        dataFiles: a.dataFiles + b.dataFiles,
      }),
      { manifests: 0, states: 0, dataFiles: 0 },
    );
  }

  private cleanupGroup(group: string): Promise<CleanupReport> {
    return cleanupGroup(this.stores, {
      job: this.jobId,
      group,
      keep: this.keep,
      graceMs: this.graceMs,
      now: this.clock(),
      tables: [...this.tables.keys()],
      known: (key) => this.recentManifests.get(group)?.get(key),
    });
  }

  /** Remembers a manifest of the group (immutable), keeping the newest `keepCheckpoints`. */
  private remember(group: string, key: string, manifest: CheckpointManifest): void {
    const recent = this.recentManifests.get(group) ?? new Map<string, CheckpointManifest>();
    this.recentManifests.set(group, recent);
    recent.set(key, manifest);
    for (const old of recent.keys()) {
      if (recent.size <= this.keep) break;
      recent.delete(old);
    }
  }

  private async heads(): Promise<{ group: string; value: HeadValue }[]> {
    const prefix = headPrefix(this.jobId);
    const items = await this.retried(() => this.stores.heads.list(prefix));
    return items.map((item) => ({
      group: item.key.slice(prefix.length),
      value: item.value as unknown as HeadValue,
    }));
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
    input: (readonly KafkaEventRecord[])[] | 'drain',
  ): Promise<CommitOutcome<Row>> {
    let lastError: unknown;
    // The last attempt that reached its head write: if that write landed but its answer was lost,
    // the reloaded head names its manifest, and the batch's result is that attempt's.
    let tried: { readonly info: CommitInfo; readonly result: BatchResult<Row> } | undefined;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      if (attempt > 1) await backoff(attempt);
      let loaded: LoadedGroup;
      try {
        loaded = await this.load(group);
        await this.ensurePublished(loaded);
      } catch (error) {
        this.cache.delete(group);
        throwIfPermanent(error);
        lastError = error;
        continue;
      }
      if (tried !== undefined && loaded.manifestKey === tried.info.manifest) {
        this.cache.set(group, loaded);
        return { ...tried.result, commits: [tried.info] };
      }
      // From here the engine changes the state in place: any failure drops the cache.
      this.cache.delete(group);
      if (input === 'drain' && loaded.epoch === 0) return combine([]);
      const now = this.processingTime(loaded);
      const watermarkBefore = loaded.state.jobWatermark;
      const result =
        input === 'drain'
          ? this.engine.drain(loaded.state, now)
          : this.engine.processBatch(loaded.state, input, { now });

      const changed: ChangedPartition[] = [];
      for (const [id, p] of loaded.state.partitions) {
        const diff = diffPartition(loaded.chains.get(id)?.image, p);
        if (diff.changed) changed.push({ id, diff });
      }
      const outputs = result.rows.length + result.late.length + result.deadLetters.length;
      if (changed.length === 0 && outputs === 0 && loaded.state.jobWatermark === watermarkBefore) {
        // Nothing to commit (a redelivery, or a drain after the end): the loaded state is still
        // exactly what is committed, so it stays warm.
        this.cache.set(group, loaded);
        return { ...result, commits: [] };
      }
      try {
        const commit = await this.commit(group, loaded, result, changed, input === 'drain', now, (info) => {
          tried = { info, result };
        });
        // Housekeeping: the batch has committed, so a failed cleanup must not fail it (a retry
        // would find its records applied and report nothing). The next cleanup catches up.
        if (commit.epoch % this.cleanupEvery === 0) await this.cleanupGroup(group).catch(() => undefined);
        return { ...result, commits: [commit] };
      } catch (error) {
        this.cache.delete(group);
        throwIfPermanent(error);
        lastError = error;
      }
    }
    throw new FloeError(
      `Job ${this.job.name}, commit group ${group}: the batch did not complete after ${this.maxAttempts} tries; the last error was: ${describe(lastError)}. Redeliver the batch (Lambda does): if it did not commit, nothing of it is visible; if it did, its records are skipped and its files are published.`,
      { cause: lastError },
    );
  }

  /** Reads the group's head and, unless the warm cache holds that version, its state. */
  private async load(group: string): Promise<LoadedGroup> {
    const head = (await this.stores.heads.get(headKey(this.jobId, group))) ?? (await this.createHead(group));
    const cached = this.cache.get(group);
    const value = head.value as unknown as HeadValue;
    // The version alone is not enough: a head deleted and created again restarts its versions.
    if (
      cached !== undefined &&
      cached.version === head.version &&
      cached.lineage === value.lineage &&
      cached.manifestKey === value.manifest
    )
      return cached;
    if (value.manifest === null) {
      return {
        version: head.version,
        lineage: value.lineage,
        epoch: 0,
        manifestKey: null,
        manifest: undefined,
        state: this.freshState(group),
        chains: new Map(),
        published: true,
      };
    }
    const manifest = await this.readManifest(value.manifest);
    this.remember(group, value.manifest, manifest);
    const entries = Object.entries(manifest.partitions);
    // Every base and delta at once: a cold load is one round of reads.
    const texts = await Promise.all(
      entries.map(([, p]) => Promise.all([p.state, ...p.deltas].map((key) => this.readText(key)))),
    );
    const state = this.freshState(group);
    const chains = new Map<string, PartitionChain>();
    entries.forEach(([id, p], i) => {
      const [baseText, ...deltaTexts] = texts[i]!;
      const partition = decodePartition(baseText!);
      for (const text of deltaTexts) applyDelta(partition, text);
      state.partitions.set(id, partition);
      chains.set(id, {
        image: imageOf(partition),
        base: p.state,
        baseBytes: byteLength(baseText!),
        deltas: p.deltas,
        deltaBytes: deltaTexts.reduce((sum, text) => sum + byteLength(text), 0),
      });
    });
    state.jobWatermark = watermarkFromJson(manifest.watermark);
    return {
      version: head.version,
      lineage: value.lineage,
      epoch: value.epoch,
      manifestKey: value.manifest,
      manifest,
      state,
      chains,
      published: false,
    };
  }

  /**
   * Creates a group's head, with the lineage of its history, before its first commit: of
   * concurrent first invocations one creates it and all use its lineage, so every data file a
   * first attempt stages carries the lineage cleanup looks for.
   */
  private async createHead(group: string): Promise<VersionedItem> {
    const key = headKey(this.jobId, group);
    const value: HeadValue = { lineage: randomUUID(), epoch: 0, manifest: null };
    try {
      return await this.stores.heads.put(key, value as unknown as JsonValue, { absent: true });
    } catch (error) {
      if (!(error instanceof ConditionFailedError)) throw error;
      const created = await this.stores.heads.get(key);
      if (created === undefined) throw error;
      return created;
    }
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

  private freshState(group: string): EngineState {
    if (group === JOB_GROUP) return newEngineState(this.options.partitions);
    const ref = this.options.partitions?.find((p) => safeName(partitionId(p.topic, p.partition)) === group);
    return newEngineState(ref ? [ref] : []);
  }

  /**
   * Publishes the head's manifest if this process does not know it is published: the commit
   * that wrote it may have crashed before publishing. Each append is a no-op when its snapshot id
   * is already in the table.
   */
  private async ensurePublished(loaded: LoadedGroup): Promise<void> {
    if (loaded.published || loaded.manifest === undefined) return;
    await this.publish(loaded.manifest);
    loaded.published = true;
  }

  private async publish(manifest: CheckpointManifest): Promise<void> {
    await Promise.all(
      manifest.publishes.map((p) => {
        const table = this.tables.get(p.table);
        if (table === undefined) {
          throw new FloeError(
            `Checkpoint ${manifest.group}/${manifest.epoch} of job ${manifest.job} publishes to table ${p.table}, which this job does not write. Was the job's table renamed? Publish it with the old job version, or start from a new run directory.`,
          );
        }
        return appendFiles(this.stores.catalog, this.stores.warehouse, table.name, table, p.files, {
          snapshotId: BigInt(p.snapshotId),
          cache: this.tableCache(table.name),
          // A group publishes its epochs in order, so once the table's mark for this history
          // reaches the epoch, the publish happened, even if its snapshot has since expired.
          mark: { key: `floe.published.${manifest.lineage}.${manifest.group}`, value: manifest.epoch },
          summary: {
            'floe.job': manifest.job,
            'floe.commit-group': manifest.group,
            'floe.epoch': String(manifest.epoch),
            'floe.lineage': manifest.lineage,
          },
        });
      }),
    );
  }

  /** Stages, writes the manifest, commits the head and publishes. Throws if it did not commit. */
  private async commit(
    group: string,
    loaded: LoadedGroup,
    result: BatchResult<Row>,
    changed: readonly ChangedPartition[],
    drained: boolean,
    processingTime: number,
    beforeHeadWrite: (info: CommitInfo) => void,
  ): Promise<CommitInfo> {
    const { jobId } = this;
    const epoch = loaded.epoch + 1;
    const attempt = newAttemptId(this.clock());
    const outputs: { table: Table<Columns>; output: TablePublish['output']; rows: RowOf<Columns>[] }[] = [
      { table: this.rowsTable, output: 'rows', rows: result.rows.map((r) => r.row as RowOf<Columns>) },
      { table: this.lateTable, output: 'late', rows: result.late.map(lateRow) as RowOf<Columns>[] },
      {
        table: this.deadLetterTable,
        output: 'dead-letters',
        rows: result.deadLetters.map(deadLetterRow) as RowOf<Columns>[],
      },
    ];
    const fileName = dataFileName(jobId, group, loaded.lineage, epoch, attempt);
    const encoder = new TextEncoder();
    // Each changed partition's next chain: a delta on its committed one, or a new base.
    const chains = new Map(loaded.chains);
    const staged = changed.map(({ id, diff }) => {
      const chain = loaded.chains.get(id);
      const delta = encoder.encode(diff.text);
      const sinceBase = chain && { ...chain, deltaCount: chain.deltas.length };
      if (chain !== undefined && !shouldWriteBase(sinceBase, delta.length, this.maxDeltas)) {
        const key = stateDeltaKey(jobId, group, id, epoch, attempt);
        chains.set(id, {
          ...chain,
          image: diff.image,
          deltas: [...chain.deltas, key],
          deltaBytes: chain.deltaBytes + delta.length,
        });
        return { key, bytes: delta };
      }
      const key = stateKey(jobId, group, id, epoch, attempt);
      const bytes = encoder.encode(encodePartition(loaded.state.partitions.get(id)!));
      chains.set(id, { image: diff.image, base: key, baseBytes: bytes.length, deltas: [], deltaBytes: 0 });
      return { key, bytes };
    });
    const [files] = await Promise.all([
      Promise.all(
        outputs.map(async (o): Promise<TablePublish | undefined> => {
          if (o.rows.length === 0) return undefined;
          const file: DataFile = await writeDataFile(
            this.stores.warehouse,
            o.table,
            o.rows,
            dataFileKey(o.table.name, fileName),
          );
          return {
            table: o.table.name,
            output: o.output,
            snapshotId: snapshotIdFor(loaded.lineage, group, epoch, o.table.name).toString(),
            files: [file],
            records: o.rows.length,
          };
        }),
      ),
      Promise.all(staged.map((o) => this.stores.checkpoints.put(o.key, o.bytes, { ifNoneMatch: '*' }))),
    ]);
    const publishes = files.filter((f): f is TablePublish => f !== undefined);

    const partitions: Record<string, PartitionCheckpoint> = {};
    for (const [id, p] of loaded.state.partitions) {
      const chain = chains.get(id)!;
      partitions[id] = {
        offset: p.offset,
        watermark: watermarkToJson(p.watermark),
        idle: p.idle,
        state: chain.base,
        deltas: chain.deltas,
      };
    }
    const counts = countsOf(result.metrics);
    const key = manifestKey(jobId, group, epoch, attempt);
    const manifest: CheckpointManifest = {
      format: 1,
      job: jobId,
      group,
      lineage: loaded.lineage,
      epoch,
      attempt,
      createdAt: this.clock(),
      processingTime,
      previous: loaded.manifestKey,
      watermark: watermarkToJson(loaded.state.jobWatermark),
      drained: drained || loaded.manifest?.drained === true,
      partitions,
      publishes,
      counts,
      totals: addCounts(loaded.manifest?.totals ?? zeroCounts(), counts),
    };
    await this.stores.checkpoints.put(key, encodeManifest(manifest), { ifNoneMatch: '*' });

    const info: CommitInfo = { group, epoch, manifest: key, publishes };
    beforeHeadWrite(info);
    const head: HeadValue = { lineage: loaded.lineage, epoch, manifest: key };
    const written = await this.stores.heads.put(headKey(jobId, group), head as unknown as JsonValue, {
      expectedVersion: loaded.version,
    });
    // Committed. The state is now exactly the checkpoint's, so it is the warm cache.
    const next: LoadedGroup = {
      version: written.version,
      lineage: loaded.lineage,
      epoch,
      manifestKey: key,
      manifest,
      state: loaded.state,
      chains,
      published: false,
    };
    this.cache.set(group, next);
    this.remember(group, key, manifest);
    await this.publish(manifest);
    next.published = true;
    return info;
  }

  private tableCache(name: string): TableCache {
    const cache = this.tableCaches.get(name) ?? new TableCache();
    this.tableCaches.set(name, cache);
    return cache;
  }

  private async readManifest(key: string): Promise<CheckpointManifest> {
    const bytes = await this.stores.checkpoints.get(key);
    if (bytes === undefined) {
      throw new FloeError(
        `Checkpoint manifest ${key} of job ${this.job.name} is missing, but a head names it. The checkpoint store lost an object it must keep; restore it or start from a new run directory.`,
      );
    }
    return decodeManifest(bytes, key);
  }

  private async readText(key: string): Promise<string> {
    const bytes = await this.stores.checkpoints.get(key);
    if (bytes === undefined) {
      throw new FloeError(
        `State object ${key} of job ${this.job.name} is missing, but the committed checkpoint names it. The checkpoint store lost an object it must keep; restore it or start from a new run directory.`,
      );
    }
    return new TextDecoder().decode(bytes);
  }
}

function byteLength(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

function countsOf(metrics: BatchMetrics): CheckpointCounts {
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

function combine<Row>(outcomes: readonly CommitOutcome<Row>[]): CommitOutcome<Row> {
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

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
