/**
 * `floe run <job.ts> --kafka <brokers> --topic <t>`: runs a job against a real Kafka topic the way
 * Lambda's event source mapping (ESM) runs its function: each partition read in offset order, cut
 * into batches of up to `--batch-size` records (or what arrived within `--batching-window-ms`, at
 * most 6 MB of event), one invocation at a time per partition and up to one per partition in
 * parallel, through the job's Lambda handler and its exactly-once commit protocol; the consumer
 * group's offsets are committed only after a successful invocation, and a failed invocation is
 * retried with backoff, the partition waiting meanwhile. docs/design.md ("Running against a
 * Kafka broker") lists where it differs from the ESM.
 *
 * Killed at any moment and restarted, it resumes from the group's committed offsets, which may lag
 * behind what the job committed: the commit protocol skips records at or below its own committed
 * offsets, so no row is lost or doubled (at-least-once input, exactly-once output).
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHandlerWith, type KafkaHandler, localStores } from '../functions/kafka-handler.ts';
import type { Logger } from '../functions/logger.ts';
import { CheckpointedProcessor } from '../runtime/checkpoint/checkpointed-processor.ts';
import { partitionId } from '../runtime/engine/state.ts';
import {
  DEFAULT_BATCH_SIZE,
  eventBatches,
  LAMBDA_PAYLOAD_LIMIT_BYTES,
  MAX_BATCH_SIZE,
} from '../runtime/event-source-mapping/event-builder.ts';
import type { Job } from '../runtime/job/job.ts';
import { toJson } from '../runtime/output-json.ts';
import type { KafkaEvent, KafkaEventRecord } from '../runtime/source/kafka-event.ts';
import type { CatalogTable } from '../runtime/stores/catalog.ts';
import type { CheckpointStores } from '../runtime/stores/checkpoint-stores.ts';
import { topicNameProblem } from './jsonl-topic.ts';
import { describeKafkaError, KafkaClient, type TopicInfo } from './kafka-client.ts';
import { loadCheckedJob } from './load-job.ts';
import { StatusLine, type StatusStream } from './progress.ts';
import { formatTime, renderTable } from './render.ts';
import { type RunCommandOptions, readingHints } from './run.ts';
import { onAws, storesFor } from './stores.ts';
import { UsageError } from './usage-error.ts';

/** The ESM's default MaximumBatchingWindowInSeconds for Kafka is 0.5 s. */
export const DEFAULT_BATCHING_WINDOW_MS = 500;
/** The ESM's largest batching window: 300 s. */
export const MAX_BATCHING_WINDOW_MS = 300_000;
/** Backoff between retries of a failed batch: doubling from 1 s, at most 30 s. */
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 30_000;
/** Bytes a partition may hold fetched but not yet invoked: at least a full batch. */
const PARTITION_BUFFER_BYTES = 2 * LAMBDA_PAYLOAD_LIMIT_BYTES;
/** A fetch's longest wait for new records. */
const FETCH_WAIT_MS = 500;

/** The `--kafka` flags of `floe run`; the shared ones (--topic, --batch-size, --dir, --json) are in RunCommandOptions. */
export interface KafkaFlags {
  /** Comma-separated bootstrap brokers (or clusterArn). */
  readonly brokers?: string;
  /** An MSK cluster's ARN, whose plaintext bootstrap brokers are read from its control plane (or brokers). */
  readonly clusterArn?: string;
  /** @default floe-<job name> */
  readonly group?: string;
  /** @default 500 (DEFAULT_BATCHING_WINDOW_MS), 0 to 300,000 */
  readonly batchingWindowMs?: number;
  /** Exit once every partition has reached the end offset it had at the start. */
  readonly stopAtEnd: boolean;
  /** After --stop-at-end: end the input and fire every open window. */
  readonly drain: boolean;
}

/** Where and how a Kafka run reads. */
export interface KafkaSourceOptions {
  readonly brokers: string;
  readonly topic: string;
  readonly group: string;
  readonly batchSize: number;
  readonly batchingWindowMs: number;
  readonly stopAtEnd: boolean;
  readonly drain: boolean;
}

