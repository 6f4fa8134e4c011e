/**
 * End to end: `floe run` with its default flags (a real process: JSON lines in, Iceberg tables out,
 * every batch committed exactly once on local durable stores; events cut at 6 MB, one partition
 * each for per-partition jobs) against the engine alone over the same events, measured in
 * alternation in one run. A second, in-process run of the same protocol counts what a user pays
 * for: requests, bytes and files written per 100,000 records.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { localCheckpointStores } from '../adapters/local/run-directory.ts';
import { openRunInput, runEvents } from '../cli/run.ts';
import { EXAMPLE_JOBS, type ExampleName } from '../examples/index.ts';
import { iterateBids } from '../examples/nexmark/generator.ts';
import { CheckpointedProcessor } from '../runtime/checkpoint/checkpointed-processor.ts';
import { Engine } from '../runtime/engine/engine.ts';
import { newEngineState } from '../runtime/engine/state.ts';
import type { KafkaEvent } from '../runtime/source/kafka-event.ts';
import { meterRequests } from '../runtime/stores/request-meter.ts';

export interface EndToEndOptions {
  readonly records: number;
  readonly partitions: number;
  /**
   * Another checkout's bin/floe.js, timed in the same rounds (this checkout's run, the engine, the
   * other's run), so that a before and an after come from one sitting. @default - none
   */
  readonly compareFloe?: string;
}

export interface EndToEndResult {
  readonly name: string;
  readonly records: number;
  /** The input file's size. */
  readonly inputMb: number;
  readonly batches: number;
  /** `floe run` wall time, process start to exit, as records per second. */
  readonly runPerSec: number;
  /** The engine alone over the same batches as Lambda delivers them (base64 values), in the same run. */
  readonly enginePerSec: number;
  /** The engine alone over `floe run`'s own records of those batches (values also as text). */
  readonly engineOnLinesPerSec: number;
  readonly ratio: number;
  /** With `compareFloe`: the other checkout's run/engine, from the same rounds. */
  readonly compareRatio?: number;
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
    const input = join(scratch, 'bids.jsonl');
    writeBids(input, options.records);
    // Each checkout runs its own example: a job is an instance of its checkout's Job class.
    const jobPath = (floe: string) => join(dirname(floe), '..', 'examples', `${name}.ts`);
    const runArgs = (floe: string, dir: string) => [
      floe,
      'run',
      jobPath(floe),
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
    // The events `floe run` cuts with its default flags, as Lambda delivers them (plain JSON,
    // every value base64): the engine alone runs on those. `floe run`'s own records also carry
    // their lines as text, which the JSON format decodes without the base64 round trip; the engine
    // over those records is timed too (`engineOnLinesPerSec`), so that the ratio is not read as
    // more than it is.
    const { params } = await openRunInput({ input, key: 'auction', partitions: options.partitions });
    const events: KafkaEvent[] = [];
    const lineEvents: KafkaEvent[] = [];
    for await (const cut of runEvents(params, EXAMPLE_JOBS[name].plan.scope)) {
      const event = cut.event();
      lineEvents.push(event);
      events.push(JSON.parse(JSON.stringify(event)) as KafkaEvent);
    }

    // Alternate them so all see the same machine; the median of three each.
    const timeRun = (floe: string, dir: string) => {
      const start = performance.now();
      execFileSync(process.execPath, runArgs(floe, dir), { stdio: ['ignore', 'ignore', 'inherit'] });
      const elapsed = performance.now() - start;
      rmSync(dir, { recursive: true, force: true });
      return elapsed;
    };
    const runTimes: number[] = [];
    const engineTimes: number[] = [];
    const lineEngineTimes: number[] = [];
    const compareTimes: number[] = [];
    for (let round = 0; round < 3; round++) {
      runTimes.push(timeRun(FLOE, join(scratch, `run-${round}`)));
      const start = performance.now();
      engineAlone(name, events, options.partitions);
      engineTimes.push(performance.now() - start);
      const linesStart = performance.now();
      engineAlone(name, lineEvents, options.partitions);
      lineEngineTimes.push(performance.now() - linesStart);
      if (options.compareFloe !== undefined) {
        compareTimes.push(timeRun(options.compareFloe, join(scratch, `compare-${round}`)));
      }
    }
    const counted = await countedRun(name, events, options.partitions, join(scratch, 'counted'));
    const inputMb = statSync(input).size / 1024 / 1024;
    const per = 100_000 / options.records;
    const runPerSec = options.records / (median(runTimes) / 1000);
    const enginePerSec = options.records / (median(engineTimes) / 1000);
    return {
      name,
      records: options.records,
      inputMb,
      batches: events.length,
      runPerSec,
      enginePerSec,
      engineOnLinesPerSec: options.records / (median(lineEngineTimes) / 1000),
      ratio: runPerSec / enginePerSec,
      ...(compareTimes.length > 0 ? { compareRatio: median(engineTimes) / median(compareTimes) } : {}),
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

/** Nexmark bids as JSON lines (Zipf skew 0.8, 1,000 bids/s of event time), written in slices. */
function writeBids(path: string, records: number): void {
  const fd = openSync(path, 'w');
  try {
    let lines: string[] = [];
    for (const bid of iterateBids({ count: records, seed: 11, skew: 0.8, eventsPerSecond: 1_000 })) {
      lines.push(JSON.stringify(bid));
      if (lines.length === 100_000) {
        writeSync(fd, `${lines.join('\n')}\n`);
        lines = [];
      }
    }
    if (lines.length > 0) writeSync(fd, `${lines.join('\n')}\n`);
  } finally {
    closeSync(fd);
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
