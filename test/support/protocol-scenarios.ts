/**
 * Scenarios of the commit protocol that hold on any stores: redelivered, overlapping and re-split
 * batches, two invocations racing on one partition, a zombie whose head write comes late, and one
 * that wakes up after cleanup fenced its attempt. runtime/checkpoint/checkpointed-processor.test.ts
 * runs them on the local stores, adapters/aws/protocol-scenarios.test.ts on the AWS ones.
 *
 * Each takes an example and a {@link StoreFactory}, asserts what the local suite asserts (the
 * rows of the brute-force reference, no duplicates), and returns its location and workload, so
 * that a caller can also compare the tables with a clean run's.
 */
import { expect } from 'vitest';
import type { ExampleName } from '../../examples/index.ts';
import type { Bid } from '../../examples/nexmark/bid.ts';
import type {
  CheckpointedProcessor,
  CheckpointedProcessorOptions,
} from '../../runtime/checkpoint/checkpointed-processor.ts';
import { decodeHead } from '../../runtime/checkpoint/head.ts';
import { headKey } from '../../runtime/checkpoint/layout.ts';
import { eventBatches, kafkaEvent } from '../../runtime/event-source-mapping/event-builder.ts';
import type { KafkaEvent, KafkaEventRecord } from '../../runtime/source/kafka-event.ts';
import type { CheckpointStores } from '../../runtime/stores/checkpoint-stores.ts';
import {
  duplicates,
  expectedRowsTable,
  processorFor,
  runToEnd,
  TOPIC,
  tableNamesOf,
  tablesOf,
  type Workload,
  workload,
} from './checkpoint-runs.ts';
import { faultyStores, type OpRecord } from './faulty-stores.ts';
import { readRunTables, type TablesLocation } from './iceberg-tables.ts';
import { localStoreFactory, type StoreFactory, type StoreLocation } from './store-locations.ts';

/** The records of an event, in event order. */
export const recordsOf = (event: KafkaEvent): KafkaEventRecord[] => Object.values(event.records).flat();

/** One event holding the records of several, as a redelivery that overlaps the next batch would. */
export const merged = (...events: KafkaEvent[]): KafkaEvent => kafkaEvent(events.flatMap(recordsOf));

/** Partition p's records with offsets from..to (inclusive). */
export const slice = (w: Workload, p: number, from: number, to: number): KafkaEventRecord[] =>
  w.log.partitions[p]!.filter((r) => r.offset >= from && r.offset <= to);

export async function snapshotCounts(at: TablesLocation): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [name, contents] of await readRunTables(at)) out[name] = contents.snapshots;
  return out;
}

/** The job's rows are the brute-force reference's for these bids; no table holds a row twice. */
export async function expectReference(
  name: ExampleName,
  at: TablesLocation,
  bids: readonly Bid[] = [],
): Promise<void> {
  const tables = await tablesOf(at);
  const { rows } = tableNamesOf(name);
  expect(tables[rows]).toEqual(expectedRowsTable(name, bids, tables));
  for (const [table, contents] of Object.entries(tables)) {
    expect(duplicates(contents), `duplicates in ${table}`).toEqual([]);
  }
}

/** A promise and the function that resolves it. */
export function gate(): { readonly opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

/** Resolves for every waiter once `parties` waiters have arrived. */
export function barrier(parties: number): () => Promise<void> {
  let arrived = 0;
  const all = gate();
  return () => {
    if (++arrived >= parties) all.open();
    return all.opened;
  };
}

/** The commits per group of some outcomes, to check that each group committed a batch once. */
export function commitsPerGroup(
  ...outcomes: { commits: readonly { group: string }[] }[]
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of outcomes) for (const c of o.commits) out[c.group] = (out[c.group] ?? 0) + 1;
  return out;
}

export function groupsOf(processor: CheckpointedProcessor<unknown>, event: KafkaEvent): string[] {
  return [...new Set(recordsOf(event).map((r) => processor.groupOf(r.topic, r.partition)))].sort();
}

/** The indexes of the events whose batch writes rows, in a clean run on the local stores. */
export async function eventsWithRows(name: ExampleName, w: Workload): Promise<number[]> {
  const processor = processorFor(name, (await localStoreFactory()).open(), w);
  const out: number[] = [];
  for (const [i, event] of w.events.entries()) {
    if ((await processor.process(event)).rows.length > 0) out.push(i);
  }
  return out;
}

