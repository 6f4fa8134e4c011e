/**
 * `npm run bench [-- --json] [-- --events N] [-- --only NAME]`
 * `npm run bench -- --scale [--partitions 1,4,16,64,256] [--batches N] [--max-batches N] [--time-scale F] [--wall-cap S] [--cost]`
 * `npm run bench -- --cost [--cost-time-scale F] [--cost-max-records N] [--consume-interval MS] [--max-inline-state N]`
 * `npm run bench -- --cost [--cost-time-scale F] [--cost-max-records N]`
 * Either with `--publish-interval MS[,MS...]`: the processors' publish interval (model ms; one
 * run per value; default the processor's default).
 *
 * For each example: records/s of the engine over 6 MB ESM events, and in the same run the decode
 * floor (base64 + JSON.parse of the same values), taken in alternation so both see the same
 * machine; the ratio engine/floor is what to compare between runs, not the absolute figures.
 * Peak RSS is measured for one 6 MB batch in a fresh process.
 *
 * `--scale` and `--cost` run instead the scale benchmark (bench/scale.ts: 1 to 256 concurrent
 * invocations on simulated AWS stores, with an exactly-once check) and the cost model
 * (bench/cost.ts: dollars per million events next to Managed Flink); either or both.
 *
 * Then the RSS figure (bench/rss.ts): peak RSS of one 6 MB event with 100,000 distinct keys through
 * the Lambda handler in a fresh process (`{"rss": {"keys", "batchMb", "peakRssMb"}}` with --json).
 *
 * Then end to end (bench/end-to-end.ts): `floe run` with its default flags over 1,000,000 bids
 * (`--run-records N`, 0 to skip) next to the engine alone over the same events, and the requests,
 * bytes and files the commit protocol writes per 100,000 records.
 *
 * `npm run bench -- --cold-start` measures only the cold start of the bundled handler in Lambda's
 * Runtime Interface Emulator (bench/cold-start.ts): one JSON line
 * `{"coldStart": {"bundleBytes", "bundleGzipBytes", "initMs", "firstResponseMs", "runs"}}`.
 *
 * `npm run bench -- --aws` measures only what an invocation costs on the AWS stores (bench/aws.ts):
 * per example and batch size (100, 1,000, 10,000; `--aws-batches 100,1000` to choose), requests,
 * round trips, bytes, DynamoDB write units, S3 PUT/GET/LIST and time per warm invocation against
 * the local servers (scripts/local-aws, started and released by the bench) with injected latency.
 * It combines with `--only NAME` and `--json` (one `{"aws": …}` line per example and batch size);
 * the other sections are not run with `--aws`: run `npm run bench` for them.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EXAMPLE_JOBS, type ExampleName } from '../examples/index.ts';
import { DEFAULT_PUBLISH_INTERVAL_MS } from '../runtime/checkpoint/checkpointed-processor.ts';
import { Engine } from '../runtime/engine/engine.ts';
import { newEngineState } from '../runtime/engine/state.ts';
import { COST_EXCLUDED, costTable, runCost, unitsTable } from './cost.ts';
import { measureEndToEnd } from './end-to-end.ts';
import { measureRss } from './rss.ts';
import { runScale, SCALE_EXAMPLES, scaleTable } from './scale.ts';
import { buildWorkload, decodeFloor } from './workload.ts';

const ROUNDS = 7;
/**
 * Records of the end-to-end run: 1,000,000 bids, a 172 MB file, about 1.2 s of the engine's time.
 * A file a user waits for: at 100,000 records the engine needs 0.13 s and any process start alone
 * outweighs it, which measures Node's start-up, not the runner.
 */
const RUN_RECORDS = 1_000_000;

