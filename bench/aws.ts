/**
 * `npm run bench -- --aws`: what a warm invocation costs on the AWS stores (DynamoDB heads, state
 * items and catalog; S3 checkpoints and tables), per example and batch size, against the local
 * servers (scripts/local-aws: moto, versitygw) with a latency injected into every SDK request.
 *
 * Per example and batch size: a topic of one partition (each invocation carries one partition,
 * as the event source mapping delivers them), cut by the repo's event builder at the batch size
 * and Lambda's 6 MB payload limit. One process plays one Lambda container: 10 invocations warm it
 * up (the first creates the head and the tables), then 5 are measured (cleanup, every 64 commits of a
 * group by default, runs in none of them: the cost bench counts its amortized share), then a
 * new processor on the same stores takes one more batch: the cold path of a new container.
 * The bids' event-time rate scales with the batch (a batch spans about 20 s of event time), so
 * every batch fires windows and publishes rows, whatever its size.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { awsCheckpointStores, createLocalAwsStores } from '../adapters/aws/aws-stores.ts';
import { createDynamoDbClient } from '../adapters/aws/dynamodb-client.ts';
import { deleteLocalTable } from '../adapters/aws/dynamodb-tables.ts';
import { createS3Client } from '../adapters/aws/s3-object-store.ts';
import { EXAMPLE_JOBS, type ExampleName } from '../examples/index.ts';
import { generateBids } from '../examples/nexmark/generator.ts';
import { bidTopic } from '../examples/nexmark/topic.ts';
import { CheckpointedProcessor } from '../runtime/checkpoint/checkpointed-processor.ts';
import { eventBatches, LAMBDA_PAYLOAD_LIMIT_BYTES } from '../runtime/event-source-mapping/event-builder.ts';
import type { KafkaEvent } from '../runtime/source/kafka-event.ts';
import { meterRequests, type RequestCounts } from '../runtime/stores/request-meter.ts';
import {
  type ApiCounts,
  AwsProbe,
  DEFAULT_LATENCY,
  latencySampler,
  mean,
  median,
  type ProbeCounts,
} from './aws-cost.ts';

export const AWS_BATCH_SIZES = [100, 1_000, 10_000] as const;
const WARM_UP = 10;
const MEASURED = 5;
/** Event time a batch spans, so that every batch fires windows (the examples' are 10 s). */
const BATCH_SPAN_SECONDS = 20;
/** Pads each bid to about 600 bytes of event JSON, so 10,000 records exceed 6 MB and are cut. */
const EXTRA_BYTES = 200;
const TOPIC = 'bids';

export interface AwsFigures {
  readonly example: string;
  /** Records per invocation (mean of the measured ones): the batch size, or fewer when 6 MB cut it. */
  readonly batchRecords: number;
  /** The ESM batch size asked for. */
  readonly batchSize: number;
  readonly invocations: number;
  /** Store requests (protocol level, store.operation) per warm invocation, mean. */
  readonly requests: number;
  /** Sequential round trips (protocol level) per warm invocation, mean; min and max beside. */
  readonly roundTrips: number;
  readonly roundTripsMin: number;
  readonly roundTripsMax: number;
  /** Payload bytes sent / received per invocation on the wire (compressed state, items, objects). */
  readonly bytesOut: number;
  readonly bytesIn: number;
  /** DynamoDB write units per invocation: ceil(item bytes / 1 KB) per write. */
  readonly dynamodbWriteUnits: number;
  /** DynamoDB writes per invocation (PutItem, UpdateItem, DeleteItem). */
  readonly dynamodbWrites: number;
  readonly s3Puts: number;
  readonly s3Gets: number;
  readonly s3Lists: number;
  /** AWS requests per invocation (SDK calls; a state object spilled to S3 is two). */
  readonly awsRequests: number;
  /** Sequential round trips of SDK calls per invocation. */
  readonly awsRoundTrips: number;
  /** Wall time of `processor.process(event)`, median of the measured invocations. */
  readonly msPerInvocation: number;
  /** Time with a store request in flight, median. */
  readonly storeWaitMs: number;
  /** msPerInvocation / roundTrips. */
  readonly msPerRoundTrip: number;
  /** Per store.operation, per invocation (mean): requests, bytes as the store sees them (uncompressed). */
  readonly byOperation: Record<string, { requests: number; bytesOut: number; bytesIn: number }>;
  /** Per AWS API, per invocation (mean): requests, payload bytes, write units. */
  readonly byApi: Record<string, ApiCounts>;
  /** A new container's first invocation on the same stores (loads the checkpoint, reads the tables). */
  readonly cold: {
    readonly requests: number;
    readonly roundTrips: number;
    readonly ms: number;
    readonly operations: Record<string, number>;
  };
}