export async function headOf(stores: CheckpointStores, name: ExampleName, group: string) {
  const item = await stores.heads.get(headKey(name, group));
  return item === undefined ? undefined : decodeHead(item);
}

/**
 * Stores that hold the first call matching `at`, once armed, until `release()`: a process stalled
 * at a chosen step, as a frozen or slow one is. `held` resolves once the call is held.
 */
export function stallAt(
  stores: CheckpointStores,
  at: (call: OpRecord) => boolean,
  options: { readonly armed?: boolean } = {},
) {
  const held = gate();
  const release = gate();
  let armed = options.armed ?? true;
  const slow = faultyStores(stores, {
    beforeCall: async (call) => {
      if (armed && at(call)) {
        armed = false;
        held.open();
        await release.opened;
      }
    },
  });
  return {
    stores: slow.stores,
    log: slow.log,
    held: held.opened,
    release: release.open,
    arm: () => {
      armed = true;
    },
  };
}

/**
 * A processor of `name` on `location` that runs its first `before` events, then holds its next
 * batch at the first call to `at` (e.g. the head write, or the catalog swap of the publish) until
 * `release` is called. Resolves once the batch is held there.
 */
export async function heldAt(
  name: ExampleName,
  location: StoreLocation,
  w: Workload,
  before: number,
  at: { readonly store: OpRecord['store']; readonly op: string; readonly key?: string },
  options: Partial<CheckpointedProcessorOptions> = {},
) {
  const slow = stallAt(
    location.open(),
    (call) => call.store === at.store && call.op === at.op && call.key.includes(at.key ?? ''),
    { armed: false },
  );
  const a = processorFor(name, slow.stores, w, options);
  for (const event of w.events.slice(0, before)) await a.process(event);
  slow.arm();
  const pending = a.process(w.events[before]!);
  await slow.held;
  return { pending, log: slow.log, release: slow.release };
}

export const PUBLISH_SWAP = { store: 'catalog', op: 'swap' } as const;

/** A write of a commit group's head (the commit point), not of the table committer's item. */
export const HEAD_WRITE = { store: 'heads', op: 'put', key: '/heads/' } as const;

export const isHeadWrite = (call: OpRecord): boolean =>
  call.store === 'heads' && call.op === 'put' && call.key.includes('/heads/');

/** Where a scenario ran, and on what workload. */
export interface ScenarioRun {
  readonly location: StoreLocation;
  readonly workload: Workload;
}

// --- Redelivery ----------------------------------------------------------------------------

/** A redelivered batch commits nothing and changes no table, warm or cold. */
export async function redeliveredBatch(name: ExampleName, factory: StoreFactory): Promise<ScenarioRun> {
  const w = workload();
  const location = await factory();
  const stores = location.open();
  const first = processorFor(name, stores, w);
  for (const event of w.events.slice(0, 5)) await first.process(event);
  // What is committed is published by the next round; a flush runs one now.
  await first.publish();
  const before = { snapshots: await snapshotCounts(stores), committed: await first.committed() };
  expect(Object.values(before.snapshots).some((n) => n > 0)).toBe(true);

  const warm = await first.process(w.events[3]!);
  const cold = await processorFor(name, stores, w).process(w.events[4]!);

  for (const [outcome, event] of [
    [warm, w.events[3]!],
    [cold, w.events[4]!],
  ] as const) {
    expect(outcome.commits).toEqual([]);
    expect(outcome.rows).toEqual([]);
    expect(outcome.metrics.redelivered).toBe(recordsOf(event).length);
  }
  // Nothing was committed, so there is nothing to publish either.
  expect((await first.publish()).snapshots).toEqual([]);
  expect(await snapshotCounts(stores)).toEqual(before.snapshots);
  expect((await first.committed()).groups).toEqual(before.committed.groups);

  await runToEnd(processorFor(name, stores, w), w.events);
  await expectReference(name, stores, w.bids);
  return { location, workload: w };
}

