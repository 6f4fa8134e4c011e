/**
 * `floe run`: runs a job over a JSON lines file read as a Kafka topic, through the job's Lambda
 * handler and the exactly-once commit protocol, into Iceberg tables in a run directory. The demo
 * (`npm start`) runs the examples through the same code.
 *
 * A run is restartable: killed at any moment, the same command resumes from the last commit,
 * because the topic and its batches are a pure function of the file and the flags (recorded in
 * `<dir>/run.json` and checked on every start) and the commit protocol skips what is committed.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { createExclusive, errorCode } from '../adapters/local/durable-file.ts';
import { localCheckpointStores, runDirectory } from '../adapters/local/run-directory.ts';
import { createHandler } from '../functions/handler.ts';
import type { Logger } from '../functions/logger.ts';
import {
  CheckpointedProcessor,
  type CheckpointedProcessorOptions,
  type CommitOutcome,
} from '../runtime/checkpoint/checkpointed-processor.ts';
import { partitionId } from '../runtime/engine/state.ts';
import { FloeConfigError } from '../runtime/errors.ts';
import { eventBatches, MAX_BATCH_SIZE } from '../runtime/event-source-mapping/event-builder.ts';
import type { Job } from '../runtime/job/job.ts';
import { toJson } from '../runtime/output-json.ts';
import type { KafkaEvent } from '../runtime/source/kafka-event.ts';
import type { CatalogTable } from '../runtime/stores/catalog.ts';
import { type JsonLinesTopic, jsonLinesTopic, topicNameOf, topicNameProblem } from './jsonl-topic.ts';
import type { KafkaFlags } from './kafka-run.ts';
import { loadJob } from './load-job.ts';
import { StatusLine, type StatusStream } from './progress.ts';
import { formatTime, queryCommand, renderTable, shellWord } from './render.ts';
import { UsageError } from './usage-error.ts';

/**
 * One partition, as a topic created with Kafka's default `num.partitions`. It is right for every
 * job with or without `--key`; more partitions need `--key` for jobs keyed by the Kafka key.
 */
export const DEFAULT_PARTITIONS = 1;
/**
 * Records per Lambda event. The event source mapping's default is 100; 500 makes a local run
 * commit five times less often, and is still far from the 6 MB payload limit for small records.
 */
export const DEFAULT_RUN_BATCH_SIZE = 500;
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
  /** Records per Lambda event. @default 500 (DEFAULT_RUN_BATCH_SIZE), 1 to 10,000 as the ESM allows */
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
  readonly format: 1;
  /** Absolute path of the input file. */
  readonly input: string;
  readonly size: number;
  /** The file's modification time, epoch ms (also the default record timestamp). */
  readonly mtimeMs: number;
  readonly topic: string;
  readonly partitions: number;
  readonly key: string | null;
  readonly timestamp: string | null;
  readonly batchSize: number;
}

/** An input file read as a topic, ready to run jobs over. */
export interface RunInput {
  readonly params: RunParams;
  readonly topic: JsonLinesTopic;
}

/** Reads the input file and builds its topic; flag mistakes are UsageErrors. */
export async function openRunInput(options: RunInputOptions): Promise<RunInput> {
  const partitions = inRange('--partitions', options.partitions ?? DEFAULT_PARTITIONS, MAX_PARTITIONS);
  const batchSize = inRange('--batch-size', options.batchSize ?? DEFAULT_RUN_BATCH_SIZE, MAX_BATCH_SIZE);
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
  let content: Buffer;
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
    if (!info.isFile()) throw new Error('not a file');
    content = await readFile(path);
  } catch {
    throw new UsageError(`Input file not found or unreadable: ${options.input}`);
  }
  const mtimeMs = Math.floor(Number(info.mtimeMs));
  const params: RunParams = {
    format: 1,
    input: path,
    size: Number(info.size),
    mtimeMs,
    topic,
    partitions,
    key: options.key ?? null,
    timestamp: options.timestamp ?? null,
    batchSize,
  };
  const built = jsonLinesTopic(content, {
    topic,
    partitions,
    key: options.key,
    timestamp: options.timestamp,
    defaultTimestamp: mtimeMs,
  });
  return { params, topic: built };
}