export interface KafkaRunJobOptions {
  /** Where heads, checkpoints and tables live (local stores in a run directory, or others). */
  readonly stores: CheckpointStores;
  /** The run directory, when the stores are local: for the summary and the reading hints. */
  readonly dir?: string;
  readonly status?: StatusStream;
  /** @default 10 */
  readonly keepCheckpoints?: number;
  /** Milliseconds between publish rounds while running; the run publishes when it stops too. @default 10_000 */
  readonly publishIntervalMs?: number;
  /** Log lines (retries, offset commit failures); default stderr. */
  readonly log?: (line: string) => void;
  /** Stops the run (between batches) when aborted: Ctrl-C. */
  readonly signal?: AbortSignal;
}

export interface KafkaRunReport {
  readonly job: string;
  readonly dir: string | null;
  readonly brokers: string;
  readonly topic: string;
  readonly group: string;
  readonly partitions: number;
  readonly batchSize: number;
  readonly batchingWindowMs: number;
  /** Per partition: the offset the run started reading at, and the end offset it saw at the start. */
  readonly startOffsets: readonly number[];
  readonly endOffsets: readonly number[];
  /** Records and events this invocation delivered to the handler. */
  readonly records: number;
  readonly batches: number;
  /** Records delivered again that the commit protocol skipped (the group offsets lagged). */
  readonly redelivered: number;
  /** Failed invocations that were retried. */
  readonly retries: number;
  /** Checkpoint commits this invocation made, drain included. */
  readonly commits: number;
  /** Consumer group offset commits. */
  readonly offsetCommits: number;
  readonly drained: boolean;
  /** Committed totals, over every invocation. */
  readonly rows: number;
  readonly late: number;
  readonly deadLetters: number;
  readonly elapsedMs: number;
  readonly recordsPerSecond: number;
  readonly tableNames: { readonly rows: string; readonly late: string; readonly deadLetters: string };
  readonly tables: readonly CatalogTable[];
}

/** The handler logs one JSON line per batch and per dead letter; the runner shows a summary instead. */
const QUIET: Logger = { log() {} };

/** `floe run <job.ts> --kafka ...`: reached from cli/run.ts when --kafka is given. */
export async function runKafka(
  options: RunCommandOptions & { readonly kafka: KafkaFlags },
  out: (text: string) => void,
  status: StatusStream | undefined = process.stderr,
): Promise<void> {
  const checked = kafkaSourceOptions(options);
  const { job } = await loadCheckedJob(options.jobPath, { typecheck: options.typecheck ?? true });
  const { brokers, clusterArn } = options.kafka;
  const source = {
    ...checked,
    brokers: brokers ?? (await (await import('./msk.ts')).mskPlaintextBrokers(clusterArn!)),
  };
  const group = options.kafka.group ?? `floe-${job.name}`;
  const dir = options.dir ?? join('.floe', 'run', job.name);
  const aws = onAws(options.stores);
  const stores = await storesFor(job.name, options.stores, dir);
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const report = await runKafkaJob(
      job,
      { ...source, group },
      {
        stores,
        dir: aws ? undefined : dir,
        status,
        keepCheckpoints: options.keepCheckpoints,
        ...(options.publishIntervalMs === undefined ? {} : { publishIntervalMs: options.publishIntervalMs }),
        signal: controller.signal,
      },
    );
    out(options.json ? (toJson(report) ?? '{}') : renderKafkaReport(report));
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/** Checks the flags of a Kafka run; mistakes are UsageErrors. */
export function kafkaSourceOptions(
  options: RunCommandOptions & { readonly kafka: KafkaFlags },
): Omit<KafkaSourceOptions, 'group' | 'brokers'> {
  const fileOnly: [string, unknown][] = [
    ['--input', options.input === '' ? undefined : options.input],
    ['--key', options.key],
    ['--partitions', options.partitions],
    ['--timestamp', options.timestamp],
  ];
  const wrong = fileOnly.filter(([, v]) => v !== undefined).map(([flag]) => flag);
  if (wrong.length > 0) {
    throw new UsageError(
      `${wrong.join(', ')} ${wrong.length === 1 ? 'is' : 'are'} for a run over a file; with --kafka the topic's records, keys, partitions and timestamps come from the broker.`,
    );
  }
  const { kafka } = options;
  if (options.topic === undefined)
    throw new UsageError('run --kafka needs --topic <name>, the topic to read.');
  const problem = topicNameProblem(options.topic);
  if (problem !== undefined)
    throw new UsageError(`--topic "${options.topic}" is not a Kafka topic name: ${problem}.`);
  if (kafka.group !== undefined && kafka.group.trim() === '') throw new UsageError('--group needs a name.');
  if (kafka.drain && !kafka.stopAtEnd) {
    throw new UsageError('--drain ends the input, so it needs --stop-at-end (a topic read live has no end).');
  }
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
    throw new UsageError(`--batch-size must be a whole number from 1 to 10,000, got ${String(batchSize)}.`);
  }
  const window = kafka.batchingWindowMs ?? DEFAULT_BATCHING_WINDOW_MS;
  if (!Number.isSafeInteger(window) || window < 0 || window > MAX_BATCHING_WINDOW_MS) {
    throw new UsageError(
      `--batching-window-ms must be a whole number from 0 to 300,000, got ${String(window)}.`,
    );
  }
  if ((kafka.brokers === undefined) === (kafka.clusterArn === undefined))
    throw new UsageError('run reads Kafka from --kafka <brokers> or --cluster-arn <arn>: give one of them.');
  return {
    topic: options.topic,
    batchSize,
    batchingWindowMs: window,
    stopAtEnd: kafka.stopAtEnd,
    drain: kafka.drain,
  };
}

