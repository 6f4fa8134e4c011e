import { EXAMPLE_JOBS } from '../examples/index.ts';
import { generateBids } from '../examples/nexmark/generator.ts';
import { bidTopic } from '../examples/nexmark/topic.ts';
import type { EmittedRow } from '../runtime/engine/batch-result.ts';
import { Engine } from '../runtime/engine/engine.ts';
import { newEngineState } from '../runtime/engine/state.ts';
import { eventBatches } from '../runtime/kafka/event-builder.ts';
import { formatTime, renderTable } from './render.ts';

export interface DemoOptions {
  readonly bids: number;
  readonly partitions: number;
  readonly batchSize: number;
  readonly seed: number;
}

/**
 * `npm start`: generates Nexmark bids, puts them on a topic with Kafka's partitioner, and runs
 * every example job over Lambda-shaped batches of it, then prints what each one produced.
 */
export async function demo(options: DemoOptions, out: (text: string) => void): Promise<void> {
  const bids = generateBids({ count: options.bids, seed: options.seed, skew: 0.8, eventsPerSecond: 250 });
  const log = bidTopic(bids, options.partitions);
  const partitions = log.partitions.map((_, partition) => ({ topic: log.topic, partition }));
  out(
    `Floe demo: ${bids.length.toLocaleString('en')} Nexmark bids from ${formatTime(bids[0]?.dateTime ?? 0)}, ` +
      `${options.partitions} partitions (key = auction), batches of up to ${options.batchSize} records, seed ${options.seed}.\n`,
  );

  for (const [name, job] of Object.entries(EXAMPLE_JOBS)) {
    // The engine alone, with its state in memory: the demo shows windows and throughput, not storage.
    const engine = new Engine<unknown>(job);
    const state = newEngineState(partitions);
    const rows: EmittedRow<unknown>[] = [];
    let late = 0;
    let deadLetters = 0;
    let batches = 0;
    const started = performance.now();
    for (const event of eventBatches(log, { batchSize: options.batchSize })) {
      const result = engine.processBatch(state, event, { now: 0 });
      rows.push(...result.rows);
      late += result.late.length;
      deadLetters += result.deadLetters.length;
      batches++;
    }
    const drained = engine.drain(state, 0);
    rows.push(...drained.rows);
    const seconds = (performance.now() - started) / 1000;

    out(`== ${name} -> ${job.plan.table.name}`);
    out(
      `   ${job.plan.assigner}, ${job.plan.scope === 'partition' ? 'fired per partition (Kafka key)' : 'merged across partitions'}`,
    );
    out(
      `   ${batches} batches, ${rows.length.toLocaleString('en')} rows, ${late} late, ${deadLetters} dead letters, ` +
        `${Math.round(bids.length / seconds).toLocaleString('en')} records/s`,
    );
    out(renderTable(highlights(rows.map((r) => r.row as Record<string, unknown>)), 5));
    out('');
  }
  out('Next: npx floe invoke examples/bids-per-auction.ts --event examples/events/msk-bids.json');
  out(
    '      (a Lambda test event with one malformed record: it becomes a dead letter, the rest is processed)',
  );
}

/** The rows worth looking at first: the largest measure, latest window first on ties. */
function highlights(rows: readonly Record<string, unknown>[]): Record<string, unknown>[] {
  const measure = (row: Record<string, unknown>) =>
    Number(row.bids ?? row.revenue ?? row.max_price ?? row.total_price ?? 0);
  return [...rows].sort((a, b) => measure(b) - measure(a) || Number(b.window_end) - Number(a.window_end));
}
