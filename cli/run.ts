/**
 * `floe run`: runs a job over a JSON lines file read as a Kafka topic, through the job's Lambda
 * handler and the exactly-once commit protocol, into Iceberg tables in a run directory. The demo
 * (`npm start`) runs the examples through the same code.
 *
 * A run is restartable: killed at any moment, the same command resumes from the last commit,
 * because the topic and its batches are a pure function of the file and the flags (recorded in
 * `<dir>/run.json` and checked on every start) and the commit protocol skips what is committed.
 */
import { open, readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { createExclusive, errorCode, replaceAtomically } from '../adapters/local/durable-file.ts';
import { fsStorageError, isPermanentFsError } from '../adapters/local/fs-errors.ts';
import {
  localCheckpointStores,
  RUN_DIRECTORY_FOLDERS,
  sweepRunDirectory,
} from '../adapters/local/run-directory.ts';
import { createHandlerWith, localStores } from '../functions/kafka-handler.ts';
import type { Logger } from '../functions/logger.ts';
import {
  CheckpointedProcessor,
  type CheckpointedProcessorOptions,
  type CommitOutcome,
} from '../runtime/checkpoint/checkpointed-processor.ts';
import { FloeJobError } from '../runtime/errors.ts';
import { MAX_BATCH_SIZE } from '../runtime/event-source-mapping/event-builder.ts';
import type { Job } from '../runtime/job/job.ts';
import { toJson } from '../runtime/output-json.ts';
import type { KafkaEvent } from '../runtime/source/kafka-event.ts';
import type { CatalogTable } from '../runtime/stores/catalog.ts';
import type { CheckpointStores } from '../runtime/stores/checkpoint-stores.ts';
import { meterRequests, type RequestCounts } from '../runtime/stores/request-meter.ts';
import {
  type CutEvent,
  countRecords,
  type JsonLinesTopic,
  jsonLinesTopic,
  type ReadStats,
  readRunEvents,
  readsInWorker,
  topicNameOf,
  topicNameProblem,
} from './jsonl-topic.ts';
import type { KafkaFlags } from './kafka-run.ts';
import { Lanes } from './lanes.ts';
import { loadCheckedJob } from './load-job.ts';
import { StatusLine, type StatusStream } from './progress.ts';
import { formatTime, queryCommand, renderTable, shellWord } from './render.ts';
import { type StoreFlags, storesFor, storesLocation } from './stores.ts';
import { UsageError } from './usage-error.ts';

/**
 * One partition, as a topic created with Kafka's default `num.partitions`. It is right for every
 * job with or without `--key`; more partitions need `--key` for jobs keyed by the Kafka key.
 */
export const DEFAULT_PARTITIONS = 1;
/**
 * Records per Lambda event by default: no limit but Lambda's 6 MB payload, so each event is as
 * large as an invocation takes. A local run over a file is a backfill: every record is there at
 * once, and a commit costs about the same whatever its size, so the largest batches make the
 * fewest commits (the event source mapping's BatchSize maximum, 10,000, would make about twice as
 * many for records of 300 bytes, its default of 100 two hundred times as many).
 */
export const DEFAULT_RUN_BATCH_SIZE = null;
/**
 * Batches `floe run` processes at once for jobs whose commit groups are partitions, one per
 * partition at a time, as Lambda runs one invocation per partition: while one waits for its
 * durable writes, another runs the engine.
 */
export const RUN_CONCURRENCY = 4;
/** Where a run directory records its input and flags, and each job's definition. */
export const RUN_RECORD = 'run.json';
export const JOBS_FOLDER = 'jobs';

/** Every top-level entry `floe run` writes in a run directory: its records and the stores' folders. */
export function runDirectoryEntries(): readonly string[] {
  return [RUN_RECORD, JOBS_FOLDER, ...Object.values(RUN_DIRECTORY_FOLDERS)];
}

/** The most partitions `floe run` accepts: each is a commit group with its own head. */
export const MAX_PARTITIONS = 10_000;

/** The input of a run: a JSON lines file, and how it becomes a topic. */
export interface RunInputOptions {
  /** The JSON lines file. */
  readonly input: string;
  /** @default 1 (DEFAULT_PARTITIONS), 1 to 10,000 */
  readonly partitions?: number;
  /**
   * The field whose value (as text) is the Kafka key.
   * @default - no key: records are spread round-robin
   */
  readonly key?: string;
  /**
   * The most records per Lambda event, 1 to 10,000 as the ESM allows; events are also cut at 6 MB.
   * @default - no limit but the 6 MB payload (DEFAULT_RUN_BATCH_SIZE)
   */
  readonly batchSize?: number;
  /** @default - the file's base name without extension, made a legal topic name */
  readonly topic?: string;
  /**
   * The field holding each record's timestamp (epoch ms, or ISO-8601 text).
   * @default - the file's modification time, for every record
   */
  readonly timestamp?: string;
}

/** What a run directory records about its input: a restart must match it exactly. */
export interface RunParams {
  /** 2: batches cut per partition or in file order, at 6 MB by default (format 1: round-robin, 10,000). */
  readonly format: 2;
  /** Absolute path of the input file. */
  readonly input: string;
  readonly size: number;
  /** The file's modification time, epoch ms (also the default record timestamp). */
  readonly mtimeMs: number;
  readonly topic: string;
  readonly partitions: number;
  readonly key: string | null;
  readonly timestamp: string | null;
  /** The most records per event, or null for no limit but the 6 MB payload. */
  readonly batchSize: number | null;
}

/** An input file to read as a topic, ready to run jobs over. */
export interface RunInput {
  readonly params: RunParams;
  /** The file's first non-blank character is `[`: a JSON array, not JSON lines. */
  readonly looksLikeJsonArray: boolean;
  /** Reads the whole topic into memory (`floe events`, `floe produce`); `floe run` streams it. */
  readonly topic: () => Promise<JsonLinesTopic>;
}

/** Reads the input file and builds its topic; flag mistakes are UsageErrors. */
export async function openRunInput(options: RunInputOptions): Promise<RunInput> {
  const partitions = inRange('--partitions', options.partitions ?? DEFAULT_PARTITIONS, MAX_PARTITIONS);
  const batchSize =
    options.batchSize === undefined
      ? DEFAULT_RUN_BATCH_SIZE
      : inRange('--batch-size', options.batchSize, MAX_BATCH_SIZE);
  for (const [flag, value] of [
    ['--key', options.key],
    ['--timestamp', options.timestamp],
  ] as const) {
    if (value !== undefined && value === '') throw new UsageError(`${flag} needs a field name.`);
  }
  const topic = options.topic ?? topicNameOf(options.input);
  const problem = topicNameProblem(topic);
  if (problem !== undefined)
    throw new UsageError(`--topic "${topic}" is not a Kafka topic name: ${problem}.`);

  const path = resolve(options.input);
  let start: Buffer;
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
    if (!info.isFile()) throw new Error('not a file');
    start = await readStart(path);
  } catch (error) {
    const code = errorCode(error);
    const why =
      code === 'ENOENT' || code === 'ENOTDIR'
        ? 'not found'
        : code === 'EACCES' || code === 'EPERM'
          ? `not readable (${code}); make it readable by this user`
          : code === undefined
            ? 'not a file'
            : `unreadable (${code})`;
    throw new UsageError(
      `Input file ${options.input}: ${why}. --input takes a JSON lines file, one record per line.`,
    );
  }
  const mtimeMs = Math.floor(Number(info.mtimeMs));
  const params: RunParams = {
    format: 2,
    input: path,
    size: Number(info.size),
    mtimeMs,
    topic,
    partitions,
    key: options.key ?? null,
    timestamp: options.timestamp ?? null,
    batchSize,
  };
  const first = start.findIndex((byte) => byte !== 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d);
  return {
    params,
    looksLikeJsonArray: first >= 0 && start[first] === 0x5b,
    topic: async () => jsonLinesTopic(await readFile(path), topicOptions(params)),
  };
}