/** Progress of a run, as the status line and the observer see it. */
export interface RunProgress {
  readonly job: string;
  /** Records in the input, and those delivered or found committed so far. */
  readonly records: number;
  readonly recordsDone: number;
  /** Events delivered or found committed so far. */
  readonly batchesDone: number;
  /** The lowest watermark of the partitions that have records (-inf before the first commit). */
  readonly watermark: number;
  /** Committed so far, this invocation and earlier ones. */
  readonly rows: number;
  readonly late: number;
  readonly deadLetters: number;
  readonly draining: boolean;
}

export interface RunJobOptions {
  /** The run directory. */
  readonly dir: string;
  /** Where the status line goes when it is a terminal. @default - none */
  readonly status?: StatusStream;
  /** Sees every batch's committed outcome (the demo keeps the rows). */
  readonly onOutcome?: (outcome: CommitOutcome<unknown>) => void;
  /** Checkpoint manifests kept per commit group. @default 10 (CheckpointedProcessor's default) */
  readonly keepCheckpoints?: number;
}

/** What a run did, and what its run directory holds. `--json` prints it. */
export interface RunReport {
  readonly job: string;
  readonly dir: string;
  readonly input: string;
  readonly topic: string;
  readonly partitions: number;
  readonly key: string | null;
  readonly timestamp: string | null;
  readonly batchSize: number;
  /** Records in the input. */
  readonly records: number;
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
  /** True when an earlier invocation had finished the input: this one committed nothing. */
  readonly alreadyComplete: boolean;
  readonly elapsedMs: number;
  /** Records this invocation delivered to the handler, per second of its run. */
  readonly recordsPerSecond: number;
  readonly tableNames: { readonly rows: string; readonly late: string; readonly deadLetters: string };
  /** The job's tables that exist, with their current metadata files. */
  readonly tables: readonly CatalogTable[];
}

/** The handler logs one JSON line per batch and per dead letter; the runner shows a summary instead. */
const QUIET: Logger = { log() {} };

/**
 * Runs a job over an input: every event through the job's Lambda handler, exactly as the event
 * source mapping would deliver it, skipping events an earlier invocation committed; then drains
 * (every window fires) and cleans up old checkpoints.
 */