/** `export NAME=value` lines → variables. */
function parseExports(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^export ([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) vars[m[1]!] = m[2]!.replace(/^'(.*)'$/, '$1');
  }
  return vars;
}

function runLocalAws(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const script = join(import.meta.dirname, '..', 'scripts', 'local-aws');
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(out)
        : reject(new Error(`scripts/local-aws ${args.join(' ')} exited with ${code}`)),
    );
  });
}

/**
 * Starts the local servers or reuses running ones, with a lease for this process
 * (scripts/local-aws): the returned release stops them only if this start launched them.
 */
export async function startLocalAws(): Promise<() => Promise<void>> {
  const lease = String(process.pid);
  const out = await runLocalAws(['start'], { ...process.env, FLOE_LOCAL_AWS_LEASE: lease });
  Object.assign(process.env, parseExports(out));
  return async () => {
    await runLocalAws(['release', lease], process.env);
  };
}

/** The events of one batch size: one partition, cut at the batch size and 6 MB. */
export function awsBenchEvents(batchSize: number): KafkaEvent[] {
  const count = batchSize * (WARM_UP + MEASURED + 1);
  const bids = generateBids({
    count,
    seed: 5,
    skew: 0.8,
    eventsPerSecond: batchSize / BATCH_SPAN_SECONDS,
    extraBytes: EXTRA_BYTES,
  });
  return [
    ...eventBatches(bidTopic(bids, 1, TOPIC), { batchSize, maxPayloadBytes: LAMBDA_PAYLOAD_LIMIT_BYTES }),
  ];
}

function recordsOf(event: KafkaEvent): number {
  return Object.values(event.records).reduce((sum, records) => sum + records.length, 0);
}

interface Invocation {
  readonly records: number;
  readonly ms: number;
  readonly meter: RequestCounts;
  readonly probe: ProbeCounts;
}

export async function measureAws(name: ExampleName, batchSize: number, events: readonly KafkaEvent[]) {
  const probe = new AwsProbe();
  const dynamodb = probe.attach(
    createDynamoDbClient(),
    'dynamodb',
    latencySampler(DEFAULT_LATENCY.dynamodb, 1),
  );
  const s3 = probe.attach(createS3Client(), 's3', latencySampler(DEFAULT_LATENCY.s3, 2));
  const suffix = `${Date.now().toString(36)}-${randomUUID().slice(0, 8)}`;
  const config = {
    job: name,
    stateTable: `floe-bench-${suffix}`,
    catalogTable: `floe-bench-iceberg-${suffix}`,
    objects: `s3://floe-bench-aws/${name}-${batchSize}-${suffix}`,
    dynamodb,
    s3,
  };
  await createLocalAwsStores(config);
  try {
    const meter = meterRequests(awsCheckpointStores(config));
    const partitions = [{ topic: TOPIC, partition: 0 }];
    const job = EXAMPLE_JOBS[name] as never;
    const processor = new CheckpointedProcessor(job, { stores: meter.stores, partitions });
    const invoke = async (on: CheckpointedProcessor<unknown>, event: KafkaEvent): Promise<Invocation> => {
      meter.take();
      probe.take();
      const start = performance.now();
      await on.process(event);
      const ms = performance.now() - start;
      return { records: recordsOf(event), ms, meter: meter.take(), probe: probe.take() };
    };
    if (events.length < WARM_UP + MEASURED + 1) throw new Error(`only ${events.length} events`);
    for (const event of events.slice(0, WARM_UP)) await invoke(processor, event);
    const measured: Invocation[] = [];
    for (const event of events.slice(WARM_UP, WARM_UP + MEASURED))
      measured.push(await invoke(processor, event));
    const fresh = new CheckpointedProcessor(job, { stores: meter.stores, partitions });
    const cold = await invoke(fresh, events[WARM_UP + MEASURED]!);
    return summarize(name, batchSize, measured, cold);
  } finally {
    await deleteLocalTable(dynamodb, config.stateTable).catch(() => undefined);
    await deleteLocalTable(dynamodb, config.catalogTable).catch(() => undefined);
    dynamodb.destroy();
    s3.destroy();
  }
}

