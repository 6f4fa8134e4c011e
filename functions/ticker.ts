import type { CommitOutcome } from '../runtime/checkpoint/checkpointed-processor.ts';
import type { BatchMetrics } from '../runtime/engine/batch-result.ts';
import { FloeJobError } from '../runtime/errors.ts';
import type { Job } from '../runtime/job/job.ts';
import { type HandlerOptions, setUpFunction } from './handler.ts';
import { commitsForLog, logRound, logSideOutputs, writeMetrics } from './kafka-handler.ts';

/** The ticker's options: those of the handler it runs beside, with the same stores and partitions. */
export type TickerOptions<Row> = Pick<
  HandlerOptions<Row>,
  'stores' | 'processor' | 'logger' | 'clock' | 'partitions' | 'env' | 'metrics'
>;

/** What a tick returns: the batch metrics over every commit group, and how many groups committed. */
export type TickerHandler = (event?: unknown) => Promise<BatchMetrics & { readonly commits: number }>;

/**
 * Wraps a job as the Lambda handler of its ticker, invoked by an EventBridge schedule (the event
 * is ignored). Lambda runs the job's handler only when records arrive, so without deliveries
 * nothing applies the idleness rule: a silent partition would hold back windows that wait for
 * every partition forever. Each tick runs a batch without records in every commit group
 * (`CheckpointedProcessor.emitPeriodicWatermarks`): partitions silent for the idleness timeout go
 * idle, the watermark advances, what it passed fires, and the result commits exactly once, through
 * the same heads as the handler's batches (a tick that races a batch loses or wins by the head's
 * condition, as two batches do). A tick with nothing to do commits nothing. Every tick then runs a
 * publish round (`CheckpointedProcessor.publish`): what the handler committed since the last round
 * is in the tables by the end of the tick, also once batches stop arriving.
 *
 * Give it the same stores and `partitions` as the job's handler (by default both read the same
 * environment). Each tick writes the same embedded-metric-format line as a batch (records 0), with
 * a `function: "ticker"` property. For a job without `withIdleness`, or one keyed by the Kafka
 * key unless its idleness has `idleTopicWatermark: 'processing-time'`, ticks cannot change the
 * state: the ticker says so once and then only publishes.
 *
 * @example
 * // functions/bids-per-window-ticker.ts, on a schedule of rate(1 minute)
 * import job from '../jobs/bids-per-window.ts';
 * export const handler = createTicker(job);
 */
export function createTicker<Row>(job: Job<Row>, options: TickerOptions<Row> = {}): TickerHandler {
  const setup = setUpFunction(job, options, { job: job.name, function: 'ticker' });
  const { logger, processor } = setup;
  const idleness = job.plan.watermarks.idlenessMs;
  if (processor.ticksMatter()) {
    logger.log('INFO', 'ticker loaded', {
      idlenessMs: idleness,
      idleTopicWatermark: job.plan.watermarks.idleTopicWatermark,
    });
  } else {
    logger.log('INFO', 'ticker loaded: ticks only publish for this job', {
      reason:
        idleness === undefined
          ? 'the job has no idleness timeout (WatermarkStrategy.withIdleness): without records its watermarks never move'
          : "the job's windows fire per partition (keyBy with isKafkaKey) and a silent partition's watermark moves only with idleTopicWatermark: 'processing-time'",
    });
  }

  return async () => {
    setup.meter?.take();
    const started = performance.now();
    let outcome: CommitOutcome<Row>;
    try {
      outcome = await processor.emitPeriodicWatermarks();
    } catch (error) {
      if (error instanceof FloeJobError) {
        logger.log('ERROR', 'job error', { error: error.name, reason: error.message });
      }
      throw error;
    }
    logSideOutputs(logger, outcome);
    logger.log('INFO', outcome.commits.length === 0 ? 'tick: nothing to commit' : 'tick committed', {
      rows: outcome.metrics.rows,
      deadLetters: outcome.metrics.deadLetters,
      watermark: outcome.metrics.watermark,
      commits: commitsForLog(outcome),
      partitions: outcome.partitions,
    });
    logRound(logger, outcome);
    writeMetrics(setup, outcome, performance.now() - started, { function: 'ticker' });
    return { ...outcome.metrics, commits: outcome.commits.length };
  };
}