/** An overlapping batch (offsets 0-49, then 25-74) commits only the records after 49. */
export async function overlappingBatch(name: ExampleName, factory: StoreFactory): Promise<ScenarioRun> {
  const w = workload();
  expect(w.log.partitions[0]!.length).toBeGreaterThan(75);
  const location = await factory();
  const stores = location.open();
  const processor = processorFor(name, stores, w);

  const a = await processor.process(kafkaEvent(slice(w, 0, 0, 49)));
  const b = await processor.process(kafkaEvent(slice(w, 0, 25, 74)));

  expect(a.commits).toHaveLength(1);
  expect(b.commits).toHaveLength(1);
  expect(b.metrics).toMatchObject({ records: 50, redelivered: 25 });
  const committed = await processor.committed();
  expect(committed.offsets.get(`${TOPIC}-0`)).toBe(74);
  expect(committed.totals).toMatchObject({ records: 75, redelivered: 25 });

  // The rest of the topic, then the end: the tables hold every bid once.
  const rest = [
    kafkaEvent(slice(w, 0, 75, Number.MAX_SAFE_INTEGER)),
    kafkaEvent(w.log.partitions[1]!),
    kafkaEvent(w.log.partitions[2]!),
  ];
  await runToEnd(processor, rest);
  expect((await processor.committed()).totals.records).toBe(w.bids.length);
  await expectReference(name, stores, w.bids);
  return { location, workload: w };
}

/** A redelivery cut into different batches than the first delivery gives the same tables. */
export async function recutRedelivery(name: ExampleName, factory: StoreFactory): Promise<ScenarioRun> {
  const w = workload();
  const location = await factory();
  const stores = location.open();
  // The first delivery gets three batches of 40 in, then the invocation is lost.
  const first = processorFor(name, stores, w);
  for (const event of w.events.slice(0, 3)) await first.process(event);
  // The event source starts again from the beginning with other batch boundaries.
  const recut = [...eventBatches(w.log, { batchSize: 27, interleave: { seed: 3 } })];
  const second = processorFor(name, stores, w);
  const outcomes = [];
  for (const event of recut) outcomes.push(await second.process(event));
  await second.drain();

  const redelivered = outcomes.reduce((sum, o) => sum + o.metrics.redelivered, 0);
  expect(redelivered).toBe(w.events.slice(0, 3).reduce((sum, e) => sum + recordsOf(e).length, 0));
  expect((await second.committed()).totals.records).toBe(w.bids.length);
  await expectReference(name, stores, w.bids);
  return { location, workload: w };
}

// --- Concurrent and stale invocations ----------------------------------------------------------

/** Two invocations racing with the same and with overlapping events write every row once. */
export async function racingInvocations(name: ExampleName, factory: StoreFactory): Promise<ScenarioRun> {
  const w = workload();
  const location = await factory();
  // Each invocation holds its n-th write of a head until the other has reached its own n-th:
  // both create the head (one wins, the other reads it), then both commit on the same head
  // version: one wins each group, the other must retry.
  let racing = true;
  const meet = new Map<string, () => Promise<void>>();
  const holder = () => {
    const writes = new Map<string, number>();
    return async (call: OpRecord) => {
      if (!racing || !isHeadWrite(call)) return;
      const n = (writes.get(call.key) ?? 0) + 1;
      writes.set(call.key, n);
      const meeting = `${call.key}#${n}`;
      if (!meet.has(meeting)) meet.set(meeting, barrier(2));
      await meet.get(meeting)!();
    };
  };
  const one = faultyStores(location.open(), { beforeCall: holder() });
  const two = faultyStores(location.open(), { beforeCall: holder() });
  const a = processorFor(name, one.stores, w);
  const b = processorFor(name, two.stores, w);

  const [first, second] = await Promise.all([a.process(w.events[0]!), b.process(w.events[0]!)]);
  racing = false;
  const groups = groupsOf(a, w.events[0]!);
  // Each group committed once; the loser's head write failed its condition, it read the
  // head again and skipped the records the winner had applied.
  expect(commitsPerGroup(first, second)).toEqual(Object.fromEntries(groups.map((g) => [g, 1])));
  expect(first.metrics.redelivered + second.metrics.redelivered).toBe(recordsOf(w.events[0]!).length);
  const failedPuts = [...one.log, ...two.log].filter(isHeadWrite);
  // Per group: the head's creation lost by one, and the first commit lost by one.
  expect(failedPuts.filter((c) => c.outcome === 'error')).toHaveLength(2 * groups.length);

  // Then every event twice at once, and overlapping events (the next one with the one before).
  for (let i = 1; i < w.events.length; i++) {
    const event = w.events[i]!;
    const [x, y] = await Promise.all([
      a.process(i % 2 === 0 ? event : merged(w.events[i - 1]!, event)),
      b.process(event),
    ]);
    const once = commitsPerGroup(x, y);
    expect(Object.values(once).every((n) => n === 1)).toBe(true);
  }
  await Promise.all([a.drain(), b.drain()]);

  expect((await a.committed()).totals.records).toBe(w.bids.length);
  const stores = location.open();
  await expectReference(name, stores, w.bids);

  // Both racers staged files under the one lineage of the head they shared, so cleanup
  // finds every loser's file: what is left in each table's data folder is in the table.
  await a.cleanup();
  for (const [table, contents] of await readRunTables(stores)) {
    const stored = await stores.warehouse.list(`${table.replace('.', '/')}/data/`);
    expect(stored.sort(), table).toEqual([...contents.files].sort());
  }
  return { location, workload: w };
}

