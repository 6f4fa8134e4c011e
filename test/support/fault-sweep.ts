/**
 * Crash-point sweeps of the commit protocol (docs/design.md, "Crash and fault analysis") over
 * any stores: runtime/checkpoint/fault-injection.test.ts runs them on the local stores,
 * adapters/aws/protocol-faults.test.ts on the AWS ones (DynamoDB and S3 servers).
 *
 * A counted clean run numbers the I/O calls over the four stores (faulty-stores.ts, serialised).
 * Then each fault gets its own fresh location: a processor runs over faulty stores until the
 * fault; a fatal one (crashBefore, lostResponse) kills the process, its calls in flight land, and
 * a new processor over stores opened again gets every event from the first and drains; a
 * transient one (failOnce, lostOnce) is retried in process. The tables must then equal the
 * clean run's (no row lost, none twice), and the committed state must be drained and count
 * every record once.
 */
import { expect } from 'vitest';
import type { ExampleName } from '../../examples/index.ts';
import type { CheckpointedProcessorOptions } from '../../runtime/checkpoint/checkpointed-processor.ts';
import { duplicates, processorFor, runToEnd, tablesOf, type Workload } from './checkpoint-runs.ts';
import { type Fault, faultyStores, type OpRecord, SimulatedCrash } from './faulty-stores.ts';
import type { StoreFactory } from './store-locations.ts';

export interface SweepCase {
  readonly name: ExampleName;
  readonly workload: Workload;
  /**
   * The groups of an event commit concurrently, so neighbouring calls belong to different
   * groups: crash points follow each kind of step rather than each transition between two.
   */
  readonly concurrentGroups: boolean;
  /** The processor's options in every run (e.g. keepCheckpoints, so that cleanup runs too). */
  readonly options?: Partial<CheckpointedProcessorOptions>;
}

export type Tables = Record<string, string[]>;

export interface CountedRun {
  readonly tables: Tables;
  /** Every call of the run, numbered as the fault runs number theirs. */
  readonly log: readonly OpRecord[];
}

/** A clean run on a fresh location of `stores`, its calls counted and serialised. */
export async function countedRun(c: SweepCase, stores: StoreFactory): Promise<CountedRun> {
  const location = await stores();
  const faulty = faultyStores(location.open(), { serial: true });
  await runToEnd(processorFor(c.name, faulty.stores, c.workload, c.options), c.workload.events);
  return { tables: await tablesOf(location.open()), log: faulty.log };
}

/** What a call does, without the names that change from run to run: `checkpoints.put:state`. */
export function stepOf(call: OpRecord): string {
  const { store, op, key } = call;
  let what = '';
  if (store === 'heads')
    what = key.includes('/logs/')
      ? 'log-head'
      : key.includes('/leases/')
        ? 'lease'
        : key.endsWith('/committer')
          ? 'committer'
          : 'head';
  else if (store === 'catalog') what = '';
  else if (key.includes('/partition-logs/')) what = 'log-segment';
  else if (op === 'list') what = key.includes('/data/') ? 'data-files' : key;
  else if (key.includes('/state/')) what = 'state';
  else if (key.includes('/manifests/')) what = 'checkpoint';
  else if (key.endsWith('.parquet')) what = 'data-file';
  else if (key.endsWith('.metadata.json')) what = 'table-metadata';
  else if (key.includes('/snap-')) what = 'manifest-list';
  else if (key.endsWith('-m0.avro')) what = 'table-manifest';
  return `${store}.${op}:${what.replace(/\d{12}-[0-9a-z]{16}/g, '*')}`;
}

export const isWrite = (call: OpRecord) => call.op === 'put' || call.op === 'delete' || call.op === 'swap';

export interface CrashPointOptions {
  /**
   * `transitions`: the first call of every distinct transition between two kinds of call;
   * `steps`: the first call of every distinct kind of call (always so with concurrent groups).
   */
  readonly follow: 'transitions' | 'steps';
  /** Every stride-th call is a crash point too (1: every call; 0: none). */
  readonly stride: number;
  /** The kind of a call. @default {@link stepOf} */
  readonly kindOf?: (call: OpRecord) => string;
}

/** The crash points of a counted run's log. */
export function crashPoints(log: readonly OpRecord[], c: SweepCase, options: CrashPointOptions): OpRecord[] {
  const steps = log.map(options.kindOf ?? stepOf);
  const first = new Map<string, number>();
  const byStep = c.concurrentGroups || options.follow === 'steps';
  steps.forEach((step, i) => {
    const transition = byStep ? step : `${steps[i - 1] ?? 'start'} > ${step}`;
    if (!first.has(transition)) first.set(transition, i);
  });
  const chosen = new Set(first.values());
  if (options.stride > 0) for (let i = options.stride - 1; i < log.length; i += options.stride) chosen.add(i);
  return [...chosen].sort((a, b) => a - b).map((i) => log[i]!);
}

