/**
 * `npm run bench -- --cost [--cost-time-scale 0.1] [--only NAME] [--json]`
 *
 * Dollars per million events of today's design on AWS, from what a simulated fleet
 * (bench/fleet.ts) asks of the stores, next to Managed Service for Apache Flink at the same rate.
 * For each example, at 1,000 events/s on 4 partitions and 10,000 events/s on 16, and batching
 * windows of 0.5, 1, 5 and 30 s, the fleet runs paced as the event source mapping would invoke it:
 * each partition gets a batch of (events/s ÷ partitions × window) records, capped at 10,000
 * records and 6 MB, every window (or as soon as a capped batch fills).
 *
 * Counted per run and turned into dollars with {@link PRICES} (docs/prices.md):
 * - Lambda: one request per invocation (failed ones included), and GB-seconds at
 *   {@link LAMBDA_MEMORY_MB}: billed duration = the invocation's wait on the stores (model time)
 *   + its share of the measured process CPU time, scaled to the vCPU share of that memory size;
 * - DynamoDB (heads): write units (ceil(item bytes / 1 KB) per write, failed conditional writes
 *   included) and read units (ceil(bytes / 4 KB) per strongly consistent read), on demand;
 * - S3: PUT and LIST requests, GET requests (DELETE is free), from the request meter, and one
 *   month of storage for the warehouse bytes the run leaves (checkpoints are cleaned up);
 * - the catalog: its requests, priced as Glue Data Catalog requests.
 * Excluded, and named so in the output: MSK (brokers, storage, data transfer) and the event
 * source mapping's pollers (provisioned mode's event poller units), which both designs need;
 * CloudWatch logs; data transfer (all in one region).
 */
import type { ExampleName } from '../examples/index.ts';
import {
  DATA_FILE_SWEEP_EVERY,
  DEFAULT_CLEANUP_EVERY,
} from '../runtime/checkpoint/checkpointed-processor.ts';
import { recentDataFilePrefixes } from '../runtime/checkpoint/cleanup.ts';
import { runFleet } from './fleet.ts';
import { ITEM_KINDS, type UnitsByKind } from './simulated-aws.ts';

/** Prices in USD, us-east-1, as listed in docs/prices.md (keep the two in step). */
export const PRICES = {
  checked: '2026-11-30',
  lambdaRequest: 0.2 / 1e6,
  lambdaArmGbSecond: 0.0000133334,
  dynamoWriteUnit: 0.625 / 1e6,
  dynamoReadUnit: 0.125 / 1e6,
  s3PutCopyPostList: 0.005 / 1000,
  s3GetSelect: 0.0004 / 1000,
  s3StorageGbMonth: 0.023,
  glueCatalogRequest: 1 / 1e6,
  flinkKpuHour: 0.11,
  flinkRunningStorageGbMonth: 0.1,
} as const;

export const LAMBDA_MEMORY_MB = 1024;
/** Lambda gives one full vCPU at 1,769 MB; below that, CPU-bound work runs proportionally slower. */
const FULL_VCPU_MB = 1769;
/** Managed Flink: running application storage that comes with each KPU. */
const FLINK_STORAGE_GB_PER_KPU = 50;
/**
 * Events per second one KPU keeps up with for these windowed Nexmark jobs: an assumption, not a
 * measurement (both rates then need one KPU plus the orchestration KPU, the smallest application).
 */
export const FLINK_EVENTS_PER_KPU_SECOND = 10_000;
const HOURS_PER_MONTH = 730;
/** A group's epoch in a steady state (months of commits), for the LISTs of a data-file sweep. */
const STEADY_EPOCH = 1_000_500;
const MAX_BATCH_RECORDS = 10_000;
const MAX_BATCH_BYTES = 6 * 1024 * 1024;
/** JSON bytes of one generated bid in a Lambda Kafka event (base64 value, record envelope). */
const EVENT_BYTES_PER_RECORD = 400;