/** One partition's reading state. */
interface PartitionReader {
  readonly partition: number;
  /** The next offset to fetch. */
  next: bigint;
  /** The end offset seen at the start (--stop-at-end stops there). */
  readonly end: bigint;
  /** Fetched, not yet delivered. */
  buffer: KafkaEventRecord[];
  bufferBytes: number;
  /** When the oldest buffered record arrived (the batching window starts then). */
  firstArrival: number;
  /** No more records will be fetched (--stop-at-end reached the end offset). */
  fetchDone: boolean;
  /** An invocation is running or being retried. */
  busy: boolean;
}

/**
 * Runs a job over a Kafka topic until stopped (or, with stopAtEnd, until every partition reached
 * the end offset it had at the start; then drains if asked).
 */
export async function runKafkaJob(
  job: Job<unknown>,
  source: KafkaSourceOptions,
  options: KafkaRunJobOptions,
): Promise<KafkaRunReport> {
  const started = performance.now();
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const client = new KafkaClient({
    brokers: source.brokers,
    group: source.group,
    clientId: `floe-${job.name}`,
  });
  try {
    const topic = await client.topic(source.topic);
    if (topic === undefined) {
      throw new UsageError(
        `Topic ${source.topic} does not exist on ${client.brokers}; create it (floe produce creates it with --partitions N).`,
      );
    }
    const [earliest, ends, committed] = await Promise.all([
      client.startOffsets(topic),
      client.endOffsets(topic),
      client.committedOffsets(topic),
    ]);
    // Like the ESM: from the group's committed offset, else from the earliest record (TRIM_HORIZON).
    const readers: PartitionReader[] = ends.map((end, p) => {
      const from = committed[p]! >= 0n ? committed[p]! : earliest[p]!;
      const next = from < earliest[p]! ? earliest[p]! : from;
      return {
        partition: p,
        next,
        end,
        buffer: [],
        bufferBytes: 0,
        firstArrival: 0,
        fetchDone: source.stopAtEnd && next >= end,
        busy: false,
      };
    });
    const startOffsets = readers.map((r) => Number(r.next));

    const partitions = readers.map((r) => ({ topic: topic.name, partition: r.partition }));
    const processor = new CheckpointedProcessor(job, {
      stores: options.stores,
      partitions,
      keepCheckpoints: options.keepCheckpoints,
      ...(options.publishIntervalMs === undefined ? {} : { publishIntervalMs: options.publishIntervalMs }),
    });
    const handler = createHandlerWith(job, { processor, logger: QUIET }, localStores);
    const before = await processor.committed();
    const progress = {
      records: 0,
      batches: 0,
      redelivered: 0,
      retries: 0,
      commits: 0,
      offsetCommits: 0,
      rows: before.totals.rows,
      late: before.totals.late,
      deadLetters: before.totals.deadLetters,
      watermark: Number.NEGATIVE_INFINITY,
      draining: false,
    };
    const watermarks = new Map(before.watermarks);
    const status = new StatusLine(options.status);
    const total = readers.reduce((sum, r) => sum + Number(r.end - r.next), 0);
    const show = (force = false) =>
      status.update(() => {
        const active = readers.filter((r) => r.end > 0n).map((r) => partitionId(topic.name, r.partition));
        progress.watermark = Math.min(
          ...active.map((id) => watermarks.get(id) ?? Number.NEGATIVE_INFINITY),
          Number.POSITIVE_INFINITY,
        );
        return kafkaStatusText(job.name, topic, source, progress, total);
      }, force);

    const run = new PartitionRuns(
      client,
      topic,
      source,
      readers,
      async (reader, event, records) => {
        const result = await invokeWithRetries(
          handler,
          event,
          reader,
          records,
          source,
          log,
          options.signal,
          () => {
            progress.retries++;
            show(true);
          },
        );
        progress.records += records.length;
        progress.batches++;
        progress.redelivered += result.redelivered;
        progress.commits += result.commits;
        progress.rows += result.rows;
        progress.late += result.late;
        progress.deadLetters += result.deadLetters;
        const id = partitionId(topic.name, reader.partition);
        watermarks.set(id, result.watermark);
        // Like the ESM: the group's offset moves only after the batch succeeded.
        const last = records[records.length - 1]!;
        try {
          await client.commit(topic, reader.partition, BigInt(last.offset) + 1n);
          progress.offsetCommits++;
        } catch (error) {
          // The job's own commit protocol holds the truth; a lagging group offset only means the
          // next start reads some records again, which the protocol skips.
          log(
            `floe run: could not commit offset ${last.offset + 1} of ${id} for group ${source.group}: ${describeKafkaError(error)} (the next start re-reads from the last committed group offset; no row is lost or doubled)`,
          );
        }
        show();
      },
      options.signal,
    );
    try {
      show(true);
      await run.run(() => show());
      let drained = false;
      if (source.stopAtEnd && source.drain && options.signal?.aborted !== true) {
        progress.draining = true;
        show(true);
        const outcome = await processor.drain();
        progress.commits += outcome.commits.length;
        progress.rows += outcome.metrics.rows;
        progress.late += outcome.metrics.late;
        progress.deadLetters += outcome.metrics.deadLetters;
        drained = true;
      } else {
        // Stopped, or at the end without a drain: what is committed is published now.
        await processor.publish();
      }
      await processor.cleanup().catch(() => {});
      status.clear();
      const after = await processor.committed();
      const names = processor.tableNames;
      const ours = new Set([names.rows, names.late, names.deadLetters]);
      const tables = (await options.stores.catalog.listTables()).filter((t) => ours.has(t.name));
      const elapsedMs = performance.now() - started;
      return {
        job: job.name,
        dir: options.dir ?? null,
        brokers: client.brokers,
        topic: topic.name,
        group: source.group,
        partitions: topic.partitions,
        batchSize: source.batchSize,
        batchingWindowMs: source.batchingWindowMs,
        startOffsets,
        endOffsets: readers.map((r) => Number(r.end)),
        records: progress.records,
        batches: progress.batches,
        redelivered: progress.redelivered,
        retries: progress.retries,
        commits: progress.commits,
        offsetCommits: progress.offsetCommits,
        drained,
        rows: after.totals.rows,
        late: after.totals.late,
        deadLetters: after.totals.deadLetters,
        elapsedMs: Math.round(elapsedMs),
        recordsPerSecond: elapsedMs > 0 ? Math.round(progress.records / (elapsedMs / 1000)) : 0,
        tableNames: names,
        tables,
      };
    } finally {
      status.clear();
    }
  } finally {
    await client.close();
  }
}

