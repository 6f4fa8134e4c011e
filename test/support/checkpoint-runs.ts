/**
 * Small workloads for the commit protocol's tests (runtime/checkpoint/*.test.ts): generated
 * Nexmark bids on a few partitions, cut into Lambda events, run through a CheckpointedProcessor
 * over a run directory, and the resulting tables read back as Iceberg readers see them.
 */
import { localCheckpointStores } from '../../adapters/local/run-directory.ts';
import type { ExampleName } from '../../examples/index.ts';
import { EXAMPLE_JOBS } from '../../examples/index.ts';
import type { Bid } from '../../examples/nexmark/bid.ts';
import { generateBids } from '../../examples/nexmark/generator.ts';
import { bidRecord } from '../../examples/nexmark/topic.ts';
import {
  CheckpointedProcessor,
  type CheckpointedProcessorOptions,
} from '../../runtime/checkpoint/checkpointed-processor.ts';
import { CheckpointReader } from '../../runtime/checkpoint/committed-state.ts';
import { decodeHead } from '../../runtime/checkpoint/head.ts';
import { headKey, headPrefix } from '../../runtime/checkpoint/layout.ts';
import type { CheckpointManifest } from '../../runtime/checkpoint/manifest.ts';
import {
  eventBatches,
  type Interleave,
  produceToTopic,
  type TopicLog,
} from '../../runtime/event-source-mapping/event-builder.ts';
import type { Job } from '../../runtime/job/job.ts';
import type { KafkaEvent } from '../../runtime/source/kafka-event.ts';
import type { CheckpointStores } from '../../runtime/stores/checkpoint-stores.ts';
import type { JsonValue, StateStore } from '../../runtime/stores/state-store.ts';
import { canonicalRows, readRunTables, type TablesLocation } from './iceberg-tables.ts';
import { EXAMPLE_REFERENCES } from './nexmark-reference.ts';
import { scratchRunDir } from './scratch.ts';

export const TOPIC = 'bids';

/**
 * A new run directory: in /dev/shm when it exists (tmpfs, where the stores' fsyncs cost nothing,
 * which keeps the fault-injection sweeps fast), else in the system's temporary directory.
 */
export function tempRunDir(label = 'floe-checkpoint-'): string {
  return scratchRunDir(label);
}

export interface Workload {
  readonly bids: readonly Bid[];
  readonly log: TopicLog;
  readonly events: readonly KafkaEvent[];
  readonly partitions: readonly { topic: string; partition: number }[];
}

export interface WorkloadOptions {
  readonly count?: number;
  readonly partitions?: number;
  readonly batchSize?: number;
  readonly interleave?: Interleave;
  readonly seed?: number;
  readonly eventsPerSecond?: number;
  /** Event-time disorder of the bids; above 5 s some bids are late. @default 4_000 (none late) */
  readonly maxDisorderMs?: number;
  /** Inserts a record that is not JSON before the bid with this index (a dead letter). */
  readonly malformedAt?: number;
}

/** The value of the record {@link WorkloadOptions.malformedAt} inserts. */
export const MALFORMED_VALUE = '{"auction":1007,"bidder":1003,"price":';

/** Bids spread over partitions by auction (the Kafka key), cut into events as the ESM would. */
export function workload(options: WorkloadOptions = {}): Workload {
  const bids = generateBids({
    seed: options.seed ?? 21,
    count: options.count ?? 300,
    eventsPerSecond: options.eventsPerSecond ?? 5,
    skew: 0.8,
    auctions: 30,
    bidders: 40,
    channels: 5,
    maxDisorderMs: options.maxDisorderMs ?? 4_000,
  });
  const count = options.partitions ?? 3;
  const records = bids.map(bidRecord);
  if (options.malformedAt !== undefined) {
    const at = bids[options.malformedAt]!;
    records.splice(options.malformedAt, 0, {
      key: String(at.auction),
      value: MALFORMED_VALUE,
      timestamp: at.dateTime,
    });
  }
  const log = produceToTopic(records, { topic: TOPIC, partitions: count });
  const events = [
    ...eventBatches(log, {
      batchSize: options.batchSize ?? 40,
      interleave: options.interleave ?? 'round-robin',
    }),
  ];
  const partitions = log.partitions.map((_, partition) => ({ topic: TOPIC, partition }));
  return { bids, log, events, partitions };
}

export function exampleJob(name: ExampleName): Job<unknown> {
  return EXAMPLE_JOBS[name] as Job<unknown>;
}