/** How the run's input becomes a topic. */
function topicOptions(params: RunParams) {
  return {
    topic: params.topic,
    partitions: params.partitions,
    key: params.key ?? undefined,
    timestamp: params.timestamp ?? undefined,
    defaultTimestamp: params.mtimeMs,
  };
}

/** The first bytes of a file (up to 64 KB): enough to tell JSON lines from a JSON array. */
async function readStart(path: string): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * The events of a run, streamed from its input (see EventCutter): one partition an event for a job
 * whose commit groups are partitions, so that its partitions run concurrently as Lambda runs them;
 * the file's order, mixing partitions, for a job whose one commit group covers every partition,
 * so that their event time moves on together as it does in the file. A file of at least
 * READ_WORKER_BYTES (jsonl-topic.ts) is read in a worker thread, beside the job.
 */
export function runEvents(params: RunParams, scope: 'partition' | 'job', stats: ReadStats = emptyStats()) {
  return readRunEvents(
    params.input,
    topicOptions(params),
    { by: scope === 'partition' ? 'partition' : 'file', batchSize: params.batchSize ?? undefined },
    stats,
    { worker: readsInWorker(params.size) },
  );
}

function emptyStats(): ReadStats {
  return { records: 0, withoutKey: 0, bytesRead: 0 };
}