function summarize(
  name: string,
  batchSize: number,
  runs: readonly Invocation[],
  cold: Invocation,
): AwsFigures {
  const per = (pick: (run: Invocation) => number) => mean(runs.map(pick));
  const api = (run: Invocation, names: readonly string[], field: keyof ApiCounts = 'requests') =>
    names.reduce((sum, n) => sum + (run.probe.apis[n]?.[field] ?? 0), 0);
  const byOperation: AwsFigures['byOperation'] = {};
  for (const run of runs) {
    for (const [op, c] of Object.entries(run.meter.operations)) {
      const into = byOperation[op] ?? { requests: 0, bytesOut: 0, bytesIn: 0 };
      byOperation[op] = into;
      into.requests += c.requests / runs.length;
      into.bytesOut += c.bytesOut / runs.length;
      into.bytesIn += c.bytesIn / runs.length;
    }
  }
  const byApi: Record<string, ApiCounts> = {};
  for (const run of runs) {
    for (const [op, c] of Object.entries(run.probe.apis)) {
      const into = byApi[op] ?? { requests: 0, bytesOut: 0, bytesIn: 0, writeUnits: 0 };
      byApi[op] = into;
      into.requests += c.requests / runs.length;
      into.bytesOut += c.bytesOut / runs.length;
      into.bytesIn += c.bytesIn / runs.length;
      into.writeUnits += c.writeUnits / runs.length;
    }
  }
  const ms = median(runs.map((r) => r.ms));
  const roundTrips = per((r) => r.meter.roundTrips);
  return {
    example: name,
    batchRecords: per((r) => r.records),
    batchSize,
    invocations: runs.length,
    requests: per((r) => r.meter.requests),
    roundTrips,
    roundTripsMin: Math.min(...runs.map((r) => r.meter.roundTrips)),
    roundTripsMax: Math.max(...runs.map((r) => r.meter.roundTrips)),
    bytesOut: per((r) => r.probe.bytesOut),
    bytesIn: per((r) => r.probe.bytesIn),
    dynamodbWriteUnits: per((r) => r.probe.writeUnits),
    dynamodbWrites: per((r) => api(r, ['dynamodb.PutItem', 'dynamodb.UpdateItem', 'dynamodb.DeleteItem'])),
    s3Puts: per((r) => api(r, ['s3.PutObject', 's3.UploadPart', 's3.CopyObject'])),
    s3Gets: per((r) => api(r, ['s3.GetObject', 's3.HeadObject'])),
    s3Lists: per((r) => api(r, ['s3.ListObjectsV2'])),
    awsRequests: per((r) => r.probe.requests),
    awsRoundTrips: per((r) => r.probe.roundTrips),
    msPerInvocation: ms,
    storeWaitMs: median(runs.map((r) => r.probe.waitMs)),
    msPerRoundTrip: ms / roundTrips,
    byOperation,
    byApi,
    cold: {
      requests: cold.meter.requests,
      roundTrips: cold.meter.roundTrips,
      ms: cold.ms,
      operations: Object.fromEntries(
        Object.entries(cold.meter.operations).map(([op, c]) => [op, c.requests]),
      ),
    },
  };
}

const round = (value: number, digits = 1) => Number(value.toFixed(digits));