const USAGE = `Usage: npm run bench [-- options]

  (no flag)                 engine vs decode floor per example, then floe run end to end
    --events N              6 MB events of the engine workload (default 6)
    --run-records N         records of the end-to-end run (default 1000000; 0 skips it)
    --compare-floe PATH     another checkout's bin/floe.js, timed in the same end-to-end rounds
    --only NAME             one example
    --json                  one JSON object per line
  --cold-start              the bundled handler's cold start in Lambda's emulator
  --aws [--aws-batches 100,1000,10000]   requests and round trips per invocation on the AWS stores
  --scale [--partitions 1,4,16,64,256] [--batches N] [--max-batches N] [--time-scale F] [--wall-cap S]
                            concurrent invocations on simulated AWS stores
  --cost [--cost-time-scale F] [--cost-max-records N]   dollars per million events vs Managed Flink
  --consume-interval MS   with --cost: partition logs consume at most once per MS (default 0)
  --max-inline-state N    with --cost: the processors' maxInlineStateChars (default the processor's; 0: state objects)
    --publish-interval MS[,MS...]   with --scale or --cost: the publish interval(s), model ms
                            (default: the processor's, ${DEFAULT_PUBLISH_INTERVAL_MS}; 0 publishes every commit)

BENCHMARKS.md has the figures and what each section measures.`;

interface BenchResult {
  readonly name: string;
  readonly records: number;
  readonly recordsPerSec: number;
  readonly floorPerSec: number;
  readonly ratio: number;
  readonly peakRssMb: number;
}