/** Progress of a run, as the status line and the observer see it. */
export interface RunProgress {
  readonly job: string;
  /** Records read from the input so far (it is streamed), and those delivered or found committed. */
  readonly records: number;
  readonly recordsDone: number;
  /** The input's size, and how much of it is read. */
  readonly fileBytes: number;
  readonly bytesRead: number;
  /** Events delivered or found committed so far. */
  readonly batchesDone: number;
  /** The lowest watermark of the partitions that have records (-inf before the first commit). */
  readonly watermark: number;
  /** Committed so far, this invocation and earlier ones. */
  readonly rows: number;
  readonly late: number;
  readonly deadLetters: number;
  /** Rows in the tables: committed rows as of the last publish round (it publishes every group). */
  readonly published: number;
  readonly draining: boolean;
}

export interface RunJobOptions {
  /** The run directory: the runner's own records (run.json, jobs/), and the stores unless `stores` is given. */
  readonly dir: string;
  /** Where heads, checkpoints and tables live. @default - the run directory's local stores */
  readonly stores?: CheckpointStores;
  /** How to name where the stores are in the summary. @default - the run directory */
  readonly storesLocation?: string;
  /** Where the status line goes when it is a terminal. @default - none */
  readonly status?: StatusStream;
  /** Sees every batch's committed outcome (the demo keeps the rows). */
  readonly onOutcome?: (outcome: CommitOutcome<unknown>) => void;
  /** Checkpoint manifests kept per commit group. @default 10 (CheckpointedProcessor's default) */
  readonly keepCheckpoints?: number;
  /**
   * Stops the run between two batches (Ctrl-C): what is committed stays and is published, the
   * rest is left for the next run, which resumes there. @default - runs to the end
   */
  readonly signal?: AbortSignal;
  /**
   * How often the committed rows are published while the run goes on (a publish round after the
   * first batch that commits once this long has passed); the run always publishes at its end.
   * @default 10_000 (the processor's default)
   */
  readonly publishIntervalMs?: number;
}

/** What a run did, and what its run directory holds. `--json` prints it. */
export interface RunReport {
  readonly job: string;
  readonly dir: string;
  /** Where the stores are: the run directory, or the DynamoDB table and S3 location. */
  readonly stores: string;
  readonly input: string;
  readonly topic: string;
  readonly partitions: number;
  readonly key: string | null;
  readonly timestamp: string | null;
  /** The most records per event, or null for no limit but the 6 MB payload. */
  readonly batchSize: number | null;
  /** Records in the input. */
  readonly records: number;
  /** Of those, records without the `--key` field (or not JSON), placed round-robin without a key. */
  readonly withoutKey: number;
  /** Lambda events the input is cut into. */
  readonly batches: number;
  /** Events skipped because an earlier invocation had committed all their records. */
  readonly skippedBatches: number;
  /** Commits in the run directory for this job, by every invocation. */
  readonly commits: number;
  /** Commits this invocation made. */
  readonly newCommits: number;
  /** Committed totals, over every invocation. */
  readonly rows: number;
  readonly late: number;
  readonly deadLetters: number;
  /** The most common reasons of this invocation's dead letters, most frequent first (at most 3). */
  readonly deadLetterReasons: readonly { readonly reason: string; readonly count: number }[];
  /** True when an earlier invocation had finished the input: this one committed nothing. */
  readonly alreadyComplete: boolean;
  /** Why the run stopped before the end of the input (`SIGINT`, `SIGTERM`), or null when it finished. */
  readonly stopped: string | null;
  /** Partition id → last committed offset, over every invocation (absent: nothing committed). */
  readonly offsets: Readonly<Record<string, number>>;
  readonly elapsedMs: number;
  /** Records this invocation delivered to the handler, per second of its run. */
  readonly recordsPerSecond: number;
  readonly tableNames: { readonly rows: string; readonly late: string; readonly deadLetters: string };
  /** The job's tables that exist, with their current metadata files. */
  readonly tables: readonly CatalogTable[];
  /**
   * What this invocation asked of the stores: requests, bytes and sequential round trips, by
   * store and operation (what a deployment pays for, and what each invocation waits on).
   */
  readonly requests: RequestCounts & { readonly perCommit: number; readonly roundTripsPerBatch: number };
}

/** The handler logs one JSON line per batch and per dead letter; the runner shows a summary instead. */
const QUIET: Logger = { log() {} };

/**
 * Runs a job over an input: every event through the job's Lambda handler, exactly as the event
 * source mapping would deliver it, skipping events an earlier invocation committed; then drains
 * (every window fires), publishes, and cleans up old checkpoints. Committed rows are published
 * every `publishIntervalMs` on the way, and at the end, also when the run is stopped.
 */
export async function runJob(job: Job<unknown>, input: RunInput, options: RunJobOptions): Promise<RunReport> {
  const started = performance.now();
  const { params } = input;
  const meter = meterRequests(options.stores ?? localCheckpointStores(options.dir));
  if (job.plan.scope === 'partition' && params.partitions > 1 && params.key === null) {
    throw new UsageError(
      `${job.name} keys by the Kafka key (isKafkaKey), so each key's records must share a partition: give --key <field>, or --partitions 1.`,
    );
  }
  // Reading starts now (in a worker thread for a big file), while the run directory is claimed.
  const read: ReadStats = { records: 0, withoutKey: 0, bytesRead: 0 };
  const events = runEvents(params, job.plan.scope, read);
  const first = events.next();
  // Its failure is thrown where the first event is awaited, not as an unhandled rejection before.
  first.catch(() => undefined);
  try {
    return await runEventsThrough(job, input, options, { started, meter, read, events, first });
  } finally {
    await first.catch(() => undefined);
    await events.return(undefined);
  }
}