/** A processor as the local runner makes one: the topic's partitions known, a fixed clock. */
export function processorFor(
  name: ExampleName,
  stores: CheckpointStores,
  w: Workload,
  options: Partial<CheckpointedProcessorOptions> = {},
): CheckpointedProcessor<unknown> {
  return new CheckpointedProcessor(exampleJob(name), {
    clock: () => 1_000,
    partitions: w.partitions,
    ...options,
    stores,
  });
}

/** Delivers every event in order, then drains. */
export async function runToEnd(processor: CheckpointedProcessor<unknown>, events: readonly KafkaEvent[]) {
  for (const event of events) await processor.process(event);
  await processor.drain();
}

/** Every table of a run directory (or of any catalog and warehouse) as a canonical multiset of rows, by table name. */
export async function tablesOf(dir: TablesLocation): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const [name, contents] of await readRunTables(dir)) out[name] = canonicalRows(contents.rows);
  return out;
}

/** The rows the example must write for these bids, as a canonical multiset. */
export function referenceRows(name: ExampleName, bids: readonly Bid[]): string[] {
  return canonicalRows(EXAMPLE_REFERENCES[name](bids));
}

/** Rows that occur more than once in a canonical multiset. */
export function duplicates(rows: readonly string[]): string[] {
  const seen = new Set<string>();
  const dup = new Set<string>();
  for (const row of rows) {
    if (seen.has(row)) dup.add(row);
    seen.add(row);
  }
  return [...dup];
}

/** A clean run of the example over the workload, in a new run directory. */
export async function cleanRun(
  name: ExampleName,
  w: Workload,
): Promise<{ dir: string; stores: CheckpointStores }> {
  const dir = tempRunDir();
  const stores = localCheckpointStores(dir);
  await runToEnd(processorFor(name, stores, w), w.events);
  return { dir, stores };
}

/** The names of the tables a job writes: its rows, late records and dead letters. */
export function tableNamesOf(name: ExampleName): { rows: string; late: string; deadLetters: string } {
  const rows = exampleJob(name).plan.table.name;
  const ns = rows.slice(0, rows.lastIndexOf('.'));
  const id = name.replace(/[^A-Za-z0-9_]/g, '_');
  return { rows, late: `${ns}.${id}_late`, deadLetters: `${ns}.${id}_dead_letters` };
}

/**
 * What the job's row table must hold, from the brute-force reference: the rows of every bid
 * that is not in the late table (a late bid's window had fired; it is reported, not counted).
 */
export function expectedRowsTable(
  name: ExampleName,
  bids: readonly Bid[],
  tables: Readonly<Record<string, readonly string[]>>,
): string[] {
  const late = new Set(
    (tables[tableNamesOf(name).late] ?? []).map((row) => (JSON.parse(row) as { element: string }).element),
  );
  return referenceRows(
    name,
    bids.filter((bid) => !late.has(JSON.stringify(bid))),
  );
}

/**
 * Stores that remember every head their commits wrote, so a test can walk each group's whole
 * history of manifests: most of them live only in the head item until the next commit replaces
 * them, so the checkpoint store holds just the ones that name data files.
 */
export function recordingCommits(stores: CheckpointStores, jobId: string) {
  const written: { group: string; value: JsonValue }[] = [];
  const prefix = headPrefix(jobId);
  const heads: StateStore = {
    get: (key) => stores.heads.get(key),
    list: (p) => stores.heads.list(p),
    delete: (key, condition) => stores.heads.delete(key, condition),
    put: async (key, value, condition) => {
      const item = await stores.heads.put(key, value, condition);
      if (key.startsWith(prefix)) written.push({ group: key.slice(prefix.length), value: item.value });
      return item;
    },
  };
  const reader = new CheckpointReader(stores.checkpoints, jobId);
  return {
    stores: { ...stores, heads },
    /**
     * The group's commits in order (a fence rewriting a head is not one): each manifest, and
     * whether it was kept only in the head.
     */
    async commits(group: string): Promise<{ manifest: CheckpointManifest; inline: boolean }[]> {
      const commits: { manifest: CheckpointManifest; inline: boolean }[] = [];
      for (const w of written.filter((entry) => entry.group === group)) {
        const head = decodeHead({ key: headKey(jobId, group), version: 0, value: w.value });
        if (head.value.manifest === null || commits.at(-1)?.manifest.epoch === head.value.epoch) continue;
        const manifest = await reader.manifestOf(jobId, group, head);
        commits.push({ manifest, inline: head.value.inline !== undefined });
      }
      return commits;
    },
    /** The manifests of the group's commits, in commit order. */
    async manifests(group: string): Promise<CheckpointManifest[]> {
      return (await this.commits(group)).map((c) => c.manifest);
    },
  };
}