/**
 * Invokes the handler on one batch until it succeeds, as the ESM does with a failing batch of a
 * Kafka partition: the same records again, after a backoff, the partition waiting meanwhile.
 */
async function invokeWithRetries(
  handler: KafkaHandler,
  event: KafkaEvent,
  reader: PartitionReader,
  records: readonly KafkaEventRecord[],
  source: KafkaSourceOptions,
  log: (line: string) => void,
  signal: AbortSignal | undefined,
  onRetry: () => void,
): Promise<Awaited<ReturnType<KafkaHandler>>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await handler(event);
    } catch (error) {
      if (signal?.aborted) throw error;
      const delay = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** (attempt - 1));
      const first = records[0]!.offset;
      const last = records[records.length - 1]!.offset;
      const message = (error instanceof Error ? error.message : String(error)).split('\n')[0];
      log(
        `floe run: ${source.topic}-${reader.partition} offsets ${first}-${last}: the handler failed (attempt ${attempt}): ${message}; retrying the same batch in ${delay / 1000} s (the partition waits, as under the event source mapping)`,
      );
      onRetry();
      try {
        await sleep(delay, undefined, { signal });
      } catch {
        throw error;
      }
    }
  }
}

/**
 * The ESM's pollers and invokers for one topic: one fetch loop feeds every partition's buffer;
 * each partition delivers its buffer in batches, one invocation at a time.
 */