/** The rest of runJob, once the input's reading has started. */
async function runEventsThrough(
  job: Job<unknown>,
  input: RunInput,
  options: RunJobOptions,
  reading: {
    readonly started: number;
    readonly meter: ReturnType<typeof meterRequests>;
    readonly read: ReadStats;
    readonly events: AsyncGenerator<CutEvent>;
    readonly first: Promise<IteratorResult<CutEvent>>;
  },
): Promise<RunReport> {
  const { params } = input;
  const { started, meter, read, events, first } = reading;
  await claimRunDirectory(options.dir, params);
  // What a killed run (kill -9) left half-written.
  await sweepRunDirectory(options.dir, { folders: [JOBS_FOLDER] });

  const partitions = Array.from({ length: params.partitions }, (_, partition) => ({
    topic: params.topic,
    partition,
  }));
  const status = new StatusLine(options.status);
  // Each partition's watermark as last committed: the status line shows the lowest.
  const watermarks = new Map<string, number>();
  // Dead letters by reason, for the warning of a run that is mostly dead letters.
  const reasons = new Map<string, number>();
  // Whether the batch just handled was followed by a publish round that ran.
  let published = false;
  const processor = new ObservedProcessor(
    job,
    {
      stores: meter.stores,
      partitions,
      keepCheckpoints: options.keepCheckpoints,
      ...(options.publishIntervalMs === undefined ? {} : { publishIntervalMs: options.publishIntervalMs }),
    },
    (outcome) => {
      for (const p of outcome.partitions) watermarks.set(p.id, p.watermark);
      for (const dead of outcome.deadLetters) reasons.set(dead.reason, (reasons.get(dead.reason) ?? 0) + 1);
      published = outcome.round?.ran === true && outcome.round.error === undefined;
      options.onOutcome?.(outcome);
    },
  );
  const handler = createHandlerWith(job, { processor, logger: QUIET }, localStores);

  const before = await processor.committed();
  // A changed definition is fine while nothing is committed (a run that failed at once).
  await claimJob(options.dir, job, { committed: before.groups.length > 0 });
  for (const [id, watermark] of before.watermarks) watermarks.set(id, watermark);
  // Partitions that have records: the status line's watermark is the lowest of theirs.
  const active = new Set<string>();
  const progress = {
    job: job.name,
    records: 0,
    recordsDone: 0,
    batchesDone: 0,
    fileBytes: params.size,
    bytesRead: 0,
    watermark: Number.NEGATIVE_INFINITY,
    rows: before.totals.rows,
    late: before.totals.late,
    deadLetters: before.totals.deadLetters,
    published: before.totals.rows,
    draining: false,
  };
  const show = (force = false) =>
    status.update(() => {
      progress.records = read.records;
      progress.bytesRead = read.bytesRead;
      progress.watermark =
        active.size === 0
          ? Number.NEGATIVE_INFINITY
          : Math.min(...[...active].map((id) => watermarks.get(id) ?? Number.NEGATIVE_INFINITY));
      return statusText(progress);
    }, force);

  let skippedBatches = 0;
  let newCommits = 0;
  let delivered = 0;
  let stopped: string | null = null;
  let complete = false;
  const stopRequested = () => {
    if (options.signal?.aborted === true) stopped = String(options.signal.reason ?? 'aborted');
    return stopped !== null;
  };
  // Each partition's events in order, partitions at the same time (one lane when the job's one
  // commit group covers every partition): a batch starts only when its partition's previous one
  // has committed, as the event source mapping delivers them.
  const lanes = new Lanes<{ event: () => KafkaEvent; records: number }>(
    async ({ event, records }) => {
      // Between two batches of a partition: everything delivered so far is committed.
      if (stopRequested()) return;
      const result = await handler(event());
      newCommits += result.commits;
      delivered += records;
      progress.rows += result.rows;
      progress.late += result.late;
      progress.deadLetters += result.deadLetters;
      if (published) progress.published = progress.rows;
      progress.recordsDone += records;
      progress.batchesDone++;
      show();
    },
    job.plan.scope === 'partition' ? RUN_CONCURRENCY : 1,
    // Read ahead: the next batch of each running lane is ready when it ends.
    (job.plan.scope === 'partition' ? RUN_CONCURRENCY : 1) + 1,
  );
  try {
    show(true);
    try {
      // A record over Lambda's 6 MB limit comes in an event of its own and becomes a dead letter.
      for (let next = await first; next.done !== true; next = await events.next()) {
        const { event, partition, records, lasts } = next.value;
        if (stopRequested()) break;
        for (const [id] of lasts) active.add(id);
        if (lasts.every(([id, last]) => last <= (before.offsets.get(id) ?? -1))) {
          skippedBatches++;
          progress.recordsDone += records;
          progress.batchesDone++;
          show();
        } else {
          await lanes.push(Math.max(0, partition), { event, records });
        }
      }
    } finally {
      // Whatever ended the loop, no write of a batch is in flight past this point.
      await lanes.finish();
    }
    complete = !stopRequested();
    if (complete) {
      progress.draining = true;
      show(true);
      // Ends with a publish round: every committed row is in the tables.
      const drained = await processor.drain();
      newCommits += drained.commits.length;
      await processor.cleanup();
    } else {
      // Stopped between two batches: what is committed is published now, not at the next run.
      await processor.publish();
    }
  } finally {
    status.clear();
    // No write of this process is in flight any more: its own temporary files go too.
    await sweepRunDirectory(options.dir, { own: true, folders: [JOBS_FOLDER] });
  }
  // A stopped run did not read the whole file: count the rest for the summary.
  const records = complete ? read.records : read.records + (await countRecords(params.input, read.bytesRead));

  const after = await processor.committed();
  const names = processor.tableNames;
  const ours = new Set([names.rows, names.late, names.deadLetters]);
  const requests = meter.take();
  const tables = (await meter.stores.catalog.listTables()).filter((t) => ours.has(t.name));
  const elapsedMs = performance.now() - started;
  return {
    job: job.name,
    dir: options.dir,
    stores: options.storesLocation ?? options.dir,
    input: params.input,
    topic: params.topic,
    partitions: params.partitions,
    key: params.key,
    timestamp: params.timestamp,
    batchSize: params.batchSize,
    records,
    withoutKey: read.withoutKey,
    batches: progress.batchesDone,
    skippedBatches,
    commits: after.groups.reduce((sum, g) => sum + g.epoch, 0),
    newCommits,
    rows: after.totals.rows,
    late: after.totals.late,
    deadLetters: after.totals.deadLetters,
    alreadyComplete: before.drained && newCommits === 0,
    stopped,
    offsets: Object.fromEntries(after.offsets),
    deadLetterReasons: [...reasons]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([reason, count]) => ({ reason, count })),
    elapsedMs: Math.round(elapsedMs),
    recordsPerSecond: elapsedMs > 0 ? Math.round(delivered / (elapsedMs / 1000)) : 0,
    tableNames: names,
    tables,
    requests: {
      ...requests,
      perCommit: newCommits > 0 ? Math.round((requests.requests / newCommits) * 10) / 10 : 0,
      roundTripsPerBatch:
        progress.batchesDone > 0 ? Math.round((requests.roundTrips / progress.batchesDone) * 10) / 10 : 0,
    },
  };
}

