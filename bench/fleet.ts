/**
 * A simulated Lambda fleet: one container per Kafka partition, each a CheckpointedProcessor on its
 * own connection to the shared simulated AWS stores (bench/simulated-aws.ts), processing its
 * partition's batches in order, one invocation at a time, as the Kafka event source mapping
 * invokes one function per partition. A failed invocation (the processor gave up after its own
 * retries) is invoked again with the same batch, as the ESM redelivers it. At the end a separate
 * container drains every group (windows fire), and the tables are read back from the simulated
 * warehouse and compared with the brute-force reference of the records the fleet processed.
 *
 * Publishing: each container's processor publishes on the table committer's schedule
 * (`publishIntervalMs`, in model time: the processors' clock is the simulation's), and when every
 * partition is done one container flushes (a publish round, as the ticker or the end of a run
 * would), measured with the fleet: its requests count, and its time ends the makespan.
 *
 * Time: an invocation's model duration is its wait on the stores (in model time, see
 * bench/simulated-aws.ts) plus everything else it spent (CPU, the processor's backoff) as
 * measured. With more invocations in flight than cores, "everything else" includes waiting for a core: `cpuLoad` says when the machine, not the
 * design, bounds a figure.
 */
import { type ParquetParsers, parquetReadObjects } from 'hyparquet';
import { EXAMPLE_JOBS, type ExampleName } from '../examples/index.ts';
import type { Bid } from '../examples/nexmark/bid.ts';
import { generateBids } from '../examples/nexmark/generator.ts';
import { bidTopic } from '../examples/nexmark/topic.ts';
import { CheckpointedProcessor } from '../runtime/checkpoint/checkpointed-processor.ts';
import { decodeHead } from '../runtime/checkpoint/head.ts';
import { headKey, headPrefix, safeName } from '../runtime/checkpoint/layout.ts';
import { eventBatches } from '../runtime/event-source-mapping/event-builder.ts';
import { keyInStore, scanTable } from '../runtime/iceberg/table-scan.ts';
import type { Job } from '../runtime/job/job.ts';
import type { KafkaEvent } from '../runtime/source/kafka-event.ts';
import {
  addRequestCounts,
  meterRequests,
  NO_REQUESTS,
  type RequestCounts,
} from '../runtime/stores/request-meter.ts';
import { canonicalRows } from '../test/support/iceberg-tables.ts';
import { EXAMPLE_REFERENCES } from '../test/support/nexmark-reference.ts';
import { addConflicts, type ConflictCounts, meterConflicts, NO_CONFLICTS } from './conflict-meter.ts';
import { SimulatedAws, type SimulatedAwsConfig, type SimulatedUsage } from './simulated-aws.ts';

export const FLEET_TOPIC = 'bids';

export interface FleetOptions {
  readonly example: ExampleName;
  readonly partitions: number;
  /** Each partition processes at most this many batches (fewer if its log is shorter). */
  readonly batchesPerPartition: number;
  /** Records per batch (the ESM's BatchSize). @default 100 */
  readonly batchSize?: number;
  /** Event-time rate of the whole topic, bids per second. @default 50 per partition (a batch of 100 = 2 s) */
  readonly eventsPerSecond?: number;
  readonly sim?: Partial<SimulatedAwsConfig>;
  /** Seeds the bids. @default 5 */
  readonly seed?: number;
  /** Distinct auctions (the Kafka key). @default max(1,000, 20 per partition) */
  readonly auctions?: number;
  /** Stop starting new batches after this much wall time; started ones still complete. */
  readonly wallCapMs?: number;
  /**
   * Paced: partition p's batch k is delivered no earlier than (k + 1 + p / partitions) × this many
   * model ms after the start (a live topic at the ESM's batching window, the partitions' pollers
   * staggered evenly). @default - a backlog: no waiting
   */
  readonly intervalModelMs?: number;
  /** Drain, read the tables and compare them with the reference. @default true */
  readonly check?: boolean;
  /** Called after each completed batch. */
  readonly onProgress?: (done: number, total: number) => void;
  /**
   * For a job whose windows merge partitions: partition logs (each partition appends, the job
   * group consumes them; the Lambda handler's default) or every batch through the job group's
   * head. @default true
   */
  readonly partitionLogs?: boolean;
  /** With partition logs: the processor's consumeIntervalMs. @default 0 */
  readonly consumeIntervalMs?: number;
  /** The processor's maxInlineStateChars. @default the processor's */
  readonly maxInlineStateChars?: number;
  /** The processors' publish interval, in model ms. @default - the processor's default */
  readonly publishIntervalMs?: number;
  /** After the final flush, one cleanup of every group, its requests counted (the cost bench). @default false */
  readonly finalCleanup?: boolean;
  /**
   * After everything else is counted, one `recent` data-file sweep of every group, counted apart
   * (`dataFileSweepLists`): processors sweep every DATA_FILE_SWEEP_EVERY-th cleanup, rarer than a
   * run of the cost bench, so it prices that share of a steady state from this. @default false
   */
  readonly countDataFileSweep?: boolean;
}

