/**
 * The Lambda handler and what the ticker shares with it, without the AWS stores: the CLI runs it
 * on stores it builds itself, so a local run never loads the AWS SDK (about 0.1 s of every
 * command's start). functions/handler.ts adds the stores from the environment.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localCheckpointStores } from '../adapters/local/run-directory.ts';
import {
  CheckpointedProcessor,
  type CheckpointedProcessorOptions,
  type CommitOutcome,
} from '../runtime/checkpoint/checkpointed-processor.ts';
import { batchRanges } from '../runtime/checkpoint/outputs.ts';
import type { BatchMetrics } from '../runtime/engine/batch-result.ts';
import type { PartitionRef } from '../runtime/engine/state.ts';
import { FloeConfigError, FloeJobError, RowTypeError } from '../runtime/errors.ts';
import type { Job } from '../runtime/job/job.ts';
import type { KafkaEvent } from '../runtime/source/kafka-event.ts';
import type { CheckpointStores } from '../runtime/stores/checkpoint-stores.ts';
import { meterRequests, type RequestMeter } from '../runtime/stores/request-meter.ts';
import { floeMetricsLine, type MetricsWriter, stdoutMetrics } from './emf.ts';
import { type Env, type FloeSettings, settingsFromEnv } from './environment.ts';
import { jsonLogger, type Logger } from './logger.ts';

export interface HandlerOptions<Row> {
  /**
   * Where heads, checkpoints and tables live.
   * @default - DynamoDB and S3 when `FLOE_STATE_TABLE` and `FLOE_BUCKET` are set (with
   * `FLOE_CATALOG_TABLE`, `FLOE_PREFIX`, `FLOE_CHECKPOINT_COMPRESSION`); else a local run
   * directory: `$FLOE_RUN_DIR`, else `<tmpdir>/floe/<job name>`, which is refused in Lambda unless
   * FLOE_RUN_DIR is set, because each container would keep its own state.
   */
  readonly stores?: CheckpointStores;
  /** A processor to use instead of building one (the local runner shares its own). */
  readonly processor?: CheckpointedProcessor<Row>;
  /** @default - JSON lines on stdout, with the job name */
  readonly logger?: Logger;
  /** Processing time, for idleness. @default Date.now */
  readonly clock?: () => number;
  /**
   * The topic's partitions. Give them when the job keys by something other than the Kafka key
   * or uses windowAll, so that windows wait for partitions that have not delivered yet.
   * @default - partitions are learnt from their first record
   */
  readonly partitions?: readonly PartitionRef[];
  /**
   * The environment the stores and settings are read from: `FLOE_STATE_TABLE`, `FLOE_BUCKET`, …
   * for the stores (unless `stores` is given), `FLOE_MAX_ATTEMPTS`, `FLOE_KEEP_CHECKPOINTS`,
   * `FLOE_PUBLISH_INTERVAL_MS`, `FLOE_PARTITION_LOGS` and `FLOE_CONSUME_INTERVAL_MS` for the
   * processor (unless `processor` is given), `FLOE_LOG_LEVEL` for the default logger,
   * `FLOE_DELIVERY` checked (see functions/environment.ts).
   * @default process.env
   */
  readonly env?: Env;
  /**
   * Where each invocation's CloudWatch metrics go, one embedded metric format (EMF) line
   * (functions/emf.ts); false for none.
   * @default - stdout in Lambda (AWS_LAMBDA_FUNCTION_NAME set), else none
   */
  readonly metrics?: MetricsWriter | false;
}

/** The Lambda handler signature for a Kafka event source mapping (MSK or self-managed). */
export type KafkaHandler = (event: KafkaEvent) => Promise<BatchMetrics & { readonly commits: number }>;