/** The processor the handler runs, reporting each batch's outcome to the runner. */
class ObservedProcessor extends CheckpointedProcessor<unknown> {
  constructor(
    job: Job<unknown>,
    options: CheckpointedProcessorOptions,
    private readonly observe: (outcome: CommitOutcome<unknown>) => void,
  ) {
    super(job, options);
  }

  override async process(event: KafkaEvent): Promise<CommitOutcome<unknown>> {
    const outcome = await super.process(event);
    this.observe(outcome);
    return outcome;
  }

  override async drain(): Promise<CommitOutcome<unknown>> {
    const outcome = await super.drain();
    this.observe(outcome);
    return outcome;
  }
}

function statusText(p: RunProgress): string {
  const percent = p.fileBytes === 0 ? 100 : Math.min(100, Math.floor((p.bytesRead / p.fileBytes) * 100));
  const where = p.draining
    ? 'draining: firing every window'
    : `records ${n(p.recordsDone)} (${percent}% of the file read)  batches ${n(p.batchesDone)}`;
  return `${p.job}  ${where}  watermark ${formatTime(p.watermark)}  rows ${n(p.rows)} (published ${n(p.published)})  late ${n(p.late)}  dead ${n(p.deadLetters)}`;
}

/**
 * Records the run's parameters in `<dir>/run.json` on the first run (atomically: a complete file
 * or none), and on later runs checks that they are the same: the same file, cut into the same
 * batches, is what makes a restart resume exactly where the last commit left off.
 */
export async function claimRunDirectory(dir: string, params: RunParams): Promise<void> {
  const path = join(dir, RUN_RECORD);
  const recorded = await readRunParams(path);
  if (recorded === undefined) {
    // Exclusive create: of two first runs starting at once, one records its flags and the other
    // is checked against them.
    const outcome = await local(() =>
      createExclusive(path, new TextEncoder().encode(`${JSON.stringify(params, null, 2)}\n`)),
    );
    if (outcome === 'created') return;
    return claimRunDirectory(dir, params);
  }
  const problem = mismatch(recorded, params);
  if (problem !== undefined) {
    throw new UsageError(
      `${dir} holds a run of ${recorded.input} ${problem}; use the same flags or another --dir.`,
    );
  }
}