export interface ExactlyOnceCheck {
  readonly ok: boolean;
  readonly expectedRows: number;
  readonly actualRows: number;
  readonly missing: number;
  readonly extra: number;
  readonly lateRecords: number;
  readonly deadLetters: number;
}

export interface FleetResult {
  readonly example: ExampleName;
  readonly scope: 'partition' | 'job';
  /** How batches commit: per partition group, through partition logs, or through one shared head. */
  readonly commit: 'partition groups' | 'partition logs' | 'shared head';
  readonly partitions: number;
  readonly batchSize: number;
  readonly records: number;
  /**
   * Records the job group had consumed when the last invocation returned (with partition logs;
   * otherwise every record): the throughput counts these, not records still waiting in a log.
   */
  readonly consumedRecords: number;
  readonly batches: number;
  /** Batches not started because the wall-clock cap was reached. */
  readonly skippedBatches: number;
  readonly invocations: number;
  readonly failedInvocations: number;
  /**
   * Batches done again: engine runs beyond one per batch (a lost head race or a failed store call
   * redoes the batch); with partition logs, appends whose log head write lost a race.
   */
  readonly redoneBatches: number;
  /** With partition logs: consume rounds of the job group, and those that lost the head race to another. */
  readonly consumeRounds: number;
  readonly redoneRounds: number;
  readonly commits: number;
  /** Publish rounds that ran: after commits (lease taken), and the final flush. */
  readonly rounds: number;
  /** Model ms of the final flush (included in the makespan). */
  readonly flushModelMs: number;
  readonly conflicts: ConflictCounts;
  /** Model ms of each invocation (failed ones included), in completion order. */
  readonly invocationModelMs: readonly number[];
  /** Model ms each invocation waited on the stores. */
  readonly ioModelMs: readonly number[];
  /** The longest partition's sum of invocation model times (the backlog's makespan). */
  readonly makespanModelMs: number;
  readonly wallMs: number;
  /** Process CPU ms during the fleet's run (not the drain or the check). */
  readonly cpuMs: number;
  /** cpuMs ÷ (wallMs × 2 cores): near 1, the machine bounds the figures. */
  readonly cpuLoad: number;
  /** Requests of the fleet's invocations (not the drain). */
  readonly requests: RequestCounts;
  readonly usage: SimulatedUsage;
  readonly warehouseBytes: number;
  /** S3 LISTs of one data-file sweep of every group (with countDataFileSweep; else 0). */
  readonly dataFileSweepLists: number;
  readonly check?: ExactlyOnceCheck;
}

const CORES = 2;

