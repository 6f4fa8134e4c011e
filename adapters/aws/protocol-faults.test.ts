/**
 * The crash-point sweep of runtime/checkpoint/fault-injection.test.ts on the AWS stores as a
 * deployment assembles them (awsCheckpointStores: heads and table pointers in DynamoDB,
 * manifests and data files in S3, state as DynamoDB items spilling to S3, compressed), against
 * the local servers (moto, versitygw). The same shared sweep (test/support/fault-sweep.ts), each
 * fault run on fresh tables and a fresh prefix.
 *
 * To bound the time, the crash points are the first call of each distinct kind of step
 * (`heads.put:head`, `checkpoints.put:state`, `warehouse.put:table-metadata`, `catalog.swap:`,
 * cleanup's lists and deletes, ...), not every transition and every 12th call as locally:
 * - crashBefore at each, then a restart on a fresh processor that gets every event again;
 * - lostResponse (the write landed, the process died) and lostOnce (the write landed, the caller
 *   saw an error and retried in process) at each kind of write: head put, state item put (one
 *   case keeps its state in objects; the others' small state is in their manifests), manifest put, data file put, Iceberg manifest, manifest list and metadata puts, catalog CAS,
 *   cleanup's deletes.
 * Every run must leave the tables of the clean run on the local stores, which are the
 * brute-force reference's.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { awsLocations } from '../../test/support/aws-locations.ts';
import {
  cleanRun,
  duplicates,
  expectedRowsTable,
  tableNamesOf,
  tablesOf,
  workload,
} from '../../test/support/checkpoint-runs.ts';
import {
  type CountedRun,
  countedRun,
  crashPoints,
  isWrite,
  type SweepCase,
  stepOf,
  sweep,
  type Tables,
} from '../../test/support/fault-sweep.ts';
import type { Fault, OpRecord } from '../../test/support/faulty-stores.ts';

/** Fault runs in flight at once: moto serves one request at a time, so more only add load. */
const POOL = 3;
/** Cleanup after every commit, keeping 2 manifests: its lists and deletes are crash points too. */
const OPTIONS = { keepCheckpoints: 2, cleanupEvery: 1 };

interface Case extends SweepCase {
  readonly why: string;
  /** Kinds of write the sweeps must hit besides those of every commit. */
  readonly steps?: readonly string[];
}

const CASES: readonly Case[] = [
  {
    name: 'bids-per-auction',
    why: 'one commit group per partition, late records and a dead letter, state in objects',
    workload: workload({ count: 60, partitions: 2, batchSize: 20, maxDisorderMs: 20_000, malformedAt: 25 }),
    concurrentGroups: true,
    // Small state goes into the manifest by default (the other cases): here it goes to state items.
    options: { ...OPTIONS, maxInlineStateChars: 0 },
    steps: ['checkpoints.put:state'],
  },
  {
    name: 'bidder-sessions',
    why: 'one job group, sessions merged across partitions, state moving from the manifest to objects and back',
    workload: workload({ count: 60, batchSize: 20 }),
    concurrentGroups: false,
    // In the manifest for the first batch, in objects for the next two, back with the drain.
    options: { ...OPTIONS, maxInlineStateChars: 600 },
    steps: ['checkpoints.put:state'],
  },
  {
    name: 'max-price',
    why: 'partition logs: a process that finds the lease free consumes its batch directly',
    workload: workload({ count: 60, batchSize: 20 }),
    concurrentGroups: true,
    options: { ...OPTIONS, partitionLogs: true },
    steps: ['heads.put:lease'],
  },
  {
    name: 'max-price',
    why: 'partition logs with a consume interval: partitions append, the drain consumes them',
    workload: workload({ count: 60, batchSize: 20 }),
    concurrentGroups: true,
    // The processors' clock stands still, so the interval never passes after the first consume.
    options: { ...OPTIONS, partitionLogs: true, consumeIntervalMs: 60_000 },
    steps: ['heads.put:log-head', 'checkpoints.put:log-segment', 'heads.put:lease'],
  },
];

/** A kind of step, the same in every commit group: `checkpoints.list:bids-per-auction/*\/manifests/`. */
const kindOf = (call: OpRecord) => stepOf(call).replace(/\/[^/]+\/(manifests|state)\/$/, '/*/$1/');

const aws = awsLocations();
afterAll(() => aws.cleanup());

describe.each(CASES)('$name ($why) on the AWS stores under injected faults', (c) => {
  let reference: Tables | undefined;
  let counted: CountedRun | undefined;
  /** The local clean run's tables, and a clean run on AWS with its calls counted. */
  const cleanOnce = async (): Promise<{ reference: Tables; counted: CountedRun }> => {
    reference ??= await tablesOf((await cleanRun(c.name, c.workload)).dir);
    counted ??= await countedRun(c, aws.factory);
    return { reference, counted };
  };
  const points = async () =>
    crashPoints((await cleanOnce()).counted.log, c, { follow: 'steps', stride: 0, kindOf });

  it("a clean run on AWS writes the local run's tables, which are the reference's", async () => {
    const { reference, counted } = await cleanOnce();
    expect(counted.tables).toEqual(reference);
    const names = tableNamesOf(c.name);
    expect(reference[names.rows]).toEqual(expectedRowsTable(c.name, c.workload.bids, reference));
    for (const rows of Object.values(reference)) expect(duplicates(rows)).toEqual([]);
    // Every kind of write the sweeps below must hit.
    const steps = new Set(counted.log.map(stepOf));
    for (const step of [
      'heads.put:head',
      'checkpoints.put:checkpoint',
      'warehouse.put:data-file',
      'warehouse.put:table-manifest',
      'warehouse.put:manifest-list',
      'warehouse.put:table-metadata',
      'catalog.swap:',
      ...(c.steps ?? []),
    ]) {
      expect(steps, step).toContain(step);
    }
  });

  it('a stop before each kind of step, then a restart on a fresh processor: same tables', async () => {
    const faults = (await points()).map((call): Fault => ({ crashBefore: call.n }));
    const { reference } = await cleanOnce();
    expect(await sweep(c, reference, faults, aws.factory, { pool: POOL, moreThan: 10 })).toEqual([]);
  });

  it('a write whose answer is lost, to a dying process (restart) or a living one (retry): same tables', async () => {
    const writes = (await points()).filter(isWrite);
    const faults = writes.flatMap((call): Fault[] => [{ lostResponse: call.n }, { lostOnce: call.n }]);
    const { reference } = await cleanOnce();
    expect(await sweep(c, reference, faults, aws.factory, { pool: POOL, moreThan: 10 })).toEqual([]);
  });
});