function parse() {
  try {
    const { values } = parseArgs({
      options: {
        help: { type: 'boolean', short: 'h' },
        json: { type: 'boolean' },
        events: { type: 'string' },
        only: { type: 'string' },
        'run-records': { type: 'string' },
        'compare-floe': { type: 'string' },
        'cold-start': { type: 'boolean' },
        aws: { type: 'boolean' },
        'aws-batches': { type: 'string' },
        scale: { type: 'boolean' },
        cost: { type: 'boolean' },
        partitions: { type: 'string' },
        batches: { type: 'string' },
        'max-batches': { type: 'string' },
        'time-scale': { type: 'string' },
        'wall-cap': { type: 'string' },
        'cost-time-scale': { type: 'string' },
        'cost-max-records': { type: 'string' },
        'consume-interval': { type: 'string' },
        'max-inline-state': { type: 'string' },
        'publish-interval': { type: 'string' },
      },
      strict: true,
    });
    if (values.help === true) {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    const events = values.events === undefined ? 6 : Number(values.events);
    if (!Number.isSafeInteger(events) || events < 1)
      throw new Error(`--events must be a positive whole number, got "${values.events}".`);
    const names = Object.keys(EXAMPLE_JOBS) as ExampleName[];
    if (values.only !== undefined && !names.includes(values.only as ExampleName)) {
      throw new Error(`--only must name an example: ${names.join(', ')}.`);
    }
    const runRecords = values['run-records'] === undefined ? RUN_RECORDS : Number(values['run-records']);
    if (!Number.isSafeInteger(runRecords) || runRecords < 0)
      throw new Error(`--run-records must be a whole number >= 0, got "${values['run-records']}".`);
    const awsBatches = (values['aws-batches'] ?? '100,1000,10000').split(',').map(Number);
    if (awsBatches.some((n) => !Number.isSafeInteger(n) || n < 1 || n > 10_000))
      throw new Error(
        `--aws-batches must be batch sizes of 1 to 10,000, comma-separated, got "${values['aws-batches']}".`,
      );
    const number = (name: string, text: string | undefined, fallback: number, integer: boolean): number => {
      const value = text === undefined ? fallback : Number(text);
      if (!(value > 0) || (integer && !Number.isSafeInteger(value)))
        throw new Error(`--${name} must be a positive ${integer ? 'whole ' : ''}number, got "${text}".`);
      return value;
    };
    const partitions = (values.partitions ?? '1,4,16,64,256')
      .split(',')
      .map((p) => number('partitions', p, 1, true));
    const publishIntervals = (values['publish-interval'] ?? String(DEFAULT_PUBLISH_INTERVAL_MS))
      .split(',')
      .map((text) => {
        const ms = Number(text);
        if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(ms))
          throw new Error(
            `--publish-interval must be whole milliseconds (0 or more), comma-separated, got "${text}".`,
          );
        return ms;
      });
    return {
      json: values.json === true,
      publishIntervals,
      coldStart: values['cold-start'] === true,
      aws: values.aws === true,
      awsBatches,
      events,
      runRecords,
      compareFloe: values['compare-floe'],
      names: values.only ? [values.only as ExampleName] : names,
      only: values.only as ExampleName | undefined,
      scale: values.scale === true,
      cost: values.cost === true,
      partitions,
      batches: number('batches', values.batches, 20, true),
      maxBatches: number('max-batches', values['max-batches'], 2_560, true),
      timeScale: number('time-scale', values['time-scale'], 0.5, false),
      wallCapMs: number('wall-cap', values['wall-cap'], 90, false) * 1000,
      costTimeScale: number('cost-time-scale', values['cost-time-scale'], 0.1, false),
      costMaxRecords: number('cost-max-records', values['cost-max-records'], 400_000, true),
      consumeIntervalMs:
        values['consume-interval'] === undefined
          ? 0
          : number('consume-interval', values['consume-interval'], 0, true),
      maxInlineStateChars:
        values['max-inline-state'] === undefined
          ? undefined
          : number('max-inline-state', values['max-inline-state'], 0, true),
    };
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n`);
    process.exit(2);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function measure(
  name: ExampleName,
  workload: ReturnType<typeof buildWorkload>,
): Omit<BenchResult, 'peakRssMb'> {
  const job = EXAMPLE_JOBS[name];
  const engineTimes: number[] = [];
  const floorTimes: number[] = [];
  let sink = 0;
  // Round 0 warms up the JIT for both and is not counted.
  for (let round = 0; round <= ROUNDS; round++) {
    let start = performance.now();
    sink += decodeFloor(workload.events);
    const floorTime = performance.now() - start;

    const engine = new Engine<unknown>(job);
    const state = newEngineState();
    start = performance.now();
    for (const event of workload.events) sink += engine.processBatch(state, event, { now: 0 }).rows.length;
    sink += engine.drain(state, 0).rows.length;
    if (round > 0) {
      floorTimes.push(floorTime);
      engineTimes.push(performance.now() - start);
    }
  }
  if (sink === Number.MIN_SAFE_INTEGER) process.stdout.write('');
  const recordsPerSec = workload.records / (median(engineTimes) / 1000);
  const floorPerSec = workload.records / (median(floorTimes) / 1000);
  return { name, records: workload.records, recordsPerSec, floorPerSec, ratio: recordsPerSec / floorPerSec };
}

function peakRss(name: ExampleName, eventPath: string): { peakMb: number; baselineMb: number } {
  const script = join(import.meta.dirname, 'peak-rss.ts');
  const out = execFileSync(
    process.execPath,
    ['--conditions=floe-source', '--import', 'tsx', script, name, eventPath],
    {
      encoding: 'utf8',
    },
  );
  return JSON.parse(out) as { peakMb: number; baselineMb: number };
}

const options = parse();
const log = (text: string) => {
  if (!options.json) process.stderr.write(`${text}\n`);
};
if (options.coldStart) {
  log(
    'Cold start: examples/bids-per-auction.ts bundled, then 5 fresh Lambda emulators, one invoke each (median)...',
  );
  const { measureColdStart } = await import('./cold-start.ts');
  process.stdout.write(`${JSON.stringify({ coldStart: await measureColdStart() })}\n`);
  process.exit(0);
}
if (options.aws) {
  // Progress goes to stderr with --json too: stdout holds only the JSON lines.
  const progress = (text: string) => process.stderr.write(`${text}\n`);
  const { awsBenchEvents, awsJsonLine, awsScaling, awsTable, measureAws, startLocalAws } = await import(
    './aws.ts'
  );
  const { DEFAULT_LATENCY } = await import('./aws-cost.ts');
  const { dynamodb, s3 } = DEFAULT_LATENCY;
  progress(
    `On AWS stores (local moto and versitygw; injected latency per request, uniform, seeded: DynamoDB ${dynamodb.minMs}-${dynamodb.maxMs} ms, S3 ${s3.minMs}-${s3.maxMs} ms). Starting or reusing the local servers...`,
  );
  const release = await startLocalAws();
  const began = performance.now();
  const results = [];
  try {
    for (const batchSize of options.awsBatches) {
      const events = awsBenchEvents(batchSize);
      for (const name of options.names) {
        progress(
          `  ${name}, batches of ${batchSize.toLocaleString('en')}: 10 warm-up, 5 measured, 1 cold...`,
        );
        const figures = await measureAws(name, batchSize, events);
        results.push(figures);
        if (options.json) process.stdout.write(`${awsJsonLine(figures)}\n`);
      }
    }
  } finally {
    await release();
  }
  if (!options.json) {
    process.stdout.write(awsTable(results));
    process.stdout.write(
      "Per warm invocation, mean of 5 (every batch fires windows; cleanup, every 64 commits, is in none of them); time: median. records: per batch after the 6 MB cut. KB out/in: payload on the wire (compressed state, items, objects). wait ms: time with a store request in flight. cold req/rt: a new container's first batch.\n",
    );
    process.stdout.write(awsScaling(results));
  }
  progress(`Done in ${((performance.now() - began) / 1000).toFixed(0)} s.`);
  process.exit(0);
}
if (options.scale || options.cost) {
  const examples = options.only ? [options.only] : SCALE_EXAMPLES;
  const started = new Date().toISOString().slice(0, 10);
  if (options.scale) {
    log(
      `Scale: ${options.partitions.join(', ')} concurrent invocations (one per partition), ${options.batches} batches of 100 per partition, simulated AWS stores at time scale ${options.timeScale}; figures in model time. ${started}, Node ${process.version}.`,
    );
    const rows = await runScale(
      {
        examples,
        partitions: options.partitions,
        batches: options.batches,
        maxBatches: options.maxBatches,
        timeScale: options.timeScale,
        wallCapMs: options.wallCapMs,
        publishIntervals: options.publishIntervals,
      },
      (text) => process.stderr.write(`${text}\n`),
      (row) => {
        if (options.json) process.stdout.write(`${JSON.stringify({ scale: row })}\n`);
      },
    );
    if (!options.json) process.stdout.write(`${scaleTable(rows)}\n`);
    if (rows.some((r) => !r.exactlyOnce)) process.exitCode = 1;
  }
  if (options.cost) {
    log(
      `\nCost: dollars per million events on simulated AWS stores (paced, time scale ${options.costTimeScale}). ${COST_EXCLUDED}`,
    );
    const rows = await runCost(
      {
        examples,
        timeScale: options.costTimeScale,
        maxRecords: options.costMaxRecords,
        consumeIntervalMs: options.consumeIntervalMs,
        ...(options.maxInlineStateChars === undefined
          ? {}
          : { maxInlineStateChars: options.maxInlineStateChars }),
        publishIntervals: options.publishIntervals,
      },
      (text) => process.stderr.write(`${text}\n`),
      (row) => {
        if (options.json) process.stdout.write(`${JSON.stringify({ cost: row })}\n`);
      },
    );
    if (!options.json)
      process.stdout.write(
        `\n${costTable(rows)}\n${COST_EXCLUDED}\n\nDynamoDB write / read units per invocation, by item:\n${unitsTable(rows)}\n`,
      );
  }
  process.exit();
}

log(`Building ${options.events} events of up to 10,000 Nexmark bids / 6 MB each...`);
const workload = buildWorkload(options.events);
log(
  `${workload.records.toLocaleString('en')} records in ${workload.events.length} events, mean ${workload.meanEventMb.toFixed(2)} MB per event; ${ROUNDS} rounds, median.`,
);

const scratch = mkdtempSync(join(tmpdir(), 'floe-bench-'));
const eventPath = join(scratch, 'event.json');
writeFileSync(eventPath, JSON.stringify(workload.events[0]));

const results: BenchResult[] = [];
const baselines: number[] = [];
for (const name of options.names) {
  log(`  ${name}...`);
  const rss = peakRss(name, eventPath);
  baselines.push(rss.baselineMb);
  const result = { ...measure(name, workload), peakRssMb: rss.peakMb };
  results.push(result);
  if (options.json) process.stdout.write(`${JSON.stringify(result)}\n`);
}
rmSync(scratch, { recursive: true, force: true });

// The RSS figure: one 6 MB event with 100,000 distinct keys through the handler, in a fresh process.
const rss = measureRss();
if (options.json) {
  process.stdout.write(
    `${JSON.stringify({ rss: { keys: rss.keys, batchMb: rss.batchMb, peakRssMb: rss.peakRssMb } })}\n`,
  );
}
if (!options.json) {
  const header = ['example', 'records', 'engine rec/s', 'floor rec/s', 'engine/floor', 'peak RSS (1 batch)'];
  const rows = results.map((r) => [
    r.name,
    r.records.toLocaleString('en'),
    Math.round(r.recordsPerSec).toLocaleString('en'),
    Math.round(r.floorPerSec).toLocaleString('en'),
    r.ratio.toFixed(2),
    `${r.peakRssMb.toFixed(0)} MB`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  for (const row of [header, ...rows])
    process.stdout.write(`${row.map((c, i) => c.padEnd(widths[i]!)).join('  ')}\n`);
  process.stdout.write(
    `Peak RSS: a fresh Node process that parsed one ${workload.meanEventMb.toFixed(1)} MB event (${Math.min(...baselines).toFixed(0)}-${Math.max(...baselines).toFixed(0)} MB before processing), then processed and drained it.\n`,
  );
  process.stdout.write(
    `\nPeak RSS, one ${rss.batchMb.toFixed(1)} MB event of ${rss.records.toLocaleString('en')} records with ${rss.keys.toLocaleString('en')} distinct keys through the Lambda handler on local stores (${rss.rows.toLocaleString('en')} rows fired, committed and published): ${rss.peakRssMb} MB (${rss.baselineMb} MB once the event is parsed; goal <= 512 MB).\n`,
  );
}

if (options.runRecords > 0) {
  const runOptions = { records: options.runRecords, partitions: 4, compareFloe: options.compareFloe };
  log(
    `\nEnd to end: floe run with default flags over ${runOptions.records.toLocaleString('en')} bids, ${runOptions.partitions} partitions (events cut at 6 MB), local durable stores (fsync); median of 3, alternating with the engine alone over the same events.${options.compareFloe ? ` In the same rounds: ${options.compareFloe}.` : ''}`,
  );
  const e2e = [];
  for (const name of options.names) {
    log(`  ${name}...`);
    const result = await measureEndToEnd(name, runOptions);
    e2e.push(result);
    if (options.json) process.stdout.write(`${JSON.stringify({ endToEnd: result })}\n`);
  }
  if (!options.json) {
    const header = [
      'example',
      'floe run rec/s',
      'engine rec/s',
      'engine on lines rec/s',
      'run/engine',
      ...(options.compareFloe ? ['compared run/engine'] : []),
      'commits',
      'MB/100k',
      'files/100k',
      'requests/commit',
    ];
    const rows = e2e.map((r) => [
      r.name,
      Math.round(r.runPerSec).toLocaleString('en'),
      Math.round(r.enginePerSec).toLocaleString('en'),
      Math.round(r.engineOnLinesPerSec).toLocaleString('en'),
      r.ratio.toFixed(3),
      ...(options.compareFloe ? [r.compareRatio?.toFixed(3) ?? ''] : []),
      String(r.commits),
      (r.per100k.bytes / 1024 / 1024).toFixed(1),
      Math.round(r.per100k.files).toLocaleString('en'),
      r.requestsPerCommit.toFixed(1),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
    process.stdout.write('\n');
    for (const row of [header, ...rows])
      process.stdout.write(`${row.map((c, i) => c.padEnd(widths[i]!)).join('  ')}\n`);
    process.stdout.write(
      'MB and files: everything the protocol wrote (data files, Iceberg metadata, manifests, state objects, heads), before cleanup deleted old checkpoints.\n',
    );
  }
}