export async function runFleet(options: FleetOptions): Promise<FleetResult> {
  const { example, partitions } = options;
  const batchSize = options.batchSize ?? 100;
  const job = EXAMPLE_JOBS[example] as Job<unknown>;
  const scope = job.plan.scope === 'partition' ? 'partition' : 'job';
  const logs = scope === 'job' && options.partitionLogs !== false;
  const sim = new SimulatedAws({ seed: options.seed ?? 5, ...options.sim });
  const refs = Array.from({ length: partitions }, (_, partition) => ({ topic: FLEET_TOPIC, partition }));

  // The input: bids keyed by auction, each partition's first batches.
  const wanted = partitions * options.batchesPerPartition * batchSize;
  const bids = generateBids({
    count: Math.ceil(wanted * 1.15) + batchSize,
    seed: options.seed ?? 5,
    eventsPerSecond: options.eventsPerSecond ?? 50 * partitions,
    auctions: options.auctions ?? Math.max(1_000, 20 * partitions),
    bidders: 1_000,
    skew: 0,
    maxDisorderMs: 4_000,
  });
  const log = bidTopic(bids, partitions, FLEET_TOPIC);
  const work: KafkaEvent[][] = log.partitions.map((records, p) => {
    const only = { topic: FLEET_TOPIC, partitions: log.partitions.map((_, i) => (i === p ? records : [])) };
    const events: KafkaEvent[] = [];
    for (const event of eventBatches(only, { batchSize, interleave: 'sequential' })) {
      if (events.length >= options.batchesPerPartition) break;
      events.push(event);
    }
    return events;
  });
  const total = work.reduce((sum, events) => sum + events.length, 0);

  const invocationModelMs: number[] = [];
  const ioModelMs: number[] = [];
  const processed: KafkaEvent[] = [];
  let requests = NO_REQUESTS;
  let conflicts = NO_CONFLICTS;
  let failedInvocations = 0;
  let engineRuns = 0;
  let commits = 0;
  let rounds = 0;
  let done = 0;
  let skipped = 0;
  const partitionModelMs = new Array<number>(partitions).fill(0);

  const wallStart = performance.now();
  const cpuStart = process.cpuUsage();
  const modelStart = sim.now();
  // The processors' clock: model time (the publish interval is in model time), from today.
  const clockBase = Date.now();
  const clock = () => clockBase + Math.round(sim.now());
  const containers = work.map(() => {
    const connection = sim.connect();
    const conflictMeter = meterConflicts(connection.stores);
    const meter = meterRequests(conflictMeter.stores);
    const processor = new CheckpointedProcessor(job, {
      stores: meter.stores,
      partitions: refs,
      clock,
      partitionLogs: logs,
      consumeIntervalMs: options.consumeIntervalMs ?? 0,
      ...(options.maxInlineStateChars === undefined
        ? {}
        : { maxInlineStateChars: options.maxInlineStateChars }),
      ...(options.publishIntervalMs === undefined ? {} : { publishIntervalMs: options.publishIntervalMs }),
    });
    return { connection, conflictMeter, meter, processor };
  });
  await Promise.all(
    work.map(async (events, p) => {
      const { connection, processor } = containers[p]!;
      const engine = processor.engine;
      const processBatch = engine.processBatch.bind(engine);
      engine.processBatch = (...args) => {
        engineRuns++;
        return processBatch(...args);
      };
      for (const [k, event] of events.entries()) {
        if (options.wallCapMs !== undefined && performance.now() - wallStart > options.wallCapMs) {
          skipped += events.length - k;
          break;
        }
        if (options.intervalModelMs !== undefined) {
          // Partitions' pollers are independent: staggered evenly over the interval, not in step.
          const due = modelStart + (k + 1 + p / partitions) * options.intervalModelMs;
          if (sim.now() < due) await sim.sleep(due - sim.now());
        }
        for (let tries = 1; ; tries++) {
          const start = performance.now();
          const ioWallBefore = connection.ioWallMs;
          const ioModelBefore = connection.ioModelMs;
          let ok = false;
          try {
            // Awaited first: `commits += await …` would read commits before the await and lose
            // the other containers' updates.
            const outcome = await processor.process(event);
            commits += outcome.commits.length;
            if (outcome.round?.ran === true) rounds++;
            ok = true;
          } catch (error) {
            failedInvocations++;
            if (tries >= 100)
              throw new Error(`Partition ${p}: batch ${k} failed 100 invocations`, { cause: error });
          }
          const wall = performance.now() - start;
          const io = connection.ioModelMs - ioModelBefore;
          const model = io + Math.max(0, wall - (connection.ioWallMs - ioWallBefore));
          invocationModelMs.push(model);
          ioModelMs.push(io);
          partitionModelMs[p]! += model;
          if (ok) break;
        }
        processed.push(event);
        options.onProgress?.(++done, total);
      }
    }),
  );
  // The end: one container publishes what the rounds left (the ticker's or a run's flush).
  const flusher = containers[0]!;
  const flushIoBefore = flusher.connection.ioModelMs;
  const flushIoWallBefore = flusher.connection.ioWallMs;
  const flushStart = performance.now();
  for (let tries = 1; ; tries++) {
    try {
      await flusher.processor.publish();
      rounds++;
      break;
    } catch (error) {
      if (tries >= 20) throw new Error('The final publish round failed 20 times', { cause: error });
    }
  }
  // A cleanup of every group, counted: a run shorter than the cleanup interval would otherwise
  // never pay for its LISTs, nor for deleting the checkpoint items it wrote (DynamoDB bills a
  // delete like a write). A routine one, as the processors run every cleanupEvery commits: the
  // data-file sweeps (one cleanup in DATA_FILE_SWEEP_EVERY, and the sweep of all files far more
  // rarely) are priced apart (`countDataFileSweep`).
  if (options.finalCleanup === true) await flusher.processor.cleanup({ dataFiles: 'none' });
  const flushIo = flusher.connection.ioModelMs - flushIoBefore;
  const flushModelMs =
    flushIo + Math.max(0, performance.now() - flushStart - (flusher.connection.ioWallMs - flushIoWallBefore));
  for (const c of containers) {
    requests = addRequestCounts(requests, c.meter.take());
    conflicts = addConflicts(conflicts, c.conflictMeter.counts);
  }
  ioModelMs.push(flushIo);
  const wallMs = performance.now() - wallStart;
  const cpu = process.cpuUsage(cpuStart);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const records = processed.reduce((sum, event) => sum + recordsOf(event).length, 0);
  const usage = structuredClone(sim.usage);
  const consumedRecords = logs ? await consumedBy(sim, job, processed) : records;
  let dataFileSweepLists = 0;
  if (options.countDataFileSweep === true) {
    flusher.meter.take();
    await flusher.processor.cleanup({ dataFiles: 'recent' });
    // Only the data-file sweep lists the warehouse.
    dataFileSweepLists = flusher.meter.take().operations['warehouse.list']?.requests ?? 0;
  }

  const result: FleetResult = {
    example,
    scope,
    commit: scope === 'partition' ? 'partition groups' : logs ? 'partition logs' : 'shared head',
    partitions,
    batchSize,
    records,
    consumedRecords,
    batches: processed.length,
    skippedBatches: skipped,
    invocations: invocationModelMs.length,
    failedInvocations,
    redoneBatches: logs ? conflicts.logConflicts : Math.max(0, engineRuns - processed.length),
    consumeRounds: logs ? engineRuns : 0,
    redoneRounds: logs ? conflicts.headConflicts : 0,
    commits,
    rounds,
    flushModelMs,
    conflicts,
    invocationModelMs,
    ioModelMs,
    makespanModelMs:
      options.intervalModelMs === undefined
        ? Math.max(...partitionModelMs) + flushModelMs
        : sim.now() - modelStart,
    wallMs,
    cpuMs,
    cpuLoad: cpuMs / (wallMs * CORES),
    requests,
    usage,
    warehouseBytes: sim.storedBytes('warehouse'),
    dataFileSweepLists,
  };
  if (options.check === false) return result;
  return { ...result, check: await drainAndCheck(sim, job, example, refs, processed, logs) };
}