export async function runJob(job: Job<unknown>, input: RunInput, options: RunJobOptions): Promise<RunReport> {
  const started = performance.now();
  const { params, topic } = input;
  if (job.plan.scope === 'partition' && params.partitions > 1 && params.key === null) {
    throw new UsageError(
      `${job.name} keys by the Kafka key (isKafkaKey), so each key's records must share a partition: give --key <field>, or --partitions 1.`,
    );
  }
  await claimRunDirectory(options.dir, params);
  await claimJob(options.dir, job);

  const { log } = topic;
  const partitions = log.partitions.map((_, partition) => ({ topic: log.topic, partition }));
  const status = new StatusLine(options.status);
  // Each partition's watermark as last committed: the status line shows the lowest.
  const watermarks = new Map<string, number>();
  const processor = new ObservedProcessor(
    job,
    { stores: localCheckpointStores(options.dir), partitions, keepCheckpoints: options.keepCheckpoints },
    (outcome) => {
      for (const p of outcome.partitions) watermarks.set(p.id, p.watermark);
      options.onOutcome?.(outcome);
    },
  );
  const handler = createHandler(job, { processor, logger: QUIET });

  const before = await processor.committed();
  for (const [id, watermark] of before.watermarks) watermarks.set(id, watermark);
  const active = log.partitions.flatMap((records, p) =>
    records.length > 0 ? [partitionId(log.topic, p)] : [],
  );
  const progress = {
    job: job.name,
    records: topic.records,
    recordsDone: 0,
    batchesDone: 0,
    watermark: Number.NEGATIVE_INFINITY,
    rows: before.totals.rows,
    late: before.totals.late,
    deadLetters: before.totals.deadLetters,
    draining: false,
  };
  const show = (force = false) =>
    status.update(() => {
      progress.watermark = Math.min(
        ...active.map((id) => watermarks.get(id) ?? Number.NEGATIVE_INFINITY),
        Number.POSITIVE_INFINITY,
      );
      return statusText(progress);
    }, force);

  let skippedBatches = 0;
  let newCommits = 0;
  let delivered = 0;
  try {
    show(true);
    for (const event of eventBatches(log, { batchSize: params.batchSize })) {
      const records = recordsIn(event);
      if (committedBefore(event, before.offsets)) {
        skippedBatches++;
      } else {
        const result = await handler(event);
        newCommits += result.commits;
        delivered += records;
        progress.rows += result.rows;
        progress.late += result.late;
        progress.deadLetters += result.deadLetters;
      }
      progress.recordsDone += records;
      progress.batchesDone++;
      show();
    }
    progress.draining = true;
    show(true);
    const drained = await processor.drain();
    newCommits += drained.commits.length;
    await processor.cleanup();
  } finally {
    status.clear();
  }

  const after = await processor.committed();
  const names = processor.tableNames;
  const ours = new Set([names.rows, names.late, names.deadLetters]);
  const tables = (await runDirectory(options.dir).catalog.listTables()).filter((t) => ours.has(t.name));
  const elapsedMs = performance.now() - started;
  return {
    job: job.name,
    dir: options.dir,
    input: params.input,
    topic: params.topic,
    partitions: params.partitions,
    key: params.key,
    timestamp: params.timestamp,
    batchSize: params.batchSize,
    records: topic.records,
    batches: progress.batchesDone,
    skippedBatches,
    commits: after.groups.reduce((sum, g) => sum + g.epoch, 0),
    newCommits,
    rows: after.totals.rows,
    late: after.totals.late,
    deadLetters: after.totals.deadLetters,
    alreadyComplete: before.drained && newCommits === 0,
    elapsedMs: Math.round(elapsedMs),
    recordsPerSecond: elapsedMs > 0 ? Math.round(delivered / (elapsedMs / 1000)) : 0,
    tableNames: names,
    tables,
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

/** True when every record of the event is at or below its partition's committed offset. */
function committedBefore(event: KafkaEvent, offsets: ReadonlyMap<string, number>): boolean {
  return Object.entries(event.records).every(([id, records]) => {
    const last = records[records.length - 1];
    return last === undefined || last.offset <= (offsets.get(id) ?? -1);
  });
}

function recordsIn(event: KafkaEvent): number {
  let n = 0;
  for (const records of Object.values(event.records)) n += records.length;
  return n;
}

function statusText(p: RunProgress): string {
  const percent = p.records === 0 ? 100 : Math.floor((p.recordsDone / p.records) * 100);
  const where = p.draining
    ? 'draining: firing every window'
    : `records ${n(p.recordsDone)}/${n(p.records)} (${percent}%)  batches ${n(p.batchesDone)}`;
  return `${p.job}  ${where}  watermark ${formatTime(p.watermark)}  rows ${n(p.rows)}  late ${n(p.late)}  dead ${n(p.deadLetters)}`;
}

/**
 * Records the run's parameters in `<dir>/run.json` on the first run (atomically: a complete file
 * or none), and on later runs checks that they are the same: the same file, cut into the same
 * batches, is what makes a restart resume exactly where the last commit left off.
 */
export async function claimRunDirectory(dir: string, params: RunParams): Promise<void> {
  const path = join(dir, 'run.json');
  const recorded = await readRunParams(path);
  if (recorded === undefined) {
    // Exclusive create: of two first runs starting at once, one records its flags and the other
    // is checked against them.
    const outcome = await createExclusive(
      path,
      new TextEncoder().encode(`${JSON.stringify(params, null, 2)}\n`),
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
 * later run whose definition differs: committed state holds windows of the old definition, and
 * mixing them with the new one gives a table no uninterrupted run would. Changes inside functions
 * (the aggregate, a map) are not visible here; use another --dir after changing them.
 */
export async function claimJob(dir: string, job: Job<unknown>): Promise<void> {
  const path = join(dir, 'jobs', `${job.name.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`);
  const definition = jobDefinition(job);
  let recorded: string | undefined;
  try {
    recorded = (JSON.parse(await readFile(path, 'utf8')) as { definition?: string }).definition;
  } catch (error) {
    if (errorCode(error) !== 'ENOENT')
      throw new UsageError(`Cannot read ${path}: ${(error as Error).message}`);
    await mkdir(dirname(path), { recursive: true });
    const body = new TextEncoder().encode(`${JSON.stringify({ definition }, null, 2)}\n`);
    if ((await createExclusive(path, body)) === 'created') return;
    return claimJob(dir, job);
  }
  if (recorded !== definition) {
    throw new UsageError(
      `${dir} holds a run of job ${job.name} as ${recorded}; it is now ${definition}. Use another --dir for the changed job.`,
    );
  }
}

/** What identifies a job's definition: its pipeline, lateness and table. */
function jobDefinition(job: Job<unknown>): string {
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
    throw new UsageError(`Cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    const params = JSON.parse(text) as RunParams;
    if (params.format === 1) return params;
  } catch {}
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
    .map(([flag, a]) => (a === null ? `no ${flag}` : `${flag} ${String(a)}`));
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
  /** Read a Kafka topic instead of --input (cli/kafka-run.ts). */
  readonly kafka?: KafkaFlags;
}

export async function run(
  options: RunCommandOptions,
  out: (text: string) => void,
  status: StatusStream | undefined = process.stderr,
): Promise<void> {
  if (options.kafka !== undefined) {
    const { runKafka } = await import('./kafka-run.ts');
    return runKafka({ ...options, kafka: options.kafka }, out, status);
  }
  const job = await loadRunnableJob(options.jobPath);
  const input = await openRunInput(options);
  const dir = options.dir ?? join('.floe', 'run', job.name);
  const report = await runJob(job, input, { dir, status, keepCheckpoints: options.keepCheckpoints });
  out(options.json ? (toJson(report) ?? '{}') : renderReport(report, input.topic));
}

/** Loads the job file; any failure to load it is one line, not a stack trace. */
async function loadRunnableJob(path: string): Promise<Job<unknown>> {
  try {
    return await loadJob(path);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const message = (error instanceof Error ? error.message : String(error)).split('\n')[0];
    if (error instanceof FloeConfigError) {
      throw new UsageError(`${path} defines an invalid job: ${message}`);
    }
    throw new UsageError(`Cannot load the job in ${path}: ${message}`);
  }
}

/** The summary `floe run` prints. */
export function renderReport(r: RunReport, topic?: JsonLinesTopic): string {
  const keyed = r.key === null ? 'no key (round-robin)' : `key ${r.key}`;
  const lines = [
    `floe run ${r.job}: ${count(r.records, 'record', 'records')} of ${basename(r.input)} (topic ${r.topic}, ${r.partitions} partition${r.partitions === 1 ? '' : 's'}, ${keyed}, batches of up to ${n(r.batchSize)})`,
  ];
  if (topic !== undefined && topic.withoutKey > 0) {
    lines.push(
      `  ${count(topic.withoutKey, 'record', 'records')} without a "${r.key}" field (or not JSON) went round-robin, without a key`,
    );
  }
  lines.push(
    r.alreadyComplete
      ? `  already complete, nothing new committed (${count(r.commits, 'commit', 'commits')} in ${r.dir})`
      : `  ${count(r.batches, 'batch', 'batches')}, ${count(r.newCommits, 'commit', 'commits')}${r.skippedBatches > 0 ? `, resumed after ${count(r.skippedBatches, 'batch', 'batches')} committed earlier` : ''}, ${seconds(r.elapsedMs)}, ${n(r.recordsPerSecond)} records/s`,
    `  rows          ${n(r.rows).padStart(9)}  ${r.tableNames.rows}`,
    `  late          ${n(r.late).padStart(9)}  ${r.tableNames.late}`,
    `  dead letters  ${n(r.deadLetters).padStart(9)}  ${r.tableNames.deadLetters}`,
    '',
    `Tables in ${r.dir} (current metadata):`,
    renderTable(r.tables.map((t) => ({ table: t.name, metadata: t.metadataLocation }))),
  );
  const first = r.tables.find((t) => t.name === r.tableNames.rows) ?? r.tables[0];
  if (first !== undefined) lines.push('', readingHints(r.dir, first));
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