/**
 * Records the job's definition in `<dir>/jobs/<job>.json` on its first run there, and refuses a
 * later run whose definition differs once the job has committed: committed state holds windows of
 * the old definition, and mixing them with the new one gives a table no uninterrupted run would.
 * While nothing is committed (a run that stopped on a job error before its first commit) the new
 * definition replaces the old one. Changes inside functions (the aggregate, a map) are not visible
 * here; use another --dir after changing them.
 */
export async function claimJob(
  dir: string,
  job: Job<unknown>,
  { committed }: { readonly committed: boolean },
): Promise<void> {
  const path = join(dir, JOBS_FOLDER, `${job.name.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`);
  const definition = jobDefinition(job);
  const body = new TextEncoder().encode(`${JSON.stringify({ definition }, null, 2)}\n`);
  let recorded: string | undefined;
  try {
    recorded = (JSON.parse(await readFile(path, 'utf8')) as { definition?: string }).definition;
  } catch (error) {
    if (isPermanentFsError(error)) throw fsStorageError(`Cannot read ${path}`, error);
    if (errorCode(error) !== 'ENOENT')
      throw new UsageError(`Cannot read ${path}: ${(error as Error).message}`);
    if ((await local(() => createExclusive(path, body))) === 'created') return;
    return claimJob(dir, job, { committed });
  }
  if (recorded !== definition && !committed) {
    await local(() => replaceAtomically(path, body));
    return;
  }
  if (recorded !== definition) {
    throw new UsageError(
      `${dir} holds a run of job ${job.name} as ${recorded}; it is now ${definition}. Use another --dir for the changed job.`,
    );
  }
}

/** Runs a file operation of the run directory, its permanent failures as PermanentStorageErrors. */
async function local<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (isPermanentFsError(error)) throw fsStorageError('Cannot write the run directory', error);
    throw error;
  }
}

/** What identifies a job's definition: its pipeline, lateness and table. */
export function jobDefinition(job: Job<unknown>): string {
  const { plan } = job;
  const transforms = plan.transforms.map((t) => t.kind).join(', ');
  const columns = Object.entries(plan.table.columns)
    .map(([name, spec]) => `${name} ${typeof spec === 'string' ? spec : `${spec.type}?`}`)
    .join(', ');
  return `${job} [transforms: ${transforms || 'none'}; allowed lateness ${plan.allowedLatenessMs} ms; columns: ${columns}]`;
}

async function readRunParams(path: string): Promise<RunParams | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    if (isPermanentFsError(error)) throw fsStorageError(`Cannot read ${path}`, error);
    throw new UsageError(`Cannot read ${path}: ${(error as Error).message}`);
  }
  let params: { format?: unknown } | undefined;
  try {
    params = JSON.parse(text) as { format?: unknown };
  } catch {}
  if (params?.format === 2) return params as RunParams;
  if (params?.format === 1) {
    // Format 1 cut its batches otherwise (round-robin over partitions, 10,000 records by default):
    // resuming it with today's batches would not give the tables of an uninterrupted run.
    throw new UsageError(
      `${path} records a run of an earlier floe version, which cut its batches differently; finish it with that version, or use another --dir.`,
    );
  }
  throw new UsageError(`${path} is not a floe run record; use another --dir.`);
}

/** How the recorded run differs from this one, in flags, or undefined when they agree. */
function mismatch(recorded: RunParams, now: RunParams): string | undefined {
  if (recorded.input !== now.input) return '(not this --input)';
  if (recorded.size !== now.size || recorded.mtimeMs !== now.mtimeMs) {
    return `as it was at ${formatTime(recorded.mtimeMs)} (${n(recorded.size)} bytes); the file has changed since (${formatTime(now.mtimeMs)}, ${n(now.size)} bytes)`;
  }
  const flags: [string, unknown, unknown][] = [
    ['--partitions', recorded.partitions, now.partitions],
    ['--key', recorded.key, now.key],
    ['--batch-size', recorded.batchSize, now.batchSize],
    ['--topic', recorded.topic, now.topic],
    ['--timestamp', recorded.timestamp, now.timestamp],
  ];
  const differing = flags
    .filter(([, a, b]) => a !== b)
    .map(([flag, a]) =>
      a === null ? (flag === '--batch-size' ? `the default ${flag}` : `no ${flag}`) : `${flag} ${String(a)}`,
    );
  return differing.length === 0 ? undefined : `with ${differing.join(', ')}`;
}

