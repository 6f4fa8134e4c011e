import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BatchProcessor } from '../runtime/batch/batch-processor.ts';
import { DirectoryStore } from '../runtime/batch/directory-store.ts';
import { toJson } from '../runtime/output-json.ts';
import type { KafkaEvent } from '../runtime/source/kafka-event.ts';
import { loadJob } from './load-job.ts';
import { renderBatch } from './render.ts';
import { UsageError } from './usage-error.ts';

export interface InvokeOptions {
  readonly jobPath: string;
  readonly eventPath: string;
  /** @default .floe/<job name> */
  readonly dir?: string;
  readonly drain: boolean;
  readonly json: boolean;
}

/**
 * `floe invoke`: runs a job's handler path on one test event, with state and outputs in a
 * directory, and prints the rows, late records and dead letters.
 */
export async function invoke(options: InvokeOptions, out: (text: string) => void): Promise<void> {
  const job = await loadJob(options.jobPath);
  const event = await readEvent(options.eventPath);
  const dir = options.dir ?? join('.floe', job.name);
  const store = new DirectoryStore<unknown>(dir);
  const processor = new BatchProcessor(job, { store, sink: store });
  const result = await processor.process(event, { endOfInput: options.drain });
  if (options.json) {
    out(toJson({ dir, ...result }));
    return;
  }
  out(`${job}\nState and outputs: ${dir}\n`);
  out(renderBatch(result, job.plan.table.name));
  if (result.metrics.records > 0 && result.metrics.redelivered === result.metrics.records) {
    out(
      `\nEvery record was at or below the offsets already applied in ${dir}, so nothing changed (exactly what Lambda redelivery needs). Use another --dir to start afresh.`,
    );
  } else if (!options.drain) {
    out(
      '\nWindows still open fire when the watermark passes their end; add --drain to end the input and fire them now.',
    );
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
  return event as KafkaEvent;
}