class PartitionRuns {
  private wake: (() => void) | undefined;
  private failure: unknown;

  constructor(
    private readonly client: KafkaClient,
    private readonly topic: TopicInfo,
    private readonly source: KafkaSourceOptions,
    private readonly readers: PartitionReader[],
    private readonly deliver: (
      reader: PartitionReader,
      event: KafkaEvent,
      records: readonly KafkaEventRecord[],
    ) => Promise<void>,
    private readonly signal: AbortSignal | undefined,
  ) {}

  private get stopped(): boolean {
    return this.failure !== undefined || this.signal?.aborted === true;
  }

  private finished(reader: PartitionReader): boolean {
    return reader.fetchDone && reader.buffer.length === 0 && !reader.busy;
  }

  /** Runs until every partition is finished (stopAtEnd), the signal aborts, or a delivery fails for good. */
  async run(tick: () => void): Promise<void> {
    const onAbort = () => this.notify();
    this.signal?.addEventListener('abort', onAbort);
    try {
      const invokers = this.readers.map((reader) => this.invoker(reader));
      await Promise.all([this.fetcher(tick), ...invokers]);
    } finally {
      this.signal?.removeEventListener('abort', onAbort);
    }
    if (this.failure !== undefined) throw this.failure;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Waits for a notification or `ms`, whichever comes first. */
  private async idle(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      const previous = this.wake;
      this.wake = () => {
        clearTimeout(timer);
        previous?.();
        resolve();
      };
    });
  }

  private async fetcher(tick: () => void): Promise<void> {
    let failures = 0;
    while (!this.stopped && !this.readers.every((r) => this.finished(r))) {
      const wanted = new Map<number, bigint>();
      for (const r of this.readers) {
        if (!r.fetchDone && r.bufferBytes < PARTITION_BUFFER_BYTES) wanted.set(r.partition, r.next);
      }
      if (wanted.size === 0) {
        await this.idle(FETCH_WAIT_MS);
        continue;
      }
      try {
        const fetched = await this.client.fetch(this.topic, wanted, {
          maxWaitMs: FETCH_WAIT_MS,
          maxBytesPerPartition: LAMBDA_PAYLOAD_LIMIT_BYTES,
        });
        failures = 0;
        const now = performance.now();
        for (const f of fetched) {
          const r = this.readers[f.partition];
          if (r === undefined || r.next !== wanted.get(f.partition)) continue;
          if (f.errorCode === 1) {
            // OFFSET_OUT_OF_RANGE: the records were deleted by retention; start at the earliest.
            const earliest = await this.client.startOffsets(this.topic);
            r.next = earliest[f.partition] ?? r.next;
            continue;
          }
          if (f.records.length > 0) {
            if (r.buffer.length === 0) r.firstArrival = now;
            for (const record of f.records) {
              if (this.source.stopAtEnd && BigInt(record.offset) >= r.end) break;
              r.buffer.push(record);
              r.bufferBytes += recordBytes(record);
            }
          }
          r.next = f.next > r.next ? f.next : r.next;
          if (this.source.stopAtEnd && r.next >= r.end) r.fetchDone = true;
        }
        this.notify();
        tick();
      } catch (error) {
        if (error instanceof UsageError) {
          this.failure = error;
          this.notify();
          return;
        }
        failures++;
        if (failures === 1 || failures % 10 === 0) {
          process.stderr.write(
            `floe run: fetching ${this.topic.name} failed (${failures} in a row): ${describeKafkaError(error)}; retrying\n`,
          );
        }
        await this.idle(Math.min(5_000, 200 * failures));
      }
    }
    this.notify();
  }

  private async invoker(reader: PartitionReader): Promise<void> {
    const { batchSize, batchingWindowMs } = this.source;
    while (!this.stopped && !this.finished(reader)) {
      const waited = performance.now() - reader.firstArrival;
      const ready =
        reader.buffer.length > 0 &&
        (reader.buffer.length >= batchSize ||
          reader.bufferBytes >= LAMBDA_PAYLOAD_LIMIT_BYTES ||
          waited >= batchingWindowMs ||
          reader.fetchDone);
      if (!ready) {
        await this.idle(reader.buffer.length > 0 ? Math.max(1, batchingWindowMs - waited) : FETCH_WAIT_MS);
        continue;
      }
      const event = this.nextEvent(reader);
      const records = Object.values(event.records)[0] ?? [];
      reader.busy = true;
      try {
        await this.deliver(reader, event, records);
      } catch (error) {
        // Stopped (Ctrl-C) while retrying: the batch stays uncommitted, and the next start redelivers it.
        if (this.signal?.aborted) return;
        this.failure ??= error;
        this.notify();
        return;
      } finally {
        reader.busy = false;
      }
      reader.buffer = reader.buffer.slice(records.length);
      reader.bufferBytes = reader.buffer.reduce((sum, r) => sum + recordBytes(r), 0);
      // The records left waited as long as the batch before them: the next window starts now.
      reader.firstArrival = performance.now();
      this.notify();
    }
  }

  /** The next event of a partition: up to batchSize records and 6 MB, as the event builder cuts them. */
  private nextEvent(reader: PartitionReader): KafkaEvent {
    const partitions: KafkaEventRecord[][] = [];
    partitions[reader.partition] = reader.buffer.slice(0, this.source.batchSize);
    for (let p = 0; p < reader.partition; p++) partitions[p] ??= [];
    const [event] = eventBatches(
      { topic: this.topic.name, partitions },
      {
        batchSize: this.source.batchSize,
        source: { type: 'self-managed', bootstrapServers: this.client.brokers },
      },
    );
    return event!;
  }
}