export const COST_RATES = [
  { eventsPerSec: 1_000, partitions: 4 },
  { eventsPerSec: 10_000, partitions: 16 },
] as const;
export const COST_WINDOWS_MS = [500, 1_000, 5_000, 30_000] as const;
export const COST_EXCLUDED =
  'Excluded from both: MSK (brokers, storage, transfer) and the event source mapping pollers; also CloudWatch and data transfer.';

export interface CostRow {
  readonly example: string;
  readonly eventsPerSec: number;
  readonly partitions: number;
  readonly batchingWindowMs: number;
  readonly batchSize: number;
  /** The processors' publish interval, model ms (0: every commit publishes). */
  readonly publishIntervalMs: number;
  /** Publish rounds that ran (the final flush included). */
  readonly rounds: number;
  readonly usdPerMillionEvents: number;
  readonly managedFlinkUsdPerMillionEvents: number;
  /** USD per million events by service. */
  readonly breakdown: {
    readonly lambda: number;
    readonly dynamodb: number;
    readonly s3Requests: number;
    readonly s3Storage: number;
    readonly catalog: number;
  };
  readonly invocationsPerMillion: number;
  /**
   * DynamoDB write and read units per invocation, by what the item holds (group heads, log
   * heads, the consumer lease, the committer, log segments and state objects kept as items):
   * where the DynamoDB share of the bill goes.
   */
  readonly dynamoUnitsPerInvocation: UnitsByKind;
  readonly s3PutsPerMillion: number;
  readonly billedMsPerInvocation: number;
  readonly records: number;
  readonly failedInvocations: number;
  readonly headConflicts: number;
  readonly catalogConflicts: number;
}

export interface CostOptions {
  readonly examples: readonly ExampleName[];
  readonly timeScale: number;
  /** Records a run may process at most (whole batch rounds, at least 2 batches per partition). */
  readonly maxRecords: number;
  /** With partition logs (jobs whose windows merge partitions): the processor's consumeIntervalMs. @default 0 */
  readonly consumeIntervalMs?: number;
  /** The processors' maxInlineStateChars. @default the processor's */
  readonly maxInlineStateChars?: number;
  /** The processors' publish intervals (model ms): one run of each point per value. */
  readonly publishIntervals: readonly number[];
}

export async function runCost(
  options: CostOptions,
  log: (text: string) => void,
  emit: (row: CostRow) => void,
): Promise<CostRow[]> {
  const rows: CostRow[] = [];
  for (const example of options.examples) {
    for (const { eventsPerSec, partitions } of COST_RATES) {
      for (const windowMs of COST_WINDOWS_MS) {
        for (const publishIntervalMs of options.publishIntervals) {
          const perPartition = eventsPerSec / partitions;
          const batchSize = Math.max(
            1,
            Math.min(
              MAX_BATCH_RECORDS,
              Math.floor(MAX_BATCH_BYTES / EVENT_BYTES_PER_RECORD),
              Math.floor((perPartition * windowMs) / 1000),
            ),
          );
          const intervalModelMs = (batchSize / perPartition) * 1000;
          // As many batches per partition as a group commits between two cleanups, where the
          // record cap allows: then each group runs its one cleanup as in a steady state.
          const batches = Math.max(
            2,
            Math.min(DEFAULT_CLEANUP_EVERY, Math.floor(options.maxRecords / (partitions * batchSize))),
          );
          const started = performance.now();
          const result = await runFleet({
            example,
            partitions,
            batchesPerPartition: batches,
            batchSize,
            eventsPerSecond: eventsPerSec,
            intervalModelMs,
            sim: { timeScale: options.timeScale },
            check: false,
            publishIntervalMs,
            consumeIntervalMs: options.consumeIntervalMs ?? 0,
            ...(options.maxInlineStateChars === undefined
              ? {}
              : { maxInlineStateChars: options.maxInlineStateChars }),
            // Fewer batches than that: one cleanup of every group at the end, so that the run
            // still pays for its LISTs and for deleting what it wrote (over-counting the LISTs).
            finalCleanup: batches < DEFAULT_CLEANUP_EVERY,
            countDataFileSweep: true,
          });
          const row = price(
            example,
            eventsPerSec,
            partitions,
            windowMs,
            batchSize,
            publishIntervalMs,
            result,
          );
          rows.push(row);
          emit(row);
          log(
            `  ${example} ${eventsPerSec.toLocaleString('en')} ev/s on ${partitions}, window ${windowMs / 1000} s (batch ${batchSize}), publish every ${publishIntervalMs} ms: $${row.usdPerMillionEvents.toFixed(4)} per million events (Managed Flink $${row.managedFlinkUsdPerMillionEvents.toFixed(4)}), ${((performance.now() - started) / 1000).toFixed(1)} s`,
          );
        }
      }
    }
  }
  return rows;
}