/** {@link createHandler} with the stores to build when the options give none. */
export function createHandlerWith<Row>(
  job: Job<Row>,
  options: HandlerOptions<Row>,
  defaultStores: DefaultStores,
): KafkaHandler {
  const setup = setUpFunctionWith(job, options, { job: job.name }, defaultStores);
  const { logger, processor } = setup;
  logger.log('INFO', 'job loaded', { definition: job.toString() });

  return async (event) => {
    if (!event || typeof event !== 'object' || typeof event.records !== 'object' || event.records === null) {
      throw new TypeError(
        `Expected a Kafka event from the Lambda event source mapping (with a "records" object), got ${event === null ? 'null' : typeof event}.`,
      );
    }
    setup.meter?.take();
    const started = performance.now();
    let outcome: CommitOutcome<Row>;
    try {
      outcome = await processor.process(event);
    } catch (error) {
      if (error instanceof FloeJobError) logger.log('ERROR', 'job error', jobErrorFields(error, event));
      throw error;
    }
    const elapsed = performance.now() - started;
    logOutcome(logger, outcome);
    writeMetrics(setup, outcome, elapsed);
    return { ...outcome.metrics, commits: outcome.commits.length };
  };
}

/** What the handler and the ticker are made of. */
export interface FunctionSetup<Row> {
  readonly processor: CheckpointedProcessor<Row>;
  /** The options the processor was built with; undefined when it was given. */
  readonly processorOptions?: CheckpointedProcessorOptions;
  /** The settings read from the environment. */
  readonly settings: FloeSettings;
  /** Counts the stores' requests, when the function built the stores itself. */
  readonly meter?: RequestMeter;
  readonly logger: Logger;
  readonly metrics?: MetricsWriter;
  readonly jobName: string;
  readonly clock: () => number;
}

/**
 * Builds what a handler or ticker runs on from its options and environment (exported for the
 * tests, which check what each environment variable reaches). Stores the function builds itself
 * (from the environment) are metered, cheaply (requests and round trips, no byte counts), for
 * the metrics; given stores or a given processor are used as they are.
 */
export function setUpFunctionWith<Row>(
  job: Job<Row>,
  options: HandlerOptions<Row>,
  logContext: Readonly<Record<string, unknown>>,
  defaultStores: DefaultStores,
): FunctionSetup<Row> {
  const env = options.env ?? process.env;
  const settings = settingsFromEnv(env);
  const logger = options.logger ?? jsonLogger(logContext, console.log, settings.logLevel ?? 'INFO');
  let processor = options.processor;
  let processorOptions: CheckpointedProcessorOptions | undefined;
  let meter: RequestMeter | undefined;
  if (processor === undefined) {
    let stores = options.stores;
    if (stores === undefined) {
      meter = meterRequests(defaultStores(job.name, env), { bytes: false });
      stores = meter.stores;
    }
    processorOptions = {
      stores,
      clock: options.clock,
      partitions: options.partitions,
      partitionLogs: settings.partitionLogs,
      ...(settings.consumeIntervalMs !== undefined ? { consumeIntervalMs: settings.consumeIntervalMs } : {}),
      ...(settings.maxAttempts !== undefined ? { maxAttempts: settings.maxAttempts } : {}),
      ...(settings.keepCheckpoints !== undefined ? { keepCheckpoints: settings.keepCheckpoints } : {}),
      ...(settings.publishIntervalMs !== undefined ? { publishIntervalMs: settings.publishIntervalMs } : {}),
    };
    processor = new CheckpointedProcessor(job, processorOptions);
  }
  const metrics =
    options.metrics === false
      ? undefined
      : (options.metrics ?? (env.AWS_LAMBDA_FUNCTION_NAME !== undefined ? stdoutMetrics : undefined));
  return {
    processor,
    processorOptions,
    settings,
    meter,
    logger,
    metrics,
    jobName: job.name,
    clock: options.clock ?? Date.now,
  };
}

/** Writes the invocation's EMF line (namespace Floe, dimension Job), if metrics are on. */
export function writeMetrics<Row>(
  setup: FunctionSetup<Row>,
  outcome: CommitOutcome<Row>,
  elapsedMs: number,
  properties?: Readonly<Record<string, string>>,
): void {
  if (setup.metrics === undefined) return;
  const m = outcome.metrics;
  const requests = setup.meter?.take();
  setup.metrics(
    floeMetricsLine(
      setup.jobName,
      {
        records: m.records,
        rows: m.rows,
        late: m.late,
        deadLetters: m.deadLetters,
        watermark: m.watermark,
        now: setup.clock(),
        timestamp: Date.now(),
        commitLatencyMs: outcome.commits.length > 0 ? Math.round(elapsedMs) : undefined,
        store:
          requests === undefined
            ? undefined
            : { requests: requests.requests, roundTrips: requests.roundTrips },
      },
      properties,
    ),
  );
}

