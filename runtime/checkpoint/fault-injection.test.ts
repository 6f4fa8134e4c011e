/**
 * The commit protocol under the fault model of docs/design.md ("Crash and fault analysis"), call by call.
 *
 * For each workload, a clean run first counts the I/O calls K it makes over the four stores
 * (heads, checkpoints, warehouse, catalog). Then, for the chosen crash points k in 1..K:
 * - crashBefore k / lostResponse k: a processor runs over faulty stores until call k kills the
 *   process (before the call, or after it was performed and its answer lost). Calls in flight
 *   land. A new processor (cold cache, clean stores, same directory) then gets every event again
 *   from the first, as Lambda redelivers and the runner resumes, and drains;
 * - failOnce k / lostOnce k: call k fails transiently (not performed, or performed with its
 *   answer lost) and the same processor retries in process.
 * Every run must leave exactly the clean run's tables (each table as a multiset of rows, so no
 * row lost and none duplicated), the rows the brute-force reference gives, and committed state
 * that counts every record once.
 *
 * Coverage (each sweep about 5 s; the file about 40 s): the crash points are the first call of
 * every distinct transition between two kinds of call (for example "checkpoint manifest put,
 * then head put", "catalog read, then table metadata put" of a table's creation, "state list,
 * then data file list" of a cleanup), plus every STRIDE-th call. That is 40-45 of K = 150-230
 * calls per workload; crashBefore at each, lostResponse at each write (a lost answer to a read
 * is a crash before the next call), failOnce at each, lostOnce at each write. Cleanup runs every
 * second commit, so its reads and deletes are crash points too. FLOE_FAULT_SWEEP=all sweeps
 * every k in 1..K instead (about 3 minutes).
 *
 * With partition groups (bids-per-auction) the three groups of an event commit concurrently, so
 * the order of their calls varies from run to run even with the stores serialised: call k may be
 * a different step than in the clean run, but it is still a crash point of the run it kills, and
 * points follow kinds of call rather than transitions (neighbouring calls belong to different
 * groups).
 */
import { describe, expect, it } from 'vitest';
import { localCheckpointStores } from '../../adapters/local/run-directory.ts';
import type { ExampleName } from '../../examples/index.ts';
import {
  duplicates,
  expectedRowsTable,
  processorFor,
  runToEnd,
  tableNamesOf,
  tablesOf,
  tempRunDir,
  type Workload,
  workload,
} from '../../test/support/checkpoint-runs.ts';
import { type Fault, faultyStores, type OpRecord, SimulatedCrash } from '../../test/support/faulty-stores.ts';

/** Every STRIDE-th call is a crash point too. */
const STRIDE = 12;
/** FLOE_FAULT_SWEEP=all makes every call 1..K a crash point (minutes instead of seconds). */
const EVERY_CALL = process.env.FLOE_FAULT_SWEEP === 'all';
/** Cleanup runs after every second commit, so crashes also hit its reads and deletes. */
const OPTIONS = { keepCheckpoints: 4 };
/** Fault runs in flight at once (each in its own run directory). */
const POOL = 4;

interface Case {
  readonly name: ExampleName;
  readonly why: string;
  readonly workload: Workload;
  /**
   * The groups of an event commit concurrently, so neighbouring calls belong to different
   * groups: crash points follow each kind of step rather than each transition between two.
   */
  readonly concurrentGroups: boolean;
}

const CASES: readonly Case[] = [
  {
    name: 'bids-per-auction',
    why: 'one commit group per partition, with late records and a dead letter',
    workload: workload({ count: 150, batchSize: 50, maxDisorderMs: 20_000, malformedAt: 60 }),
    concurrentGroups: true,
  },
  {
    name: 'channel-revenue',
    why: 'one job group (keys spanning partitions)',
    workload: workload(),
    concurrentGroups: false,
  },
  {
    name: 'bidder-sessions',
    why: 'one job group, sessions merged across partitions',
    workload: workload(),
    concurrentGroups: false,
  },
];

type Tables = Record<string, string[]>;

interface Clean {
  readonly tables: Tables;
  readonly log: readonly OpRecord[];
}

async function cleanRun(c: Case): Promise<Clean> {
  const dir = tempRunDir();
  const faulty = faultyStores(localCheckpointStores(dir), { serial: true });
  await runToEnd(processorFor(c.name, faulty.stores, c.workload, OPTIONS), c.workload.events);
  return { tables: await tablesOf(dir), log: faulty.log };
}

/** What a call does, without the names that change from run to run: `checkpoints.put:state`. */
function stepOf(call: OpRecord): string {
  const { store, op, key } = call;
  let what = '';
  if (store === 'heads') what = 'head';
  else if (store === 'catalog') what = '';
  else if (op === 'list') what = key.includes('/data/') ? 'data-files' : key;
  else if (key.includes('/state/')) what = 'state';
  else if (key.includes('/manifests/')) what = 'checkpoint';
  else if (key.endsWith('.parquet')) what = 'data-file';
  else if (key.endsWith('.metadata.json')) what = 'table-metadata';
  else if (key.includes('/snap-')) what = 'manifest-list';
  else if (key.endsWith('-m0.avro')) what = 'table-manifest';
  return `${store}.${op}:${what.replace(/\d{12}-[0-9a-z]{16}/g, '*')}`;
}

const isWrite = (call: OpRecord) => call.op === 'put' || call.op === 'delete' || call.op === 'swap';