function price(
  example: string,
  eventsPerSec: number,
  partitions: number,
  batchingWindowMs: number,
  batchSize: number,
  publishIntervalMs: number,
  r: Awaited<ReturnType<typeof runFleet>>,
): CostRow {
  const perMillion = 1e6 / r.records;
  const ops = r.requests.operations;
  const count = (names: string[]) => names.reduce((sum, name) => sum + (ops[name]?.requests ?? 0), 0);
  // S3's own requests, as the simulated services counted them: small checkpoint objects are
  // DynamoDB items there (as on AWS), billed in r.usage's write and read units instead.
  // Each group sweeps its data files every DATA_FILE_SWEEP_EVERY-th cleanup: the run's commits'
  // share of that, from one counted sweep of every group.
  // A sweep lists one prefix a table at the run's low epochs, two (rarely three) in a steady state.
  const groups = r.scope === 'partition' ? r.partitions : 1;
  const commitsPerGroup = r.commits / groups;
  const sweeps = commitsPerGroup / (DEFAULT_CLEANUP_EVERY * DATA_FILE_SWEEP_EVERY);
  const steadyPrefixes =
    recentDataFilePrefixes('', STEADY_EPOCH).length /
    recentDataFilePrefixes('', Math.ceil(commitsPerGroup)).length;
  const putsAndLists = r.usage.s3PutRequests + r.dataFileSweepLists * steadyPrefixes * sweeps;
  const gets = r.usage.s3GetRequests;
  const catalogRequests = count([
    'catalog.currentMetadataLocation',
    'catalog.compareAndSwap',
    'catalog.listTables',
  ]);
  const cpuSlowdown = Math.max(1, FULL_VCPU_MB / LAMBDA_MEMORY_MB);
  const ioMs = r.ioModelMs.reduce((a, b) => a + b, 0);
  const billedMs = ioMs + r.cpuMs * cpuSlowdown;
  const lambda =
    r.invocations * PRICES.lambdaRequest +
    (billedMs / 1000) * (LAMBDA_MEMORY_MB / 1024) * PRICES.lambdaArmGbSecond;
  const dynamodb =
    r.usage.dynamoWriteUnits * PRICES.dynamoWriteUnit + r.usage.dynamoReadUnits * PRICES.dynamoReadUnit;
  const s3Requests = putsAndLists * PRICES.s3PutCopyPostList + gets * PRICES.s3GetSelect;
  const s3Storage = (r.warehouseBytes / 1024 ** 3) * PRICES.s3StorageGbMonth;
  const catalog = catalogRequests * PRICES.glueCatalogRequest;
  const breakdown = {
    lambda: lambda * perMillion,
    dynamodb: dynamodb * perMillion,
    s3Requests: s3Requests * perMillion,
    s3Storage: s3Storage * perMillion,
    catalog: catalog * perMillion,
  };
  return {
    example,
    eventsPerSec,
    partitions,
    batchingWindowMs,
    batchSize,
    publishIntervalMs,
    rounds: r.rounds,
    usdPerMillionEvents: Object.values(breakdown).reduce((a, b) => a + b, 0),
    managedFlinkUsdPerMillionEvents: managedFlinkPerMillion(eventsPerSec),
    breakdown,
    invocationsPerMillion: r.invocations * perMillion,
    dynamoUnitsPerInvocation: perInvocation(r.usage.dynamoUnitsByKind, r.invocations),
    s3PutsPerMillion: putsAndLists * perMillion,
    billedMsPerInvocation: billedMs / Math.max(1, r.invocations),
    records: r.records,
    failedInvocations: r.failedInvocations,
    headConflicts: r.conflicts.headConflicts,
    catalogConflicts: r.conflicts.catalogConflicts,
  };
}

