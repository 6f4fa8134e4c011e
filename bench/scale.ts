/**
 * `npm run bench -- --scale [--partitions 1,4,16,64,256] [--batches 20] [--max-batches 2560]
 * [--time-scale 0.5] [--wall-cap 90] [--only NAME] [--json]`
 *
 * Today's commit protocol at 1 to 256 concurrent invocations, one per partition, on simulated AWS
 * stores (bench/simulated-aws.ts, bench/fleet.ts): for a partition-scope example (bids-per-auction:
 * a head per partition, all partitions appending to one table) and a job-scope example (max-price:
 * one head for every partition). Each partition processes its first `--batches` batches of 100
 * records in order (fewer when partitions × batches would exceed `--max-batches`; at least 4);
 * the throughput is in model time. Progress goes to stderr, also with --json. After each run every group is drained and the
 * tables are compared with the brute-force reference (exactly once).
 */
import { EXAMPLE_JOBS, type ExampleName } from '../examples/index.ts';
import { type FleetResult, percentile, runFleet } from './fleet.ts';

export const SCALE_EXAMPLES: readonly ExampleName[] = ['bids-per-auction', 'max-price'];

/** The widest topic the shared-head comparison runs on (see runScale). */
const SHARED_HEAD_MAX_PARTITIONS = 64;

/**
 * What runs per example: a job whose windows merge partitions runs with partition logs (the
 * Lambda handler's default) and, for comparison in the same run, through one shared head.
 */
export function scaleVariants(
  examples: readonly ExampleName[],
): { example: ExampleName; partitionLogs: boolean }[] {
  return examples.flatMap((example) =>
    EXAMPLE_JOBS[example].plan.scope === 'job'
      ? [
          { example, partitionLogs: true },
          { example, partitionLogs: false },
        ]
      : [{ example, partitionLogs: false }],
  );
}

export interface ScaleOptions {
  readonly examples: readonly ExampleName[];
  readonly partitions: readonly number[];
  readonly batches: number;
  /** Batches of one run at most: with many partitions each gets fewer (at least 4). */
  readonly maxBatches: number;
  readonly timeScale: number;
  readonly wallCapMs: number;
  /** The processors' publish intervals (model ms): one run of each example and P per value. */
  readonly publishIntervals: readonly number[];
}

export interface ScaleRow {
  readonly example: string;
  readonly scope: 'partition' | 'job';
  /** How batches commit: per partition group, through partition logs, or through one shared head. */
  readonly commit: FleetResult['commit'];
  readonly partitions: number;
  /** The processors' publish interval, model ms (0: every commit publishes). */
  readonly publishIntervalMs: number;
  /** Publish rounds that ran (the final flush included). */
  readonly rounds: number;
  readonly records: number;
  readonly batches: number;
  readonly skippedBatches: number;
  readonly recordsPerSec: number;
  readonly linearRatio: number;
  readonly commits: number;
  readonly redoneBatches: number;
  /** Partition logs: the job group's consume rounds, and those redone after losing a race. */
  readonly consumeRounds: number;
  readonly redoneRounds: number;
  /** Head CAS failures + catalog CAS failures. */
  readonly conflicts: number;
  readonly headConflicts: number;
  readonly catalogConflicts: number;
  readonly throttles: number;
  readonly failedInvocations: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Requests per batch, from the request meter. */
  readonly requestsPerBatch: number;
  /** Process CPU ÷ (wall × 2 cores): near 1, this machine, not the design, bounds the figure. */
  readonly cpuLoad: number;
  readonly wallSec: number;
  readonly exactlyOnce: boolean;
  readonly expectedRows: number;
}