/** What a job error log line holds: the error, its coordinates and the batch's offsets. */
function jobErrorFields(error: FloeJobError, event: KafkaEvent): Record<string, unknown> {
  const batch = batchRanges(Object.values(event.records));
  const fields: Record<string, unknown> = { error: error.name, reason: error.message, batch };
  if (error instanceof RowTypeError) {
    Object.assign(fields, {
      table: error.table,
      column: error.column,
      columnType: error.columnType,
      value: error.value,
      source: error.source,
    });
  }
  return fields;
}

/** One line per publish round that ran (INFO) or failed (WARN): what it appended, and where. */
export function logRound<Row>(logger: Logger, outcome: CommitOutcome<Row>): void {
  const round = outcome.round;
  if (round === undefined) return;
  if (round.error !== undefined) {
    logger.log('WARN', 'publish round failed', {
      reason: round.error,
      note: 'the batch is committed; the next round (a later batch or the ticker) publishes it',
    });
  } else if (round.ran && round.snapshots.length > 0) {
    logger.log('INFO', 'published', {
      groups: round.groups,
      epochs: round.epochs,
      tables: round.snapshots.map((s) => ({ table: s.table, snapshotId: s.snapshotId, records: s.records })),
    });
  }
}

/** The handler's lines for a batch: its side outputs, the commit, the publish round. */
function logOutcome<Row>(logger: Logger, outcome: CommitOutcome<Row>): void {
  logSideOutputs(logger, outcome);
  logger.log('INFO', 'batch committed', {
    ...outcome.metrics,
    commits: commitsForLog(outcome),
    partitions: outcome.partitions,
  });
  logRound(logger, outcome);
}

/**
 * One WARN line per late record and dead letter, each nested under `record`: its own fields
 * (`timestamp`, `kind`, …) would otherwise meet the log line's own.
 */
export function logSideOutputs<Row>(logger: Logger, outcome: CommitOutcome<Row>): void {
  for (const late of outcome.late) logger.log('WARN', 'late record', { record: late });
  for (const dead of outcome.deadLetters) logger.log('WARN', 'dead letter', { record: dead });
}

/** The commits of an outcome as a log line shows them: group, epoch, and records per table. */
export function commitsForLog<Row>(outcome: CommitOutcome<Row>): unknown[] {
  return outcome.commits.map((c) => ({
    group: c.group,
    epoch: c.epoch,
    tables: c.publishes.map((p) => ({ table: p.table, records: p.records })),
  }));
}

/** The stores a handler builds when given none (functions/handler.ts: AWS or local). */
export type DefaultStores = (jobName: string, env: Env) => CheckpointStores;

/**
 * The stores of a handler given none and no AWS stores in the environment: a local run
 * directory. In Lambda it would be one container's `/tmp`: every container would keep its own
 * heads, so state would be lost and rows duplicated across containers. Refuse it there unless
 * FLOE_RUN_DIR says it is meant (a single-container test).
 */
export function localStores(jobName: string, env: Env = process.env): CheckpointStores {
  const dir = env.FLOE_RUN_DIR;
  if (dir === undefined && env.AWS_LAMBDA_FUNCTION_NAME !== undefined) {
    throw new FloeConfigError(
      `Job ${jobName}: in Lambda, createHandler needs shared durable stores: set FLOE_STATE_TABLE and FLOE_BUCKET (the CDK construct FloeJob does), or pass the \`stores\` option; a container's local disk would give each container its own state. Set FLOE_RUN_DIR to use a local directory anyway, for a single-container test.`,
    );
  }
  return localCheckpointStores(dir ?? join(tmpdir(), 'floe', jobName));
}