/** The first difference between two sets of tables, or undefined when they are equal. */
export function difference(expected: Tables, actual: Tables): string | undefined {
  const names = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort();
  for (const name of names) {
    const want = expected[name] ?? [];
    const got = actual[name] ?? [];
    const dup = duplicates(got);
    if (dup.length > 0) return `${name}: duplicate rows ${dup.slice(0, 2).join(' ')}`;
    const missing = want.filter((row) => !got.includes(row));
    const extra = got.filter((row) => !want.includes(row));
    if (missing.length > 0 || extra.length > 0 || want.length !== got.length) {
      return `${name}: ${got.length} rows instead of ${want.length}; missing ${missing.slice(0, 2).join(' ')}; extra ${extra.slice(0, 2).join(' ')}`;
    }
  }
  return undefined;
}

export function causedBy(error: unknown, type: new (...args: never[]) => Error): boolean {
  for (let e: unknown = error; e instanceof Error; e = (e as Error).cause) if (e instanceof type) return true;
  return false;
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Runs with the fault on a fresh location, restarts if it killed the process; returns what went
 * wrong, if anything, or 'not reached' when the run made fewer calls than the counted one.
 */
export async function faultRun(
  c: SweepCase,
  expected: Tables,
  fault: Fault,
  stores: StoreFactory,
): Promise<string | undefined | 'not reached'> {
  const location = await stores();
  const faulty = faultyStores(location.open(), { fault, serial: true });
  const fatal = 'crashBefore' in fault || 'lostResponse' in fault;
  // A dying process does not retry; one with a transient failure retries in process.
  const options = c.options ?? {};
  const first = processorFor(
    c.name,
    faulty.stores,
    c.workload,
    fatal ? { ...options, maxAttempts: 1 } : options,
  );
  try {
    await runToEnd(first, c.workload.events);
  } catch (error) {
    if (!fatal || !causedBy(error, SimulatedCrash)) return `the run failed: ${message(error)}`;
  }
  await faulty.settled();
  if (!faulty.injected) return 'not reached';
  if (fatal) {
    // Restart: a new process, cold, over the same stores; the event source redelivers everything.
    const restarted = processorFor(c.name, location.open(), c.workload, options);
    try {
      await runToEnd(restarted, c.workload.events);
    } catch (error) {
      return `the restart failed: ${message(error)}`;
    }
  }
  const diff = difference(expected, await tablesOf(location.open()));
  if (diff !== undefined) return `${diff} (in ${location.label})`;
  const committed = await processorFor(c.name, location.open(), c.workload).committed();
  const records = c.workload.log.partitions.reduce((sum, p) => sum + p.length, 0);
  if (!committed.drained) return 'the committed state is not drained';
  if (committed.totals.records !== records) {
    return `the checkpoints count ${committed.totals.records} records, not ${records}`;
  }
  return undefined;
}

export interface SweepOptions {
  /** Fault runs in flight at once, each on its own location. */
  readonly pool: number;
  /** The sweep must have more faults than this (a guard against an empty selection). */
  readonly moreThan: number;
}

/** Runs every fault; returns the failures, and fails if too many faults were never reached. */
export async function sweep(
  c: SweepCase,
  expected: Tables,
  faults: readonly Fault[],
  stores: StoreFactory,
  options: SweepOptions,
): Promise<string[]> {
  return sweepWith(faults, (fault) => faultRun(c, expected, fault, stores), options);
}

/**
 * Runs `run` for every fault, `pool` at a time; returns the failures (`run`'s answers other than
 * undefined and 'not reached'), and fails if too many faults were never reached.
 */
export async function sweepWith(
  faults: readonly Fault[],
  run: (fault: Fault) => Promise<string | undefined>,
  options: SweepOptions,
): Promise<string[]> {
  const failures: string[] = [];
  let next = 0;
  let unreached = 0;
  const worker = async () => {
    while (next < faults.length) {
      const fault = faults[next++]!;
      const problem = await run(fault);
      if (problem === 'not reached') unreached++;
      else if (problem !== undefined) failures.push(`${JSON.stringify(fault)}: ${problem}`);
    }
  };
  await Promise.all(Array.from({ length: options.pool }, worker));
  expect(faults.length).toBeGreaterThan(options.moreThan);
  expect(unreached, 'faults whose call was never made').toBeLessThanOrEqual(faults.length * 0.05);
  return failures;
}