export async function runScale(
  options: ScaleOptions,
  log: (text: string) => void,
  emit: (row: ScaleRow) => void,
): Promise<ScaleRow[]> {
  const rows: ScaleRow[] = [];
  for (const { example, partitionLogs } of scaleVariants(options.examples)) {
    for (const publishIntervalMs of options.publishIntervals) {
      let single: number | undefined;
      for (const partitions of options.partitions) {
        if (
          !partitionLogs &&
          EXAMPLE_JOBS[example].plan.scope === 'job' &&
          partitions > SHARED_HEAD_MAX_PARTITIONS
        ) {
          log(
            `  ${example} (shared head) P=${partitions}: skipped; above ${SHARED_HEAD_MAX_PARTITIONS} partitions the shared head's retries reload state in every container at once and the simulation runs out of memory (22 GB at 256)`,
          );
          continue;
        }
        const mode =
          EXAMPLE_JOBS[example].plan.scope === 'job' ? (partitionLogs ? ' (logs)' : ' (shared head)') : '';
        const label = `  ${example}${mode} P=${partitions} publish every ${publishIntervalMs} ms`;
        let last = 0;
        const result = await runFleet({
          example,
          partitionLogs,
          partitions,
          publishIntervalMs,
          batchesPerPartition: Math.min(
            options.batches,
            Math.max(4, Math.floor(options.maxBatches / partitions)),
          ),
          sim: { timeScale: options.timeScale },
          wallCapMs: options.wallCapMs,
          onProgress: (done, total) => {
            const now = performance.now();
            if (now - last > 5_000 || done === total) {
              last = now;
              log(`${label}: ${done}/${total} batches${done === total ? ', draining and checking' : ''}`);
            }
          },
        });
        const row = toRow(result, single, publishIntervalMs);
        single ??= partitions === 1 ? row.recordsPerSec : undefined;
        rows.push(row);
        emit(row);
        log(
          `${label}: ${Math.round(row.recordsPerSec).toLocaleString('en')} rec/s (model), linear ${row.linearRatio.toFixed(2)}, exactly once ${row.exactlyOnce ? 'ok' : 'FAILED'}, ${row.wallSec.toFixed(1)} s wall`,
        );
      }
    }
  }
  return rows;
}

function toRow(r: FleetResult, single: number | undefined, publishIntervalMs: number): ScaleRow {
  // Only what the job group consumed counts: with partition logs, records still in a log are not done.
  const recordsPerSec = r.consumedRecords / (r.makespanModelMs / 1000);
  const { headConflicts, catalogConflicts, throttles } = r.conflicts;
  return {
    example: r.example,
    scope: r.scope,
    commit: r.commit,
    partitions: r.partitions,
    publishIntervalMs,
    rounds: r.rounds,
    records: r.records,
    batches: r.batches,
    skippedBatches: r.skippedBatches,
    recordsPerSec,
    linearRatio: r.partitions === 1 ? 1 : recordsPerSec / (r.partitions * (single ?? Number.NaN)),
    commits: r.commits,
    redoneBatches: r.redoneBatches,
    consumeRounds: r.consumeRounds,
    redoneRounds: r.redoneRounds,
    conflicts: headConflicts + catalogConflicts,
    headConflicts,
    catalogConflicts,
    throttles,
    failedInvocations: r.failedInvocations,
    p50Ms: percentile(r.invocationModelMs, 50),
    p99Ms: percentile(r.invocationModelMs, 99),
    requestsPerBatch: r.requests.requests / Math.max(1, r.batches),
    cpuLoad: r.cpuLoad,
    wallSec: r.wallMs / 1000,
    exactlyOnce: r.check?.ok ?? false,
    expectedRows: r.check?.expectedRows ?? 0,
  };
}

export function scaleTable(rows: readonly ScaleRow[]): string {
  const header = [
    'example',
    'commits through',
    'P',
    'publish ms',
    'rounds',
    'batches',
    'rec/s (model)',
    'linear',
    'commits',
    'redone',
    'rounds (redone)',
    'head CAS fail',
    'table CAS fail',
    'failed inv.',
    'p50 ms',
    'p99 ms',
    'req/batch',
    'cpu load',
    'exactly once',
  ];
  const body = rows.map((r) => [
    r.example,
    r.commit,
    String(r.partitions),
    String(r.publishIntervalMs),
    String(r.rounds),
    r.skippedBatches > 0 ? `${r.batches} (+${r.skippedBatches} cut)` : String(r.batches),
    Math.round(r.recordsPerSec).toLocaleString('en'),
    r.linearRatio.toFixed(2),
    String(r.commits),
    String(r.redoneBatches),
    r.commit === 'partition logs' ? `${r.consumeRounds} (${r.redoneRounds})` : '-',
    String(r.headConflicts),
    String(r.catalogConflicts),
    String(r.failedInvocations),
    Math.round(r.p50Ms).toLocaleString('en'),
    Math.round(r.p99Ms).toLocaleString('en'),
    r.requestsPerBatch.toFixed(1),
    r.cpuLoad.toFixed(2),
    r.exactlyOnce ? `ok (${r.expectedRows} rows)` : 'FAILED',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  return [header, ...body].map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}
