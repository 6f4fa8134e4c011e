import { BatchProcessor } from '../runtime/batch/batch-processor.ts';
import { MemoryStateStore, type OutputSink, type StateStore } from '../runtime/batch/stores.ts';
import type { BatchResult } from '../runtime/engine/batch-result.ts';
import type { PartitionRef } from '../runtime/engine/state.ts';
import type { Job } from '../runtime/job/job.ts';
import type { KafkaEvent } from '../runtime/source/kafka-event.ts';
import { jsonLogger, type Logger } from './logger.ts';

export interface HandlerOptions<Row> {
  /**
   * Where engine state lives between invocations.
   * @default - in memory, for the life of the container (until the commit protocol lands)
   */
  readonly store?: StateStore;
  /**
   * Where rows, late records and dead letters go.
   * @default - a structured log line per late record and dead letter, and a batch summary
   */
  readonly sink?: OutputSink<Row>;
  /** @default - JSON lines on stdout, with the job name */
  readonly logger?: Logger;
  /** Processing time, for idleness. @default Date.now */
  readonly clock?: () => number;
  /**
   * The topic's partitions. Give them when the job keys by something other than the Kafka key
   * or uses windowAll, so that windows wait for partitions that have not delivered yet.
   *
   * Until the commit protocol lands, state lives in one container's memory: such jobs are only
   * right when one container sees every partition (event source mapping concurrency of one).
   * @default - partitions are learnt from their first record
   */
  readonly partitions?: readonly PartitionRef[];
}

/** The Lambda handler signature for a Kafka event source mapping (MSK or self-managed). */
export type KafkaHandler<Row> = (event: KafkaEvent) => Promise<BatchResult<Row>['metrics']>;

/**
 * Wraps a job as a Lambda handler for the Kafka event source mapping.
 *
 * The job is built when the module loads, so a configuration mistake fails the cold start with
 * a clear message instead of a batch. A batch returns only after its state is saved; a thrown
 * error makes Lambda retry the batch, and records at or below the saved offsets are skipped.
 *
 * @example
 * // functions/bids-per-auction.ts
 * import job from '../examples/bids-per-auction.ts';
 * export const handler = createHandler(job);
 */
export function createHandler<Row>(job: Job<Row>, options: HandlerOptions<Row> = {}): KafkaHandler<Row> {
  const logger = options.logger ?? jsonLogger({ job: job.name });
  const processor = new BatchProcessor(job, {
    store: options.store ?? new MemoryStateStore(),
    sink: options.sink ?? logSink(logger),
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
    const result = await processor.process(event);
    logger.log('INFO', 'batch processed', { ...result.metrics, partitions: result.partitions });
    return result.metrics;
  };
}

function logSink<Row>(logger: Logger): OutputSink<Row> {
  return {
    async write(result) {
      for (const late of result.late) logger.log('WARN', 'late record', { ...late });
      for (const dead of result.deadLetters) logger.log('WARN', 'dead letter', { ...dead });
      if (result.rows.length > 0) logger.log('INFO', 'rows emitted', { rows: result.rows.map((r) => r.row) });
    },
  };
}
