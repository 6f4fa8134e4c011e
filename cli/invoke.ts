import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sweepRunDirectory } from '../adapters/local/run-directory.ts';
import { partitionLogSettings } from '../functions/environment.ts';
import { CheckpointedProcessor, type CommitOutcome } from '../runtime/checkpoint/checkpointed-processor.ts';
import { FloeJobError } from '../runtime/errors.ts';
import { toJson } from '../runtime/output-json.ts';
import { base64Problem, type KafkaEvent, type KafkaEventRecord } from '../runtime/source/kafka-event.ts';
import { loadCheckedJob } from './load-job.ts';
import { renderBatch } from './render.ts';
import { type StoreFlags, storesFor } from './stores.ts';
import { UsageError } from './usage-error.ts';

export interface InvokeOptions {
  readonly jobPath: string;
  readonly eventPath: string;
  /** @default .floe/<job name> */
  readonly dir?: string;
  readonly drain: boolean;
  readonly json: boolean;
  /** Type-check the job file before running it. @default true */
  readonly typecheck?: boolean;
  /** Bundle the handler and invoke it in Lambda's Runtime Interface Emulator. @default false */
  readonly emulator?: boolean;
  /** DynamoDB and S3 instead of the run directory's stores. */
  readonly stores?: StoreFlags;
}

/**
 * `floe invoke`: runs a job on one Lambda test event with the exactly-once protocol
 * and its stores in a run directory, and prints the rows, late records and dead letters the
 * batch committed. Invoking the same event again is a redelivery: it commits nothing.
 */
export async function invoke(options: InvokeOptions, out: (text: string) => void): Promise<void> {
  const { job, typecheck } = await loadCheckedJob(options.jobPath, { typecheck: options.typecheck ?? true });
  const event = await readEvent(options.eventPath);
  const dir = options.dir ?? join('.floe', job.name);
  // What a killed invocation left half-written.
  await sweepRunDirectory(dir);
  if (options.emulator) {
    if (options.drain) {
      throw new UsageError('--drain cannot be used with --emulator: Lambda never ends a Kafka input.');
    }
    const { invokeInEmulator } = await import('./invoke-emulator.ts');
    await invokeInEmulator({ jobPath: options.jobPath, event, dir, json: options.json }, out);
    return;
  }
  const processor = new CheckpointedProcessor(job, {
    stores: await storesFor(job.name, options.stores, dir),
    // As the deployed handler: FLOE_PARTITION_LOGS (default on) and FLOE_CONSUME_INTERVAL_MS.
    ...partitionLogSettings(),
  });
  // The processor is what the Lambda handler runs: same protocol, same stores layout. A job error
  // (a row that does not fit its table) commits nothing of the batch: one line, exit 2.
  const stopOnJobError = (error: unknown): never => {
    if (error instanceof FloeJobError) throw new UsageError(error.message);
    throw error;
  };
  let result: CommitOutcome<unknown> = await processor.process(event).catch(stopOnJobError);
  if (options.drain) {
    const drained = await processor.drain().catch(stopOnJobError);
    result = {
      rows: [...result.rows, ...drained.rows],
      late: [...result.late, ...drained.late],
      deadLetters: [...result.deadLetters, ...drained.deadLetters],
      metrics: {
        ...result.metrics,
        rows: result.metrics.rows + drained.metrics.rows,
        late: result.metrics.late + drained.metrics.late,
        deadLetters: result.metrics.deadLetters + drained.metrics.deadLetters,
        watermark: drained.metrics.watermark,
      },
      partitions: drained.partitions.length > 0 ? drained.partitions : result.partitions,
      commits: [...result.commits, ...drained.commits],
      ...(drained.round === undefined ? {} : { round: drained.round }),
    };
  } else {
    // As the ticker would after the invocation: the batch's rows are in the tables when it returns.
    const round = await processor.publish();
    result = { ...result, round };
  }
  const tables = processor.tableNames;
  if (options.json) {
    out(toJson({ dir, tables, typecheck, ...result }));
    return;
  }
  out(`${job}\nRun directory: ${dir} (tables: ${tables.rows}, ${tables.late}, ${tables.deadLetters})\n`);
  out(renderBatch(result, tables.rows));
  if (result.commits.length === 0 && result.metrics.records > 0) {
    out(
      `\nEvery record was at or below the offsets already committed in ${dir}, so nothing was committed (exactly what Lambda redelivery needs). Use another --dir to start afresh.`,
    );
  } else {
    out(
      `\nCommitted ${result.commits.length} checkpoint(s). List the tables with: npx floe tables --dir ${dir}`,
    );
    if (!options.drain) {
      out(
        'Windows still open fire when the watermark passes their end; add --drain to end the input and fire them now.',
      );
    }
  }
}

async function readEvent(path: string): Promise<KafkaEvent> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new UsageError(`Event file not found or unreadable: ${path}`);
  }
  let event: unknown;
  try {
    event = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`Event file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  const records = (event as { records?: unknown } | null)?.records;
  if (typeof records !== 'object' || records === null || Array.isArray(records)) {
    throw new UsageError(
      `Event file ${path} is not a Lambda Kafka event: it needs a "records" object keyed "<topic>-<partition>" (see examples/events/msk-bids.json).`,
    );
  }
  const problem = recordProblem(records as Record<string, unknown>);
  if (problem !== undefined) throw new UsageError(`Event file ${path}: ${problem}`);
  return event as KafkaEvent;
}

/**
 * The first record of a test event that is not what the event source mapping sends, named by
 * its coordinates. The real ESM always sends base64 keys and values, so a bad one in a
 * hand-written event is the author's mistake: `floe invoke` stops with one line (the handler in
 * Lambda would make the record a dead letter).
 */
function recordProblem(records: Record<string, unknown>): string | undefined {
  for (const [id, list] of Object.entries(records)) {
    if (!Array.isArray(list)) return `records["${id}"] must be an array of records.`;
    for (const [i, item] of list.entries()) {
      const record = item as Partial<Record<keyof KafkaEventRecord, unknown>> | null;
      if (record === null || typeof record !== 'object')
        return `records["${id}"][${i}] is not a record object.`;
      const { topic, partition, offset } = record;
      if (typeof topic !== 'string' || !Number.isSafeInteger(partition) || !Number.isSafeInteger(offset)) {
        return `records["${id}"][${i}] needs "topic" (text), "partition" and "offset" (whole numbers).`;
      }
      const where = `the record at topic ${topic}, partition ${String(partition)}, offset ${String(offset)}`;
      for (const field of ['key', 'value'] as const) {
        const text = record[field];
        if (text === undefined || text === null || text === '') continue;
        if (typeof text !== 'string') return `${where}: "${field}" must be base64 text or null.`;
        const problem = base64Problem(text);
        if (problem !== undefined) {
          return `${where}: "${field}" must be base64, as Lambda sends it (${problem}); encode it, e.g. printf '%s' '{"auction":1}' | base64`;
        }
      }
    }
  }
  return undefined;
}