/** The `--json` line of one example and batch size. */
export function awsJsonLine(f: AwsFigures): string {
  const byOperation = Object.fromEntries(
    Object.entries(f.byOperation).map(([op, c]) => [
      op,
      { requests: round(c.requests), bytesOut: Math.round(c.bytesOut), bytesIn: Math.round(c.bytesIn) },
    ]),
  );
  const byApi = Object.fromEntries(
    Object.entries(f.byApi).map(([op, c]) => [
      op,
      {
        requests: round(c.requests),
        bytesOut: Math.round(c.bytesOut),
        bytesIn: Math.round(c.bytesIn),
        writeUnits: round(c.writeUnits),
      },
    ]),
  );
  return JSON.stringify({
    aws: {
      example: f.example,
      batchRecords: Math.round(f.batchRecords),
      batchSize: f.batchSize,
      invocations: f.invocations,
      requests: round(f.requests),
      roundTrips: round(f.roundTrips),
      roundTripsMin: f.roundTripsMin,
      roundTripsMax: f.roundTripsMax,
      bytesOut: Math.round(f.bytesOut),
      bytesIn: Math.round(f.bytesIn),
      dynamodbWriteUnits: round(f.dynamodbWriteUnits),
      dynamodbWrites: round(f.dynamodbWrites),
      s3Puts: round(f.s3Puts),
      s3Gets: round(f.s3Gets),
      s3Lists: round(f.s3Lists),
      awsRequests: round(f.awsRequests),
      awsRoundTrips: round(f.awsRoundTrips),
      msPerInvocation: round(f.msPerInvocation),
      storeWaitMs: round(f.storeWaitMs),
      msPerRoundTrip: round(f.msPerRoundTrip),
      byOperation,
      byApi,
      cold: { ...f.cold, ms: round(f.cold.ms) },
    },
  });
}

/** The terminal table. */
export function awsTable(results: readonly AwsFigures[]): string {
  const header = [
    'example',
    'records',
    'requests',
    'round trips',
    'KB out',
    'KB in',
    'DDB WCU',
    'DDB writes',
    'S3 PUT',
    'S3 GET',
    'S3 LIST',
    'ms (median)',
    'wait ms',
    'ms/round trip',
    'cold req/rt',
  ];
  const rows = results.map((f) => [
    f.example,
    Math.round(f.batchRecords).toLocaleString('en'),
    f.requests.toFixed(1),
    `${f.roundTrips.toFixed(1)} (${f.roundTripsMin}-${f.roundTripsMax})`,
    (f.bytesOut / 1024).toFixed(1),
    (f.bytesIn / 1024).toFixed(1),
    f.dynamodbWriteUnits.toFixed(1),
    f.dynamodbWrites.toFixed(1),
    f.s3Puts.toFixed(1),
    f.s3Gets.toFixed(1),
    f.s3Lists.toFixed(1),
    f.msPerInvocation.toFixed(0),
    f.storeWaitMs.toFixed(0),
    f.msPerRoundTrip.toFixed(1),
    `${f.cold.requests}/${f.cold.roundTrips}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  return [header, ...rows].map((row) => `${row.map((c, i) => c.padEnd(widths[i]!)).join('  ')}\n`).join('');
}

/**
 * Per example, the largest batch against the smallest, measured in the same run: how many times
 * the records, the round trips and the time. Time that follows round trips x latency stays near
 * 1x while the records grow 100x.
 */
export function awsScaling(results: readonly AwsFigures[]): string {
  const lines: string[] = [];
  for (const example of new Set(results.map((f) => f.example))) {
    const runs = results.filter((f) => f.example === example).sort((a, b) => a.batchRecords - b.batchRecords);
    if (runs.length < 2) continue;
    const small = runs[0]!;
    const large = runs[runs.length - 1]!;
    lines.push(
      `${example}: ${(large.batchRecords / small.batchRecords).toFixed(0)}x the records, ${(large.roundTrips / small.roundTrips).toFixed(2)}x the round trips, ${(large.requests / small.requests).toFixed(2)}x the requests, ${(large.msPerInvocation / small.msPerInvocation).toFixed(2)}x the time (${small.msPerRoundTrip.toFixed(1)} -> ${large.msPerRoundTrip.toFixed(1)} ms per round trip)\n`,
    );
  }
  return lines.join('');
}
