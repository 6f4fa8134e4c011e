/**
 * End to end: `floe run` (a real process: JSON lines in, Iceberg tables out, every batch committed
 * exactly once on local durable stores) against the engine alone over the same batches, measured
 * in alternation in one run. A second, in-process run of the same protocol counts what a user
 * pays for: requests, bytes and files written per 100,000 records.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localCheckpointStores } from '../adapters/local/run-directory.ts';
import { EXAMPLE_JOBS, type ExampleName } from '../examples/index.ts';
import { generateBids } from '../examples/nexmark/generator.ts';
import { bidRecord } from '../examples/nexmark/topic.ts';
import { CheckpointedProcessor } from '../runtime/checkpoint/checkpointed-processor.ts';
import { Engine } from '../runtime/engine/engine.ts';
import { newEngineState } from '../runtime/engine/state.ts';
import { eventBatches, produceToTopic } from '../runtime/event-source-mapping/event-builder.ts';
import { defaultPartitioner } from '../runtime/event-source-mapping/partitioner.ts';
import type { KafkaEvent } from '../runtime/source/kafka-event.ts';
import type { CheckpointStores } from '../runtime/stores/checkpoint-stores.ts';
import type { ObjectStore } from '../runtime/stores/object-store.ts';
import type { StateStore } from '../runtime/stores/state-store.ts';

export interface EndToEndOptions {
  readonly records: number;
  readonly partitions: number;
  readonly batchSize: number;
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
      '--batch-size',
      String(options.batchSize),
      '--dir',
      dir,
      '--json',
    ];
    const log = produceToTopic(
      bids.map((b) => ({ ...bidRecord(b), value: JSON.stringify(b) })),
      { topic: 'bids', partitions: options.partitions, partitioner: defaultPartitioner(options.partitions) },
    );
    const events = [...eventBatches(log, { batchSize: options.batchSize })];

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
  const counts: Counts = { requests: 0, bytes: 0, files: 0, commits: 0 };
  const stores = countingStores(localCheckpointStores(dir), counts);
  const processor = new CheckpointedProcessor(EXAMPLE_JOBS[name] as never, {
    stores,
    partitions: Array.from({ length: partitions }, (_, partition) => ({ topic: 'bids', partition })),
  });
  for (const event of events) counts.commits += (await processor.process(event)).commits.length;
  counts.commits += (await processor.drain()).commits.length;
  await processor.cleanup();
  return counts;
}

/** Counts every request, and the bytes and objects written, of the stores a commit uses. */
function countingStores(stores: CheckpointStores, counts: Counts): CheckpointStores {
  const objects = (store: ObjectStore): ObjectStore => ({
    put: async (key, bytes, options) => {
      counts.requests++;
      counts.bytes += bytes.byteLength;
      counts.files++;
      return store.put(key, bytes, options);
    },
    get: async (key) => {
      counts.requests++;
      return store.get(key);
    },
    list: async (prefix) => {
      counts.requests++;
      return store.list(prefix);
    },
    delete: async (key) => {
      counts.requests++;
      return store.delete(key);
    },
    uri: (key) => store.uri(key),
    keyOf: (uri) => store.keyOf(uri),
  });
  const heads = (store: StateStore): StateStore => ({
    get: async (key) => {
      counts.requests++;
      return store.get(key);
    },
    put: async (key, value, condition) => {
      counts.requests++;
      counts.bytes += JSON.stringify(value).length;
      return store.put(key, value, condition);
    },
    delete: async (key, condition) => {
      counts.requests++;
      return store.delete(key, condition);
    },
    list: async (prefix) => {
      counts.requests++;
      return store.list(prefix);
    },
  });
  const catalog = stores.catalog;
  return {
    heads: heads(stores.heads),
    checkpoints: objects(stores.checkpoints),
    warehouse: objects(stores.warehouse),
    catalog: {
      currentMetadataLocation: async (name) => {
        counts.requests++;
        return catalog.currentMetadataLocation(name);
      },
      compareAndSwap: async (name, expected, next) => {
        counts.requests++;
        return catalog.compareAndSwap(name, expected, next);
      },
      listTables: async () => {
        counts.requests++;
        return catalog.listTables();
      },
    },
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