/** The command: `floe run <job.ts> --input <file.jsonl> [flags]`. */
export interface RunCommandOptions extends RunInputOptions {
  readonly jobPath: string;
  /** @default .floe/run/<job name> */
  readonly dir?: string;
  readonly json: boolean;
  /** @default 10 */
  readonly keepCheckpoints?: number;
  /** Milliseconds between publish rounds while running (the run publishes at its end anyway). @default 10_000 */
  readonly publishIntervalMs?: number;
  /** Exit with status 1 when any record became a dead letter. @default false */
  readonly failOnDeadLetters?: boolean;
  /** Type-check the job file before running it. @default true */
  readonly typecheck?: boolean;
  /** Ctrl-C: stop between batches (see RunJobOptions.signal). */
  readonly signal?: AbortSignal;
  /** Read a Kafka topic instead of --input (cli/kafka-run.ts). */
  readonly kafka?: KafkaFlags;
  /** DynamoDB and S3 instead of the run directory's stores. */
  readonly stores?: StoreFlags;
}

/** The exit status of a run stopped by a signal (128 + SIGINT), whichever signal it was. */
export const EXIT_STOPPED = 130;

/** Runs the command and returns its exit status: 0, 1 (--fail-on-dead-letters) or 130 (stopped). */
export async function run(
  options: RunCommandOptions,
  out: (text: string) => void,
  status: StatusStream | undefined = process.stderr,
  warn: (text: string) => void = (text) => process.stderr.write(`${text}\n`),
): Promise<number> {
  if (options.kafka !== undefined) {
    const { runKafka } = await import('./kafka-run.ts');
    await runKafka({ ...options, kafka: options.kafka }, out, status);
    return 0;
  }
  const { job, typecheck } = await loadCheckedJob(options.jobPath, { typecheck: options.typecheck ?? true });
  const input = await openRunInput(options);
  const dir = options.dir ?? join('.floe', 'run', job.name);
  const stores = await storesFor(job.name, options.stores, dir);
  let report: RunReport;
  try {
    report = await runJob(job, input, {
      dir,
      stores,
      storesLocation: storesLocation(options.stores, dir),
      status,
      keepCheckpoints: options.keepCheckpoints,
      ...(options.publishIntervalMs === undefined ? {} : { publishIntervalMs: options.publishIntervalMs }),
      signal: options.signal,
    });
  } catch (error) {
    // The job's own mistake (a row that does not fit its table): one line, exit 2. Nothing of the
    // batch was committed, so the corrected job resumes in the same --dir.
    if (error instanceof FloeJobError) throw new UsageError(error.message);
    throw error;
  }
  if (report.stopped !== null) {
    const resume = resumeCommand(options, dir);
    out(options.json ? (toJson({ ...report, resume }) ?? '{}') : renderStopped(report, resume));
    return EXIT_STOPPED;
  }
  out(options.json ? (toJson({ ...report, typecheck }) ?? '{}') : renderReport(report));
  for (const line of deadLetterWarnings(report, input)) warn(line);
  if (options.failOnDeadLetters === true && report.deadLetters > 0) {
    warn(
      `floe: ${count(report.deadLetters, 'record', 'records')} became dead letters (in ${report.tableNames.deadLetters}); exit 1 because of --fail-on-dead-letters.`,
    );
    return 1;
  }
  return 0;
}

/** A run is mostly dead letters when more than this share of its records are. */
const MOSTLY = 0.5;

/**
 * Warnings for a run whose records are mostly dead letters: why (the most common reason) and,
 * for a file that starts with `[`, that the input must be JSON lines and how to convert it.
 */
export function deadLetterWarnings(r: RunReport, input: Pick<RunInput, 'looksLikeJsonArray'>): string[] {
  if (r.records === 0 || r.deadLetters <= r.records * MOSTLY) return [];
  const percent = Math.round((Math.min(r.deadLetters, r.records) / r.records) * 100);
  const lines = [
    `floe: warning: ${n(r.deadLetters)} of ${count(r.records, 'record', 'records')} (${percent} %) became dead letters, in ${r.tableNames.deadLetters}.`,
  ];
  const [top] = r.deadLetterReasons;
  if (top !== undefined) {
    const reason = top.reason.length > 160 ? `${top.reason.slice(0, 157)}...` : top.reason;
    lines.push(`floe: the most common reason (${count(top.count, 'record', 'records')}): ${reason}`);
  }
  if (input.looksLikeJsonArray) {
    const name = basename(r.input);
    const jsonl = `${name.replace(/\.json$/i, '')}.jsonl`;
    lines.push(
      `floe: ${name} starts with "[": it looks like a JSON array, but --input takes JSON lines, one object per line. Convert it with: jq -c '.[]' ${shellQuote(name)} > ${shellQuote(jsonl)}`,
    );
  }
  return lines;
}

