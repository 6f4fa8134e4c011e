/**
 * The Lambda entry points' handler: functions/kafka-handler.ts with the stores of the
 * environment, DynamoDB and S3 as the CDK construct configures them, or a local run directory.
 */
import { awsStoresFromEnv } from '../adapters/aws/aws-stores.ts';
import type { Job } from '../runtime/job/job.ts';
import type { CheckpointStores } from '../runtime/stores/checkpoint-stores.ts';
import type { Env } from './environment.ts';
import {
  createHandlerWith,
  type FunctionSetup,
  type HandlerOptions,
  type KafkaHandler,
  localStores,
  setUpFunctionWith,
} from './kafka-handler.ts';

export type { FunctionSetup, HandlerOptions, KafkaHandler } from './kafka-handler.ts';

/**
 * Wraps a job as a Lambda handler for the Kafka event source mapping.
 *
 * The job is built when the module loads, so a configuration mistake fails the cold start with
 * a clear message instead of a batch. A batch returns only after it is committed (exactly once,
 * see docs/design.md); its rows are published by the next publish round, which the invocation
 * that commits once `FLOE_PUBLISH_INTERVAL_MS` (10 s by default) has passed since the last one
 * runs before it returns, or the ticker runs on its schedule. A thrown error makes Lambda redeliver the batch, and
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
  return createHandlerWith(job, options, defaultStores);
}

/**
 * Builds what a handler or ticker runs on from its options and environment (exported for the
 * tests, which check what each environment variable reaches).
 */
export function setUpFunction<Row>(
  job: Job<Row>,
  options: HandlerOptions<Row>,
  logContext: Readonly<Record<string, unknown>>,
): FunctionSetup<Row> {
  return setUpFunctionWith(job, options, logContext, defaultStores);
}

/**
 * The stores of a handler (and of the ticker) given none: DynamoDB and S3 when FLOE_STATE_TABLE
 * and FLOE_BUCKET are set (as the CDK construct sets them), else a local run directory, refused
 * in Lambda unless FLOE_RUN_DIR says it is meant (see localStores).
 */
export function defaultStores(jobName: string, env: Env = process.env): CheckpointStores {
  return awsStoresFromEnv(jobName, env) ?? localStores(jobName, env);
}