/** The records of `processed` at or below the job group's committed offsets. */
async function consumedBy(
  sim: SimulatedAws,
  job: Job<unknown>,
  processed: readonly KafkaEvent[],
): Promise<number> {
  const item = await sim.direct().heads.get(headKey(safeName(job.name), 'job'));
  const offsets = item === undefined ? {} : (decodeHead(item).value.offsets ?? {});
  let consumed = 0;
  for (const record of processed.flatMap(recordsOf))
    if (record.offset <= (offsets[`${record.topic}-${record.partition}`]?.[0] ?? -1)) consumed++;
  return consumed;
}

/** Drains every group from a fresh container, then compares the tables with the reference. */
async function drainAndCheck(
  sim: SimulatedAws,
  job: Job<unknown>,
  example: ExampleName,
  refs: readonly { topic: string; partition: number }[],
  processed: readonly KafkaEvent[],
  logs: boolean,
): Promise<ExactlyOnceCheck> {
  // Group by group: draining hundreds of groups at once would make them race for the table
  // pointer for minutes. Each drainer sees one head only. The drain is not measured, only checked.
  const direct = sim.direct();
  let drainer: CheckpointedProcessor<unknown> | undefined;
  // With partition logs one drain consumes every log and drains the job group.
  const groups = logs ? [] : await direct.heads.list(headPrefix(safeName(job.name)));
  if (logs) {
    drainer = new CheckpointedProcessor(job, { stores: direct, partitions: refs, partitionLogs: true });
    await drainer.drain();
  }
  for (const item of groups) {
    // Without latency: the drain is not measured.
    const one = {
      ...direct,
      heads: {
        ...direct.heads,
        list: async (prefix: string) => (await direct.heads.list(prefix)).filter((i) => i.key === item.key),
      },
    };
    drainer = new CheckpointedProcessor(job, { stores: one, partitions: refs });
    for (let tries = 1; ; tries++) {
      try {
        await drainer.drain();
        break;
      } catch (error) {
        if (tries >= 20) throw error;
      }
    }
  }
  drainer ??= new CheckpointedProcessor(job, { stores: direct, partitions: refs });
  const names = drainer.tableNames;
  const rows = await readRows(direct, names.rows);
  const late = await readRows(direct, names.late);
  const deadLetters = await readRows(direct, names.deadLetters);
  const lateElements = new Set(late.map((row) => String(row.element)));
  const bids = processed
    .flatMap(recordsOf)
    .map((record) => JSON.parse(Buffer.from(record.value!, 'base64').toString('utf8')) as Bid)
    .filter((bid) => !lateElements.has(JSON.stringify(bid)));
  const expected = canonicalRows(reference(example, bids));
  const actual = canonicalRows(rows);
  const { missing, extra } = multisetDifference(expected, actual);
  return {
    ok: missing === 0 && extra === 0 && deadLetters.length === 0,
    expectedRows: expected.length,
    actualRows: actual.length,
    missing,
    extra,
    lateRecords: late.length,
    deadLetters: deadLetters.length,
  };
}