/** A record's share of an event's JSON, near enough for buffering decisions. */
function recordBytes(record: KafkaEventRecord): number {
  return (record.value?.length ?? 0) + (record.key?.length ?? 0) + 120;
}

function kafkaStatusText(
  job: string,
  topic: TopicInfo,
  source: KafkaSourceOptions,
  p: {
    records: number;
    batches: number;
    retries: number;
    rows: number;
    late: number;
    deadLetters: number;
    watermark: number;
    draining: boolean;
  },
  total: number,
): string {
  const where = p.draining
    ? 'draining: firing every window'
    : `${topic.name}: records ${n(p.records)}${source.stopAtEnd ? `/${n(total)}` : ''}  batches ${n(p.batches)}${p.retries > 0 ? `  retries ${n(p.retries)}` : ''}`;
  return `${job}  ${where}  watermark ${formatTime(p.watermark)}  rows ${n(p.rows)}  late ${n(p.late)}  dead ${n(p.deadLetters)}`;
}

/** The summary of a Kafka run. */
export function renderKafkaReport(r: KafkaRunReport): string {
  const lines = [
    `floe run ${r.job}: topic ${r.topic} on ${r.brokers} (${r.partitions} partition${r.partitions === 1 ? '' : 's'}), group ${r.group}, batches of up to ${n(r.batchSize)} or ${n(r.batchingWindowMs)} ms`,
    `  offsets       ${r.startOffsets.map((s, p) => `${p}: ${n(s)}→${n(r.endOffsets[p] ?? 0)}`).join(', ')} (start → end at start)`,
    `  ${n(r.records)} records in ${n(r.batches)} batches, ${n(r.commits)} commits, ${n(r.offsetCommits)} group offset commits${r.redelivered > 0 ? `, ${n(r.redelivered)} records redelivered and skipped` : ''}${r.retries > 0 ? `, ${n(r.retries)} retries` : ''}${r.drained ? ', drained' : ''}, ${(r.elapsedMs / 1000).toFixed(1)} s, ${n(r.recordsPerSecond)} records/s`,
    `  rows          ${n(r.rows).padStart(9)}  ${r.tableNames.rows}`,
    `  late          ${n(r.late).padStart(9)}  ${r.tableNames.late}`,
    `  dead letters  ${n(r.deadLetters).padStart(9)}  ${r.tableNames.deadLetters}`,
  ];
  if (r.dir !== null) {
    lines.push(
      '',
      `Tables in ${r.dir} (current metadata):`,
      renderTable(r.tables.map((t) => ({ table: t.name, metadata: t.metadataLocation }))),
    );
    const first = r.tables.find((t) => t.name === r.tableNames.rows) ?? r.tables[0];
    if (first !== undefined) lines.push('', readingHints(r.dir, first));
  }
  return lines.join('\n');
}

function n(value: number): string {
  return value.toLocaleString('en');
}