/**
 * A zombie that read the head before a newer commit cannot overwrite it: its conditional write
 * fails, it reloads and skips.
 */
export async function zombieHeadWrite(name: ExampleName, factory: StoreFactory): Promise<ScenarioRun> {
  const w = workload();
  const location = await factory();
  const zombieHeld = gate();
  const release = gate();
  let stall = 0;
  const held: OpRecord[] = [];
  const zombieStores = faultyStores(location.open(), {
    beforeCall: async (call) => {
      if (stall > 0 && isHeadWrite(call)) {
        held.push(call);
        if (held.length === stall) zombieHeld.open();
        await release.opened;
      }
    },
  });
  const zombie = processorFor(name, zombieStores.stores, w);
  for (const event of w.events.slice(0, 3)) await zombie.process(event);

  // The zombie reads the head, processes event 3 and stalls before its commit (a slow
  // invocation whose request lands late) ...
  stall = groupsOf(zombie, w.events[3]!).length;
  const late = zombie.process(w.events[3]!);
  await zombieHeld.opened;
  // ... while a newer invocation commits events 3 to 5.
  const stores = location.open();
  const newer = processorFor(name, stores, w);
  for (const event of w.events.slice(0, 6)) await newer.process(event);
  const groups = groupsOf(newer, w.events[3]!);
  const heads = await Promise.all(groups.map((g) => headOf(stores, name, g)));
  stall = 0;
  release.open();
  const outcome = await late;

  expect(outcome.commits).toEqual([]);
  expect(outcome.metrics.redelivered).toBe(recordsOf(w.events[3]!).length);
  expect(held.map((c) => c.outcome)).toEqual(groups.map(() => 'error'));
  expect(await Promise.all(groups.map((g) => headOf(stores, name, g)))).toEqual(heads);

  // Now warm on the newer head, it gets an older event and an overlapping one.
  expect((await zombie.process(w.events[2]!)).commits).toEqual([]);
  const overlap = await zombie.process(merged(w.events[5]!, w.events[6]!));
  expect(overlap.metrics.redelivered).toBe(recordsOf(w.events[5]!).length);
  await runToEnd(newer, w.events);
  expect((await newer.committed()).totals.records).toBe(w.bids.length);
  await expectReference(name, stores, w.bids);
  return { location, workload: w };
}

/**
 * Cleanup fences the head before deleting an abandoned attempt, so the attempt cannot commit if
 * it was only stalled: a zombie that wakes up after cleanup fails its head write, reloads and
 * commits the batch again under a new attempt.
 */
export async function zombieAfterCleanup(name: ExampleName, factory: StoreFactory): Promise<ScenarioRun> {
  const w = workload();
  const location = await factory();
  const grace = 60_000;
  let now = 1_000_000;
  const options = { clock: () => now, orphanGraceMs: grace };
  // The first event of a clean run that writes rows, so the stalled attempt stages a data file.
  const i = (await eventsWithRows(name, w)).find((e) => e >= 2)!;

  // A commits events before i, then stalls right before the head write of event i
  // (Ctrl-Z on a local run, a container frozen with work in flight, a clock behind the others).
  const { pending, release } = await heldAt(name, location, w, i, HEAD_WRITE, options);

  // Later, another process runs cleanup (the end of `floe run` does) without committing this
  // group: the attempt is older than the grace period and above the head's epoch: deleted.
  now += grace + 1;
  await processorFor(name, location.open(), w, options).cleanup();

  // A wakes up: cleanup rewrote the head first, so A's conditional write fails; A reloads and
  // commits the batch again under a new attempt.
  release();
  await pending;

  const resumed = processorFor(name, location.open(), w, options);
  await runToEnd(resumed, w.events);
  const tables = await tablesOf(location.open());
  expect(tables[tableNamesOf(name).rows]).toEqual(expectedRowsTable(name, w.bids, tables));
  expect(duplicates(tables[tableNamesOf(name).rows]!)).toEqual([]);
  return { location, workload: w };
}
