import { join } from 'node:path';
import { partitionLogSettings } from '../functions/environment.ts';
import { CheckpointedProcessor, type RoundReport } from '../runtime/checkpoint/checkpointed-processor.ts';
import { FloeJobError } from '../runtime/errors.ts';
import { toJson } from '../runtime/output-json.ts';
import { loadCheckedJob } from './load-job.ts';
import { formatTime, renderBatch } from './render.ts';
import { type StoreFlags, storesFor } from './stores.ts';
import { UsageError } from './usage-error.ts';

export interface TickOptions {
  readonly jobPath: string;
  /** @default .floe/<job name>, as floe invoke */
  readonly dir?: string;
  /** The wall clock of the tick, epoch ms. @default Date.now() */
  readonly now?: number;
  readonly json: boolean;
  /** Type-check the job file before running it. @default true */
  readonly typecheck?: boolean;
  /** DynamoDB and S3 instead of the run directory's stores. */
  readonly stores?: StoreFlags;
}

/**
 * `floe tick`: what the ticker Lambda does on its schedule, on a run directory: a batch without
 * records in every commit group at the given time, so idle partitions stop holding the watermark
 * and what it passed fires, exactly once (nothing to do commits nothing); then a publish round,
 * so what is committed is in the tables.
 */
export async function tick(options: TickOptions, out: (text: string) => void): Promise<void> {
  const { job, typecheck } = await loadCheckedJob(options.jobPath, { typecheck: options.typecheck ?? true });
  const dir = options.dir ?? join('.floe', job.name);
  const now = options.now;
  const processor = new CheckpointedProcessor(job, {
    stores: await storesFor(job.name, options.stores, dir),
    // As the deployed ticker: FLOE_PARTITION_LOGS (default on) and FLOE_CONSUME_INTERVAL_MS.
    ...partitionLogSettings(),
    ...(now === undefined ? {} : { clock: () => now }),
  });
  const result = await processor.emitPeriodicWatermarks().catch((error: unknown) => {
    if (error instanceof FloeJobError) throw new UsageError(error.message);
    throw error;
  });
  const tables = processor.tableNames;
  if (options.json) {
    out(toJson({ dir, tables, typecheck, ticksMatter: processor.ticksMatter(), ...result }));
    return;
  }
  out(`${job}\nRun directory: ${dir}\n`);
  if (!processor.ticksMatter()) {
    out(
      job.plan.watermarks.idlenessMs === undefined
        ? 'This job has no idleness timeout (WatermarkStrategy.withIdleness): without records its watermarks never move, so a tick does nothing.'
        : "This job fires per partition (keyBy with isKafkaKey): a silent partition's watermark moves only with withIdleness(ms, { idleTopicWatermark: 'processing-time' }), so a tick only publishes.",
    );
    out(publishedText(result.round));
    return;
  }
  out(renderBatch(result, tables.rows));
  const at = formatTime(now ?? Date.now());
  out(
    result.commits.length === 0
      ? `\nTick at ${at}: nothing to commit (no partition went idle and the watermark did not move).`
      : `\nTick at ${at}: committed ${result.commits.length} checkpoint(s); watermark ${formatTime(result.metrics.watermark)}.`,
  );
  out(publishedText(result.round));
}

function publishedText(round: RoundReport | undefined): string {
  const snapshots = round?.snapshots ?? [];
  if (snapshots.length === 0)
    return 'Published: nothing new (every committed row was already in the tables).';
  return `Published ${round!.epochs} checkpoint(s) of ${round!.groups} commit group(s): ${snapshots.map((s) => `${s.records} row(s) to ${s.table}`).join(', ')}.`;
}

/** `--now`: epoch milliseconds or an ISO-8601 time. */
export function parseNow(value: string): number {
  const ms = /^-?\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isSafeInteger(ms))
    throw new UsageError(`--now must be epoch milliseconds or an ISO-8601 time, got "${value}".`);
  return ms;
}