/**
 * The crash points: the first occurrence of every distinct transition between two kinds of call
 * (of every kind of call when groups interleave), and every STRIDE-th call.
 */
function crashPoints(log: readonly OpRecord[], c: Case): OpRecord[] {
  const steps = log.map(stepOf);
  const first = new Map<string, number>();
  steps.forEach((step, i) => {
    const transition = c.concurrentGroups ? step : `${steps[i - 1] ?? 'start'} > ${step}`;
    if (!first.has(transition)) first.set(transition, i);
  });
  const chosen = new Set(first.values());
  for (let i = EVERY_CALL ? 0 : STRIDE - 1; i < log.length; i += EVERY_CALL ? 1 : STRIDE) chosen.add(i);
  return [...chosen].sort((a, b) => a - b).map((i) => log[i]!);
}

/** The first difference between two sets of tables, or undefined when they are equal. */
function difference(expected: Tables, actual: Tables): string | undefined {
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

function causedBy(error: unknown, type: new (...args: never[]) => Error): boolean {
  for (let e: unknown = error; e instanceof Error; e = (e as Error).cause) if (e instanceof type) return true;
  return false;
}

/** Runs with the fault, restarts if it killed the process; returns what went wrong, if anything. */
async function faultRun(c: Case, clean: Clean, fault: Fault): Promise<string | undefined | 'not reached'> {
  const dir = tempRunDir();
  const faulty = faultyStores(localCheckpointStores(dir), { fault, serial: true });
  const fatal = 'crashBefore' in fault || 'lostResponse' in fault;
  // A dying process does not retry; one with a transient failure retries in process.
  const first = processorFor(
    c.name,
    faulty.stores,
    c.workload,
    fatal ? { ...OPTIONS, maxAttempts: 1 } : OPTIONS,
  );
  try {
    await runToEnd(first, c.workload.events);
  } catch (error) {
    if (!fatal || !causedBy(error, SimulatedCrash)) {
      return `the run failed: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
  await faulty.settled();
  if (!faulty.injected) return 'not reached'; // this run made fewer calls than the clean one
  if (fatal) {
    // Restart: a new process, cold, over the same directory; the event source redelivers everything.
    const restarted = processorFor(c.name, localCheckpointStores(dir), c.workload, OPTIONS);
    try {
      await runToEnd(restarted, c.workload.events);
    } catch (error) {
      return `the restart failed: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
  const diff = difference(clean.tables, await tablesOf(dir));
  if (diff !== undefined) return diff;
  const committed = await processorFor(c.name, localCheckpointStores(dir), c.workload).committed();
  const records = c.workload.log.partitions.reduce((sum, p) => sum + p.length, 0);
  if (!committed.drained) return 'the committed state is not drained';
  if (committed.totals.records !== records) {
    return `the checkpoints count ${committed.totals.records} records, not ${records}`;
  }
  return undefined;
}

/** Runs every fault; returns the failures, and fails if too many faults were never reached. */
async function sweep(c: Case, clean: Clean, faults: readonly Fault[]): Promise<string[]> {
  const failures: string[] = [];
  let next = 0;
  let unreached = 0;
  const worker = async () => {
    while (next < faults.length) {
      const fault = faults[next++]!;
      const problem = await faultRun(c, clean, fault);
      if (problem === 'not reached') unreached++;
      else if (problem !== undefined) failures.push(`${JSON.stringify(fault)}: ${problem}`);
    }
  };
  await Promise.all(Array.from({ length: POOL }, worker));
  expect(faults.length).toBeGreaterThan(30);
  expect(unreached, 'faults whose call was never made').toBeLessThanOrEqual(faults.length * 0.05);
  return failures;
}

describe.each(CASES)('$name ($why) under injected faults', (c) => {
  let clean: Clean | undefined;
  const cleanOnce = async () => {
    clean ??= await cleanRun(c);
    return clean;
  };

  it('a clean run writes the reference rows, the late records and the dead letter', async () => {
    const { tables, log } = await cleanOnce();
    const names = tableNamesOf(c.name);
    expect(log.length).toBeGreaterThan(50);
    expect(tables[names.rows]).toEqual(expectedRowsTable(c.name, c.workload.bids, tables));
    if (c.name === 'bids-per-auction') {
      expect(tables[names.late]?.length).toBeGreaterThan(0);
      expect(tables[names.deadLetters]).toHaveLength(1);
    }
    for (const rows of Object.values(tables)) expect(duplicates(rows)).toEqual([]);
  });

  // A lost response to a read is a crash before the next call: only writes lose an answer that matters.
  it('a crash before a call, or after a write whose answer is lost, then a restart that gets every event again: same tables', async () => {
    const points = crashPoints((await cleanOnce()).log, c);
    const faults = points.flatMap((call): Fault[] =>
      isWrite(call) ? [{ crashBefore: call.n }, { lostResponse: call.n }] : [{ crashBefore: call.n }],
    );
    expect(await sweep(c, clean!, faults)).toEqual([]);
  });

  it('a transient failure of a call (not performed, or a write performed with its answer lost), retried in process: same tables', async () => {
    const points = crashPoints((await cleanOnce()).log, c);
    const faults = points.flatMap((call): Fault[] =>
      isWrite(call) ? [{ failOnce: call.n }, { lostOnce: call.n }] : [{ failOnce: call.n }],
    );
    expect(await sweep(c, clean!, faults)).toEqual([]);
  });
});