/** The command that resumes a stopped run: the same flags and the same --dir. */
export function resumeCommand(options: RunCommandOptions, dir: string): string {
  const args = ['npx', 'floe', 'run', options.jobPath, '--input', options.input];
  const flags: [string, string | number | undefined][] = [
    ['--key', options.key],
    ['--partitions', options.partitions],
    ['--batch-size', options.batchSize],
    ['--timestamp', options.timestamp],
    ['--topic', options.topic],
    ['--keep-checkpoints', options.keepCheckpoints],
    ['--publish-interval', options.publishIntervalMs],
  ];
  for (const [flag, value] of flags) if (value !== undefined) args.push(flag, String(value));
  args.push('--dir', dir);
  if (options.failOnDeadLetters === true) args.push('--fail-on-dead-letters');
  if (options.json) args.push('--json');
  return args.map(shellQuote).join(' ');
}

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}

/** What `floe run` prints when stopped: where each partition stopped, and how to resume. */
export function renderStopped(r: RunReport, resume: string): string {
  const ids = Object.keys(r.offsets).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const shown = ids.slice(0, 8).map((id) => `${id} at offset ${n(r.offsets[id]!)}`);
  if (ids.length > shown.length) shown.push(`${n(ids.length - shown.length)} more`);
  const committed = Object.values(r.offsets).reduce((sum, offset) => sum + offset + 1, 0);
  return [
    `floe run ${r.job}: stopped by ${r.stopped}; every batch committed so far is kept.`,
    `  committed ${n(committed)} of ${count(r.records, 'record', 'records')} (${ids.length === 0 ? 'none yet' : shown.join(', ')})`,
    `  rows ${n(r.rows)}, late ${n(r.late)}, dead letters ${n(r.deadLetters)} so far, in ${r.dir}`,
    'Resume where it stopped with:',
    `  ${resume}`,
  ].join('\n');
}

/** The summary `floe run` prints. */
export function renderReport(r: RunReport): string {
  const keyed = r.key === null ? 'no key (round-robin)' : `key ${r.key}`;
  const batches = r.batchSize === null ? '6 MB' : `${n(r.batchSize)} records`;
  const lines = [
    `floe run ${r.job}: ${count(r.records, 'record', 'records')} of ${basename(r.input)} (topic ${r.topic}, ${r.partitions} partition${r.partitions === 1 ? '' : 's'}, ${keyed}, batches of up to ${batches})`,
  ];
  if (r.key !== null && r.withoutKey > 0) {
    lines.push(
      `  ${count(r.withoutKey, 'record', 'records')} without a "${r.key}" field (or not JSON) went round-robin, without a key`,
    );
  }
  lines.push(
    r.alreadyComplete
      ? `  already complete, nothing new committed (${count(r.commits, 'commit', 'commits')} in ${r.dir})`
      : `  ${count(r.batches, 'batch', 'batches')}, ${count(r.newCommits, 'commit', 'commits')}${r.skippedBatches > 0 ? `, resumed after ${count(r.skippedBatches, 'batch', 'batches')} committed earlier` : ''}, ${seconds(r.elapsedMs)}, ${n(r.recordsPerSecond)} records/s`,
    `  rows          ${n(r.rows).padStart(9)}  ${r.tableNames.rows}`,
    `  late          ${n(r.late).padStart(9)}  ${r.tableNames.late}`,
    `  dead letters  ${n(r.deadLetters).padStart(9)}  ${r.tableNames.deadLetters}`,
  );
  if (r.newCommits > 0) {
    lines.push(
      `  store requests ${n(r.requests.requests)} (${r.requests.perCommit} per commit, ${r.requests.roundTripsPerBatch} round trips per batch; --json has them by operation)`,
    );
  }
  lines.push(
    '',
    `Tables in ${r.stores} (current metadata):`,
    renderTable(r.tables.map((t) => ({ table: t.name, metadata: t.metadataLocation }))),
  );
  const first = r.tables.find((t) => t.name === r.tableNames.rows) ?? r.tables[0];
  if (first !== undefined && r.stores === r.dir) lines.push('', readingHints(r.dir, first));
  return lines.join('\n');
}

/** How to read a run's tables: `floe query` (DuckDB, installed with Floe), `floe tables`, pyiceberg. */
export function readingHints(dir: string, table: CatalogTable): string {
  return [
    'Read them:',
    `  ${queryCommand(`select * from ${table.name} limit 10`, dir)}`,
    `  npx floe tables --dir ${shellWord(dir)}`,
    `  python -c "from pyiceberg.table import StaticTable; print(StaticTable.from_metadata('${table.metadataLocation}').scan().to_arrow())"`,
  ].join('\n');
}

function inRange(flag: string, value: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new UsageError(`${flag} must be a whole number from 1 to ${n(max)}, got ${String(value)}.`);
  }
  return value;
}

function count(value: number, one: string, many: string): string {
  return `${n(value)} ${value === 1 ? one : many}`;
}

function n(value: number): string {
  return value.toLocaleString('en');
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
