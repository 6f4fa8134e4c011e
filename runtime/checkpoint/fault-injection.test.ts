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
 * Small state is in the manifest by default (docs/design.md, "State in the manifest"), so most
 * cases write no state object; one case keeps its state in objects, and one moves it from the
 * manifest to objects and back.
 *
 * With partition groups (bids-per-auction) the three groups of an event commit concurrently, so
 * the order of their calls varies from run to run even with the stores serialised: call k may be
 * a different step than in the clean run, but it is still a crash point of the run it kills, and
 * points follow kinds of call rather than transitions (neighbouring calls belong to different
 * groups).
 */
import { describe, expect, it } from 'vitest';
import { duplicates, expectedRowsTable, tableNamesOf, workload } from '../../test/support/checkpoint-runs.ts';
import {
  type CountedRun,
  countedRun,
  crashPoints,
  isWrite,
  type SweepCase,
  sweep,
} from '../../test/support/fault-sweep.ts';
import type { Fault } from '../../test/support/faulty-stores.ts';
import { localStoreFactory } from '../../test/support/store-locations.ts';

/** Every STRIDE-th call is a crash point too. */
const STRIDE = 12;
/** FLOE_FAULT_SWEEP=all makes every call 1..K a crash point (minutes instead of seconds). */
const EVERY_CALL = process.env.FLOE_FAULT_SWEEP === 'all';
/** Cleanup runs after every second commit, so crashes also hit its reads and deletes. */
const OPTIONS = { keepCheckpoints: 4, cleanupEvery: 2 };
/** Fault runs in flight at once (each in its own run directory). */
const POOL = 4;

interface Case extends SweepCase {
  readonly why: string;
  /** The workload holds one malformed record, which must end in the dead-letter table. */
  readonly deadLetter?: boolean;
}

const CASES: readonly Case[] = [
  {
    name: 'bids-per-auction',
    why: 'one commit group per partition, with late records and a dead letter',
    workload: workload({ count: 150, batchSize: 50, maxDisorderMs: 20_000, malformedAt: 60 }),
    deadLetter: true,
    concurrentGroups: true,
    options: OPTIONS,
  },
  {
    name: 'channel-revenue',
    why: 'one job group (keys spanning partitions)',
    workload: workload(),
    concurrentGroups: false,
    options: OPTIONS,
  },
  {
    name: 'bidder-sessions',
    why: 'one job group, sessions merged across partitions',
    workload: workload(),
    concurrentGroups: false,
    options: OPTIONS,
  },
  {
    name: 'bidder-sessions',
    why: 'state in the manifest, in objects from the second batch, back in the manifest with the drain',
    workload: workload(),
    concurrentGroups: false,
    options: { ...OPTIONS, maxInlineStateChars: 1_000 },
  },
  {
    name: 'channel-revenue',
    why: 'state in objects (small state is in the manifest by default)',
    workload: workload(),
    concurrentGroups: false,
    options: { ...OPTIONS, maxInlineStateChars: 0 },
  },
  {
    name: 'channel-revenue',
    why: 'partition logs: partitions append concurrently, the job group consumes them, with a dead letter',
    workload: workload({ malformedAt: 60 }),
    deadLetter: true,
    concurrentGroups: true,
    options: { ...OPTIONS, partitionLogs: true },
  },
  {
    name: 'bidder-sessions',
    why: 'partition logs, sessions merged across partitions (most batches consumed directly)',
    workload: workload(),
    concurrentGroups: true,
    options: { ...OPTIONS, partitionLogs: true },
  },
  {
    name: 'max-price',
    why: 'partition logs with a consume interval the fixed clock never passes: the first batch is consumed directly, the others are appended to their logs and the drain consumes them',
    workload: workload({ malformedAt: 60 }),
    deadLetter: true,
    concurrentGroups: true,
    options: { ...OPTIONS, partitionLogs: true, consumeIntervalMs: 60_000 },
  },
];

/**
 * The crash points: the first occurrence of every distinct transition between two kinds of call
 * (of every kind of call when groups interleave), and every STRIDE-th call.
 */
const pointsOf = (clean: CountedRun, c: Case) =>
  crashPoints(clean.log, c, { follow: 'transitions', stride: EVERY_CALL ? 1 : STRIDE });

const sweepOptions = { pool: POOL, moreThan: 30 };

describe.each(CASES)('$name ($why) under injected faults', (c) => {
  let clean: CountedRun | undefined;
  const cleanOnce = async () => {
    clean ??= await countedRun(c, localStoreFactory);
    return clean;
  };

  it('a clean run writes the reference rows, the late records and the dead letter', async () => {
    const { tables, log } = await cleanOnce();
    const names = tableNamesOf(c.name);
    expect(log.length).toBeGreaterThan(50);
    expect(tables[names.rows]).toEqual(expectedRowsTable(c.name, c.workload.bids, tables));
    if (c.name === 'bids-per-auction') expect(tables[names.late]?.length).toBeGreaterThan(0);
    if (c.deadLetter === true) expect(tables[names.deadLetters]).toHaveLength(1);
    for (const rows of Object.values(tables)) expect(duplicates(rows)).toEqual([]);
  });

  // A lost response to a read is a crash before the next call: only writes lose an answer that matters.
  it('a crash before a call, or after a write whose answer is lost, then a restart that gets every event again: same tables', async () => {
    const points = pointsOf(await cleanOnce(), c);
    const faults = points.flatMap((call): Fault[] =>
      isWrite(call) ? [{ crashBefore: call.n }, { lostResponse: call.n }] : [{ crashBefore: call.n }],
    );
    expect(await sweep(c, clean!.tables, faults, localStoreFactory, sweepOptions)).toEqual([]);
  });

  it('a transient failure of a call (not performed, or a write performed with its answer lost), retried in process: same tables', async () => {
    const points = pointsOf(await cleanOnce(), c);
    const faults = points.flatMap((call): Fault[] =>
      isWrite(call) ? [{ failOnce: call.n }, { lostOnce: call.n }] : [{ failOnce: call.n }],
    );
    expect(await sweep(c, clean!.tables, faults, localStoreFactory, sweepOptions)).toEqual([]);
  });
});