/**
 * The reference rows. The brute-force reference spreads every bid's time into Math.min, which
 * overflows the stack past about 100,000 bids; the examples with tumbling 10 s windows are
 * computed window by window instead (each window's rows come from its own bids only).
 */
function reference(example: ExampleName, bids: readonly Bid[]) {
  if (example !== 'bids-per-auction' && example !== 'max-price') return EXAMPLE_REFERENCES[example](bids);
  const byWindow = new Map<number, Bid[]>();
  for (const bid of bids) {
    // bids-per-auction's rows are per auction too: a window's bids split by auction stay exact.
    const window =
      Math.floor(bid.dateTime / 10_000) * 64 + (example === 'bids-per-auction' ? bid.auction % 64 : 0);
    const list = byWindow.get(window);
    if (list) list.push(bid);
    else byWindow.set(window, [bid]);
  }
  if (example === 'bids-per-auction') {
    return [...byWindow.values()].flatMap((list) => EXAMPLE_REFERENCES[example](list));
  }
  // max-price spreads a window's prices into Math.max too: its chunks' maxima, then their max.
  return [...byWindow.values()].map((list) => {
    const chunks: Bid[][] = [];
    for (let i = 0; i < list.length; i += 20_000) chunks.push(list.slice(i, i + 20_000));
    const rows = chunks.flatMap((chunk) => EXAMPLE_REFERENCES['max-price'](chunk));
    return { ...rows[0]!, max_price: Math.max(...rows.map((row) => Number(row.max_price))) };
  });
}

function recordsOf(event: KafkaEvent) {
  return Object.values(event.records).flat();
}

function multisetDifference(expected: readonly string[], actual: readonly string[]) {
  const counts = new Map<string, number>();
  for (const row of expected) counts.set(row, (counts.get(row) ?? 0) + 1);
  let extra = 0;
  for (const row of actual) {
    const left = counts.get(row) ?? 0;
    if (left === 0) extra++;
    else counts.set(row, left - 1);
  }
  let missing = 0;
  for (const left of counts.values()) missing += left;
  return { missing, extra };
}

const RAW_TIMESTAMPS: Partial<ParquetParsers> = {
  timestampFromMilliseconds: (value) => value,
  timestampFromMicroseconds: (value) => value,
  timestampFromNanoseconds: (value) => value,
};

/**
 * A table's rows as an Iceberg reader sees them (catalog → metadata → snapshot → manifests →
 * Parquet, as test/support/iceberg-tables.ts reads a run directory): timestamps as epoch ms,
 * longs as numbers. A table that was never created has no rows.
 */
async function readRows(
  stores: ReturnType<SimulatedAws['direct']>,
  name: string,
): Promise<Record<string, unknown>[]> {
  const scan = await scanTable(stores.catalog, stores.warehouse, name);
  if (scan === undefined) return [];
  const fields = (scan.metadata.currentSchema.fields ?? []) as { name?: unknown; type?: unknown }[];
  const timestamps = new Set(
    fields.filter((f) => f.type === 'timestamptz' || f.type === 'timestamp').map((f) => String(f.name)),
  );
  const rows: Record<string, unknown>[] = [];
  for (const file of scan.files) {
    const bytes = await stores.warehouse.get(keyInStore(stores.warehouse, name, file.filePath));
    if (bytes === undefined) throw new Error(`Table ${name}: ${file.filePath} is listed but missing.`);
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    for (const row of await parquetReadObjects({ file: buffer, utf8: false, parsers: RAW_TIMESTAMPS })) {
      const plain: Record<string, unknown> = {};
      for (const [column, value] of Object.entries(row)) {
        if (typeof value === 'bigint') {
          plain[column] = timestamps.has(column) ? Number(value / 1000n) : Number(value);
        } else plain[column] = value ?? null;
      }
      rows.push(plain);
    }
  }
  return rows;
}

/** The p-th percentile (0-100) of values, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
