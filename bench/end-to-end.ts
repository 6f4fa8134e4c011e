/**
 * End to end: `floe run` with its default flags (a real process: JSON lines in, Iceberg tables out,
 * every batch committed exactly once on local durable stores; batches of DEFAULT_RUN_BATCH_SIZE
 * records cut at 6 MB) against the engine alone over the same batches, measured
 * in alternation in one run. A second, in-process run of the same protocol counts what a user
 * pays for: requests, bytes and files written per 100,000 records.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localCheckpointStores } from '../adapters/local/run-directory.ts';
import { DEFAULT_RUN_BATCH_SIZE } from '../cli/run.ts';
import { EXAMPLE_JOBS, type ExampleName } from '../examples/index.ts';
import { generateBids } from '../examples/nexmark/generator.ts';
import { bidRecord } from '../examples/nexmark/topic.ts';
import { CheckpointedProcessor } from '../runtime/checkpoint/checkpointed-processor.ts';
import { Engine } from '../runtime/engine/engine.ts';
import { newEngineState } from '../runtime/engine/state.ts';
import { eventBatches, produceToTopic } from '../runtime/event-source-mapping/event-builder.ts';
import { defaultPartitioner } from '../runtime/event-source-mapping/partitioner.ts';
import type { KafkaEvent } from '../runtime/source/kafka-event.ts';
import { meterRequests } from '../runtime/stores/request-meter.ts';

export interface EndToEndOptions {
  readonly records: number;
  readonly partitions: number;
}

export interface EndToEndResult {
  readonly name: string;
  readonly records: number;
  readonly batches: number;
  /** `floe run` wall time, process start to exit, as records per second. */
  readonly runPerSec: number;
  /** The engine alone over the same batches, in the same run. */
  readonly enginePerSec: number;
  readonly ratio: number;
  readonly commits: number;
  /** Per 100,000 records, from the in-process run with counting stores. */
  readonly per100k: { readonly bytes: number; readonly files: number; readonly requests: number };
  /** Store requests per commit (reads, writes, lists, deletes). */
  readonly requestsPerCommit: number;
}

const FLOE = join(import.meta.dirname, '..', 'bin', 'floe.js');

export async function measureEndToEnd(name: ExampleName, options: EndToEndOptions): Promise<EndToEndResult> {
  const scratch = mkdtempSync(join(tmpdir(), 'floe-bench-run-'));
  try {
    const bids = generateBids({ count: options.records, seed: 11, skew: 0.8, eventsPerSecond: 1_000 });
    const input = join(scratch, 'bids.jsonl');
    writeFileSync(input, `${bids.map((b) => JSON.stringify(b)).join('\n')}\n`);
    const jobPath = join(import.meta.dirname, '..', 'examples', `${name}.ts`);
    const runArgs = (dir: string) => [
      FLOE,
      'run',
      jobPath,
      '--input',
      input,
      '--key',
      'auction',
      '--partitions',
      String(options.partitions),
      '--dir',
      dir,
      '--json',
    ];
    const log = produceToTopic(
      bids.map((b) => ({ ...bidRecord(b), value: JSON.stringify(b) })),
      { topic: 'bids', partitions: options.partitions, partitioner: defaultPartitioner(options.partitions) },
    );
    // The batches `floe run` cuts with its default --batch-size.
    const events = [...eventBatches(log, { batchSize: DEFAULT_RUN_BATCH_SIZE, oversized: 'alone' })];

    // Alternate the two so both see the same machine; the median of three each.
    const runTimes: number[] = [];
    const engineTimes: number[] = [];
    for (let round = 0; round < 3; round++) {
      const dir = join(scratch, `run-${round}`);
      let start = performance.now();
      execFileSync(process.execPath, runArgs(dir), { stdio: ['ignore', 'ignore', 'inherit'] });
      runTimes.push(performance.now() - start);
      rmSync(dir, { recursive: true, force: true });
      start = performance.now();
      engineAlone(name, events, options.partitions);
      engineTimes.push(performance.now() - start);
    }
    const counted = await countedRun(name, events, options.partitions, join(scratch, 'counted'));
    const per = 100_000 / options.records;
    const runPerSec = options.records / (median(runTimes) / 1000);
    const enginePerSec = options.records / (median(engineTimes) / 1000);
    return {
      name,
      records: options.records,
      batches: events.length,
      runPerSec,
      enginePerSec,
      ratio: runPerSec / enginePerSec,
      commits: counted.commits,
      per100k: {
        bytes: counted.bytes * per,
        files: counted.files * per,
        requests: counted.requests * per,
      },
      requestsPerCommit: counted.requests / Math.max(1, counted.commits),
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function engineAlone(name: ExampleName, events: readonly KafkaEvent[], partitions: number): number {
  const engine = new Engine<unknown>(EXAMPLE_JOBS[name]);
  const state = newEngineState(
    Array.from({ length: partitions }, (_, partition) => ({ topic: 'bids', partition })),
  );
  let rows = 0;
  for (const event of events) rows += engine.processBatch(state, event, { now: 0 }).rows.length;
  return rows + engine.drain(state, 0).rows.length;
}

interface Counts {
  requests: number;
  bytes: number;
  files: number;
  commits: number;
}

async function countedRun(
  name: ExampleName,
  events: readonly KafkaEvent[],
  partitions: number,
  dir: string,
): Promise<Counts> {
  const meter = meterRequests(localCheckpointStores(dir));
  const processor = new CheckpointedProcessor(EXAMPLE_JOBS[name] as never, {
    stores: meter.stores,
    partitions: Array.from({ length: partitions }, (_, partition) => ({ topic: 'bids', partition })),
  });
  let commits = 0;
  for (const event of events) commits += (await processor.process(event)).commits.length;
  commits += (await processor.drain()).commits.length;
  await processor.cleanup();
  const counts = meter.take();
  const puts = (name: string) => counts.operations[name]?.requests ?? 0;
  return {
    requests: counts.requests,
    bytes: counts.bytesOut,
    files: puts('checkpoints.put') + puts('warehouse.put'),
    commits,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