function perInvocation(units: UnitsByKind, invocations: number): UnitsByKind {
  const per = (n: number) => Math.round((n / Math.max(1, invocations)) * 100) / 100;
  return Object.fromEntries(
    ITEM_KINDS.map((kind) => [kind, { write: per(units[kind].write), read: per(units[kind].read) }]),
  ) as UnitsByKind;
}

/** Managed Flink at a steady rate: KPUs for the load plus one orchestration KPU, and their storage. */
export function managedFlinkPerMillion(eventsPerSec: number): number {
  const kpus = Math.max(1, Math.ceil(eventsPerSec / FLINK_EVENTS_PER_KPU_SECOND));
  const perHour =
    (kpus + 1) * PRICES.flinkKpuHour +
    (kpus * FLINK_STORAGE_GB_PER_KPU * PRICES.flinkRunningStorageGbMonth) / HOURS_PER_MONTH;
  return (perHour / (eventsPerSec * 3600)) * 1e6;
}

/** DynamoDB write / read units per invocation by item kind, one line per cost point. */
export function unitsTable(rows: readonly CostRow[]): string {
  const kinds = ITEM_KINDS.filter((kind) =>
    rows.some((r) => r.dynamoUnitsPerInvocation[kind].write + r.dynamoUnitsPerInvocation[kind].read > 0),
  );
  const header = ['example', 'ev/s', 'P', 'window', ...kinds.map((kind) => `${kind} W/R`)];
  const body = rows.map((r) => [
    r.example,
    r.eventsPerSec.toLocaleString('en'),
    String(r.partitions),
    `${r.batchingWindowMs / 1000} s`,
    ...kinds.map((kind) => {
      const u = r.dynamoUnitsPerInvocation[kind];
      return `${u.write.toFixed(2)} / ${u.read.toFixed(2)}`;
    }),
  ]);
  return alignColumns([header, ...body]);
}

export function costTable(rows: readonly CostRow[]): string {
  const header = [
    'example',
    'ev/s',
    'P',
    'window',
    'batch',
    'publish ms',
    '$/M events',
    'Lambda',
    'DynamoDB',
    'S3 req',
    'S3 store',
    'catalog',
    'S3 PUT/M',
    'inv/M',
    'billed ms/inv',
    'Managed Flink $/M',
  ];
  const usd = (v: number) => v.toFixed(4);
  const body = rows.map((r) => [
    r.example,
    r.eventsPerSec.toLocaleString('en'),
    String(r.partitions),
    `${r.batchingWindowMs / 1000} s`,
    r.batchSize.toLocaleString('en'),
    String(r.publishIntervalMs),
    usd(r.usdPerMillionEvents),
    usd(r.breakdown.lambda),
    usd(r.breakdown.dynamodb),
    usd(r.breakdown.s3Requests),
    usd(r.breakdown.s3Storage),
    usd(r.breakdown.catalog),
    Math.round(r.s3PutsPerMillion).toLocaleString('en'),
    Math.round(r.invocationsPerMillion).toLocaleString('en'),
    r.billedMsPerInvocation.toFixed(0),
    usd(r.managedFlinkUsdPerMillionEvents),
  ]);
  return alignColumns([header, ...body]);
}

function alignColumns(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}
