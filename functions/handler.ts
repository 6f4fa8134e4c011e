import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { awsStoresFromEnv } from '../adapters/aws/aws-stores.ts';
import { localCheckpointStores } from '../adapters/local/run-directory.ts';
import { CheckpointedProcessor, type CommitOutcome } from '../runtime/checkpoint/checkpointed-processor.ts';
import { batchRanges } from '../runtime/checkpoint/outputs.ts';
import type { BatchMetrics } from '../runtime/engine/batch-result.ts';
import type { PartitionRef } from '../runtime/engine/state.ts';
import { FloeConfigError, FloeJobError, RowTypeError } from '../runtime/errors.ts';
import type { Job } from '../runtime/job/job.ts';
import type { KafkaEvent } from '../runtime/source/kafka-event.ts';
import type { CheckpointStores } from '../runtime/stores/checkpoint-stores.ts';
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
}

/** The Lambda handler signature for a Kafka event source mapping (MSK or self-managed). */
export type KafkaHandler = (event: KafkaEvent) => Promise<BatchMetrics & { readonly commits: number }>;

/**
 * Wraps a job as a Lambda handler for the Kafka event source mapping.
 *
 * The job is built when the module loads, so a configuration mistake fails the cold start with
 * a clear message instead of a batch. A batch returns only after it is committed (exactly once,
 * see docs/design.md) and published; a thrown error makes Lambda redeliver the batch, and
 * records at or below the committed offsets are skipped. A job error (FloeJobError, e.g. a row
 * that does not fit its table) is logged as one ERROR line with its coordinates and rethrown: no
 * retry fixes it, and the batch must not be acknowledged either, so the partition waits for a
 * fixed job (docs/design.md, "Job errors").
 *
 * @example
 * // functions/bids-per-auction.ts
 * import job from '../examples/bids-per-auction.ts';
 * export const handler = createHandler(job);
 */
export function createHandler<Row>(job: Job<Row>, options: HandlerOptions<Row> = {}): KafkaHandler {
  const logger = options.logger ?? jsonLogger({ job: job.name });
  const processor =
    options.processor ??
    new CheckpointedProcessor(job, {
      stores: options.stores ?? defaultStores(job.name),
      clock: options.clock,
      partitions: options.partitions,
    });
  logger.log('INFO', 'job loaded', { definition: job.toString() });

  return async (event) => {
    if (!event || typeof event !== 'object' || typeof event.records !== 'object' || event.records === null) {
      throw new TypeError(
        `Expected a Kafka event from the Lambda event source mapping (with a "records" object), got ${event === null ? 'null' : typeof event}.`,
      );
    }
    let outcome: CommitOutcome<Row>;
    try {
      outcome = await processor.process(event);
    } catch (error) {
      if (error instanceof FloeJobError) logger.log('ERROR', 'job error', jobErrorFields(error, event));
      throw error;
    }
    logOutcome(logger, outcome);
    return { ...outcome.metrics, commits: outcome.commits.length };
  };
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

/**
 * The late records and dead letters are nested under `record`: their own fields (`timestamp`,
 * `kind`, …) never overwrite the log line's `timestamp`, `level` or `message`.
 */
function logOutcome<Row>(logger: Logger, outcome: CommitOutcome<Row>): void {
  for (const late of outcome.late) logger.log('WARN', 'late record', { record: late });
  for (const dead of outcome.deadLetters) logger.log('WARN', 'dead letter', { record: dead });
  logger.log('INFO', 'batch committed', {
    ...outcome.metrics,
    commits: outcome.commits.map((c) => ({
      group: c.group,
      epoch: c.epoch,
      tables: c.publishes.map((p) => ({ table: p.table, records: p.records })),
    })),
    partitions: outcome.partitions,
  });
}

/**
 * The stores of a handler (and of the ticker) given none: DynamoDB and S3 when FLOE_STATE_TABLE and FLOE_BUCKET are set
 * (as the CDK construct sets them), else a local run directory. In Lambda a local directory would
 * be one container's `/tmp`: every container would keep its own heads, so state would be lost and
 * rows duplicated across containers. Refuse it there unless FLOE_RUN_DIR says it is meant (a
 * single-container test).
 */
export function defaultStores(jobName: string): CheckpointStores {
  const aws = awsStoresFromEnv(jobName);
  if (aws !== undefined) return aws;
  const dir = process.env.FLOE_RUN_DIR;
  if (dir === undefined && process.env.AWS_LAMBDA_FUNCTION_NAME !== undefined) {
    throw new FloeConfigError(
      `Job ${jobName}: in Lambda, createHandler needs shared durable stores: set FLOE_STATE_TABLE and FLOE_BUCKET (the CDK construct FloeJob does), or pass the \`stores\` option; a container's local disk would give each container its own state. Set FLOE_RUN_DIR to use a local directory anyway, for a single-container test.`,
    );
  }
  return localCheckpointStores(dir ?? join(tmpdir(), 'floe', jobName));
}
