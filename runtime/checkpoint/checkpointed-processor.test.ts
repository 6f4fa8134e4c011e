/**
 * What a user of the commit protocol relies on: redeliveries, racing and stale invocations,
 * restarts, draining, side outputs and cleanup leave the Iceberg tables exactly as one clean run
 * would, which for the examples is the brute-force reference of test/support/nexmark-reference.ts.
 * Crash points call by call are in fault-injection.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { localCheckpointStores, runDirectory } from '../../adapters/local/run-directory.ts';
import type { ExampleName } from '../../examples/index.ts';
import type { Bid } from '../../examples/nexmark/bid.ts';
import {
  duplicates,
  exampleJob,
  expectedRowsTable,
  MALFORMED_VALUE,
  processorFor,
  referenceRows,
  runToEnd,
  TOPIC,
  tableNamesOf,
  tablesOf,
  tempRunDir,
  type Workload,
  workload,
} from '../../test/support/checkpoint-runs.ts';
import { faultyStores, type OpRecord, SimulatedCrash } from '../../test/support/faulty-stores.ts';
import { readRunTables } from '../../test/support/iceberg-tables.ts';
import { eventBatches, kafkaEvent } from '../event-source-mapping/event-builder.ts';
import { appendFiles, loadTable } from '../iceberg/append-files.ts';
import type { KafkaEvent, KafkaEventRecord } from '../source/kafka-event.ts';
import type { CheckpointStores } from '../stores/checkpoint-stores.ts';
import type { CheckpointedProcessor, CheckpointedProcessorOptions } from './checkpointed-processor.ts';
import { headKey, manifestPrefix, parseEpochAttempt, statePrefix } from './layout.ts';
import { decodeManifest } from './manifest.ts';

const JOB_GROUP_EXAMPLES: readonly ExampleName[] = ['channel-revenue', 'max-price', 'bidder-sessions'];

/** The records of an event, in event order. */
const recordsOf = (event: KafkaEvent): KafkaEventRecord[] => Object.values(event.records).flat();

/** One event holding the records of several, as a redelivery that overlaps the next batch would. */
const merged = (...events: KafkaEvent[]): KafkaEvent => kafkaEvent(events.flatMap(recordsOf));

/** Partition p's records with offsets from..to (inclusive). */
const slice = (w: Workload, p: number, from: number, to: number): KafkaEventRecord[] =>
  w.log.partitions[p]!.filter((r) => r.offset >= from && r.offset <= to);

async function snapshotCounts(dir: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [name, contents] of await readRunTables(dir)) out[name] = contents.snapshots;
  return out;
}

async function expectReference(name: ExampleName, dir: string, bids: readonly Bid[] = []): Promise<void> {
  const tables = await tablesOf(dir);
  const { rows } = tableNamesOf(name);
  expect(tables[rows]).toEqual(expectedRowsTable(name, bids, tables));
  for (const [table, contents] of Object.entries(tables)) {
    expect(duplicates(contents), `duplicates in ${table}`).toEqual([]);
  }
}

/** A promise and the function that resolves it. */
function gate(): { readonly opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

/**
 * A max-price processor on `dir` that runs its first `before` events, then holds its next batch
 * at the first call to `at` (e.g. the head write, or the catalog swap of the publish) until
 * `release` is called. Resolves once the batch is held there.
 */
async function heldAt(
  dir: string,
  w: Workload,
  before: number,
  at: { readonly store: OpRecord['store']; readonly op: string },
  options: Partial<CheckpointedProcessorOptions> = {},
) {
  const held = gate();
  const release = gate();
  let stall = false;
  const slow = faultyStores(localCheckpointStores(dir), {
    beforeCall: async (call) => {
      if (stall && call.store === at.store && call.op === at.op) {
        stall = false;
        held.open();
        await release.opened;
      }
    },
  });
  const a = processorFor('max-price', slow.stores, w, options);
  for (const event of w.events.slice(0, before)) await a.process(event);
  stall = true;
  const pending = a.process(w.events[before]!);
  await held.opened;
  return { pending, log: slow.log, release: release.open };
}

const PUBLISH_SWAP = { store: 'catalog', op: 'swap' } as const;

/** Resolves for every waiter once `parties` waiters have arrived. */
function barrier(parties: number): () => Promise<void> {
  let arrived = 0;
  const all = gate();
  return () => {
    if (++arrived >= parties) all.open();
    return all.opened;
  };
}

/** The commits per group of some outcomes, to check that each group committed a batch once. */
function commitsPerGroup(...outcomes: { commits: readonly { group: string }[] }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of outcomes) for (const c of o.commits) out[c.group] = (out[c.group] ?? 0) + 1;
  return out;
}

function groupsOf(processor: CheckpointedProcessor<unknown>, event: KafkaEvent): string[] {
  return [...new Set(recordsOf(event).map((r) => processor.groupOf(r.topic, r.partition)))].sort();
}

/** The indexes of the events whose batch writes rows, in a clean run. */
async function eventsWithRows(name: ExampleName, w: Workload): Promise<number[]> {
  const processor = processorFor(name, localCheckpointStores(tempRunDir()), w);
  const out: number[] = [];
  for (const [i, event] of w.events.entries()) {
    if ((await processor.process(event)).rows.length > 0) out.push(i);
  }
  return out;
}

async function headOf(stores: CheckpointStores, name: ExampleName, group: string) {
  const item = await stores.heads.get(headKey(name, group));
  return item as { version: number; value: { epoch: number; manifest: string; lineage: string } } | undefined;
}

// --- Redelivery ----------------------------------------------------------------------------

describe('redelivery', () => {
  it.each(['bids-per-auction', 'channel-revenue'] as const)(
    '%s: a redelivered batch commits nothing and changes no table, warm or cold',
    async (name) => {
      const w = workload();
      const dir = tempRunDir();
      const stores = localCheckpointStores(dir);
      const first = processorFor(name, stores, w);
      for (const event of w.events.slice(0, 5)) await first.process(event);
      const before = { snapshots: await snapshotCounts(dir), committed: await first.committed() };
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
      expect(await snapshotCounts(dir)).toEqual(before.snapshots);
      expect((await first.committed()).groups).toEqual(before.committed.groups);

      await runToEnd(processorFor(name, stores, w), w.events);
      await expectReference(name, dir, w.bids);
    },
  );

  it.each(['bids-per-auction', 'channel-revenue'] as const)(
    '%s: an overlapping batch (offsets 0-49, then 25-74) commits only the records after 49',
    async (name) => {
      const w = workload();
      expect(w.log.partitions[0]!.length).toBeGreaterThan(75);
      const dir = tempRunDir();
      const stores = localCheckpointStores(dir);
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
      await expectReference(name, dir, w.bids);
    },
  );

  it.each(['bids-per-auction', 'channel-revenue', 'bidder-sessions'] as const)(
    '%s: a redelivery cut into different batches than the first delivery gives the same tables',
    async (name) => {
      const w = workload();
      const dir = tempRunDir();
      const stores = localCheckpointStores(dir);
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
      await expectReference(name, dir, w.bids);
    },
  );
});

// --- Concurrent and stale invocations ----------------------------------------------------------

describe('a lost answer to the head write', () => {
  it('the in-process retry finds its own commit and reports the batch as committed, with its rows', async () => {
    const w = workload();
    const name = 'max-price';
    const cleanDir = tempRunDir();
    const clean = processorFor(name, localCheckpointStores(cleanDir), w);
    const outcomes = [];
    for (const event of w.events) outcomes.push(await clean.process(event));
    await clean.drain();
    const firing = outcomes.findIndex((o) => o.rows.length > 0);
    expect(firing).toBeGreaterThan(0);

    const dir = tempRunDir();
    const local = localCheckpointStores(dir);
    let armed = false;
    let lost = 0;
    // The head write of the batch that fires a window lands, but its caller sees an error.
    const stores: CheckpointStores = {
      ...local,
      heads: {
        get: (key) => local.heads.get(key),
        list: (prefix) => local.heads.list(prefix),
        delete: (key, condition) => local.heads.delete(key, condition),
        put: async (key, value, condition) => {
          const written = await local.heads.put(key, value, condition);
          if (armed) {
            armed = false;
            lost++;
            throw new Error('connection reset before the answer');
          }
          return written;
        },
      },
    };
    const processor = processorFor(name, stores, w);
    for (const [i, event] of w.events.entries()) {
      armed = i === firing;
      const outcome = await processor.process(event);
      if (i === firing) {
        expect(lost).toBe(1);
        expect(outcome.commits).toHaveLength(1);
        expect(outcome.rows).toEqual(outcomes[firing]!.rows);
      }
    }
    await processor.drain();
    expect(await tablesOf(dir)).toEqual(await tablesOf(cleanDir));
  });
});

describe('concurrent invocations of the same partitions', () => {
  it.each(['bids-per-auction', 'channel-revenue'] as const)(
    '%s: two invocations racing with the same and with overlapping events write every row once',
    async (name) => {
      const w = workload();
      const dir = tempRunDir();
      // Each invocation holds its n-th write of a head until the other has reached its own n-th:
      // both create the head (one wins, the other reads it), then both commit on the same head
      // version: one wins each group, the other must retry.
      let racing = true;
      const meet = new Map<string, () => Promise<void>>();
      const holder = () => {
        const writes = new Map<string, number>();
        return async (call: OpRecord) => {
          if (!racing || call.store !== 'heads' || call.op !== 'put') return;
          const n = (writes.get(call.key) ?? 0) + 1;
          writes.set(call.key, n);
          const meeting = `${call.key}#${n}`;
          if (!meet.has(meeting)) meet.set(meeting, barrier(2));
          await meet.get(meeting)!();
        };
      };
      const one = faultyStores(localCheckpointStores(dir), { beforeCall: holder() });
      const two = faultyStores(localCheckpointStores(dir), { beforeCall: holder() });
      const a = processorFor(name, one.stores, w);
      const b = processorFor(name, two.stores, w);

      const [first, second] = await Promise.all([a.process(w.events[0]!), b.process(w.events[0]!)]);
      racing = false;
      const groups = groupsOf(a, w.events[0]!);
      // Each group committed once; the loser's head write failed its condition, it read the
      // head again and skipped the records the winner had applied.
      expect(commitsPerGroup(first, second)).toEqual(Object.fromEntries(groups.map((g) => [g, 1])));
      expect(first.metrics.redelivered + second.metrics.redelivered).toBe(recordsOf(w.events[0]!).length);
      const failedPuts = [...one.log, ...two.log].filter((c) => c.store === 'heads' && c.op === 'put');
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
      await expectReference(name, dir, w.bids);

      // Both racers staged files under the one lineage of the head they shared, so cleanup
      // finds every loser's file: what is left in each table's data folder is in the table.
      await a.cleanup();
      const { warehouse } = runDirectory(dir);
      for (const [table, contents] of await readRunTables(dir)) {
        const stored = await warehouse.list(`${table.replace('.', '/')}/data/`);
        expect(stored.sort(), table).toEqual([...contents.files].sort());
      }
    },
  );

  it.each(['bids-per-auction', 'channel-revenue'] as const)(
    '%s: a zombie that read the head before a newer commit cannot overwrite it: its conditional write fails, it reloads and skips',
    async (name) => {
      const w = workload();
      const dir = tempRunDir();
      const zombieHeld = gate();
      const release = gate();
      let stall = 0;
      const held: OpRecord[] = [];
      const zombieStores = faultyStores(localCheckpointStores(dir), {
        beforeCall: async (call) => {
          if (stall > 0 && call.store === 'heads' && call.op === 'put') {
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
      const stores = localCheckpointStores(dir);
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
      await expectReference(name, dir, w.bids);
    },
  );

  it('a warm container whose cache went stale reloads instead of committing on old state', async () => {
    const w = workload();
    const dir = tempRunDir();
    const stores = localCheckpointStores(dir);
    const stale = processorFor('channel-revenue', stores, w);
    for (const event of w.events.slice(0, 2)) await stale.process(event);
    const newer = processorFor('channel-revenue', stores, w);
    for (const event of w.events.slice(0, 5)) await newer.process(event);
    const head = await headOf(stores, 'channel-revenue', 'job');

    // Its cache says epoch 2; the head says 5. Events 1 and 2 are old news.
    const outcome = await stale.process(merged(w.events[1]!, w.events[2]!));

    expect(outcome.commits).toEqual([]);
    expect(await headOf(stores, 'channel-revenue', 'job')).toEqual(head);
    await runToEnd(stale, w.events);
    await expectReference('channel-revenue', dir, w.bids);
  });

  it('a publish that lands after another process already published the batch and moved on adds nothing', async () => {
    const w = workload();
    const dir = tempRunDir();
    const i = (await eventsWithRows('max-price', w)).find((e) => e >= 2)!;
    const { pending, log, release } = await heldAt(dir, w, i, PUBLISH_SWAP);
    // A's batch is committed (the head names it) but not yet published.
    const stores = localCheckpointStores(dir);
    expect((await headOf(stores, 'max-price', 'job'))!.value.epoch).toBe(i + 1);
    const b = processorFor('max-price', stores, w);
    await runToEnd(b, w.events);
    release();
    const outcome = await pending;

    expect(outcome.commits).toHaveLength(1);
    const swaps = log.filter((c) => c.op === 'swap');
    expect(swaps.at(-1)!.outcome).toBe('ok');
    await expectReference('max-price', dir, w.bids);
  });
});

describe('a stale publish after snapshot expiry', () => {
  it('a publish that lands after its snapshot expired from the table adds nothing (the publisher mark)', async () => {
    const w = workload({ batchSize: 20 });
    const dir = tempRunDir();
    const { catalog, warehouse } = runDirectory(dir);
    const table = exampleJob('max-price').plan.table;
    // The table keeps only 2 snapshots, so a batch's snapshot id is soon gone from it.
    await appendFiles(catalog, warehouse, table.name, table, [], {
      snapshotId: 1n,
      properties: { 'floe.snapshots.retain': '2' },
    });
    const i = (await eventsWithRows('max-price', w)).find((e) => e >= 2)!;
    const { pending, release } = await heldAt(dir, w, i, PUBLISH_SWAP);
    // Another process publishes A's batch, then many more: A's snapshot expires.
    await runToEnd(processorFor('max-price', localCheckpointStores(dir), w), w.events);
    release();
    await pending;

    await expectReference('max-price', dir, w.bids);
  });
});

// --- Keys across partitions --------------------------------------------------------------------

describe('keys spanning partitions and windowAll', () => {
  it.each(JOB_GROUP_EXAMPLES)(
    '%s: partitions committed in any order give the reference rows',
    async (name) => {
      const results: string[][] = [];
      for (const interleave of ['round-robin', 'sequential', { seed: 7 }, { seed: 8 }] as const) {
        const w = workload({ interleave, batchSize: 30 });
        const dir = tempRunDir();
        await runToEnd(processorFor(name, localCheckpointStores(dir), w), w.events);
        const tables = await tablesOf(dir);
        expect(Object.keys(tables)).toEqual([tableNamesOf(name).rows]);
        results.push(tables[tableNamesOf(name).rows]!);
      }
      const reference = referenceRows(name, workload().bids);
      expect(reference.length).toBeGreaterThan(0);
      for (const rows of results) expect(rows).toEqual(reference);
    },
  );
});

// --- Draining ------------------------------------------------------------------------------

describe('drain', () => {
  it.each(['bids-per-auction', 'channel-revenue'] as const)(
    '%s: draining again after completion, warm or cold, commits nothing',
    async (name) => {
      const w = workload();
      const dir = tempRunDir();
      const stores = localCheckpointStores(dir);
      const processor = processorFor(name, stores, w);
      await runToEnd(processor, w.events);
      const snapshots = await snapshotCounts(dir);
      const committed = await processor.committed();
      expect(committed.drained).toBe(true);

      expect((await processor.drain()).commits).toEqual([]);
      expect((await processorFor(name, stores, w).drain()).commits).toEqual([]);
      expect((await processorFor(name, stores, w).process(w.events.at(-1)!)).commits).toEqual([]);

      expect(await snapshotCounts(dir)).toEqual(snapshots);
      const after = await processor.committed();
      expect(after.drained).toBe(true);
      expect(after.groups).toEqual(committed.groups);
      await expectReference(name, dir, w.bids);
    },
  );

  it('retries a transient failure of the heads listing instead of failing the drain', async () => {
    // Regression: drain() listed the heads without retrying, so one throttled call failed it.
    const w = workload();
    const dir = tempRunDir();
    let failed = false;
    const flaky = faultyStores(localCheckpointStores(dir), {
      beforeCall: (call) => {
        if (!failed && call.store === 'heads' && call.op === 'list') {
          failed = true;
          throw new Error('503 Service Unavailable');
        }
      },
    });
    await runToEnd(processorFor('channel-revenue', flaky.stores, w), w.events);
    expect(failed).toBe(true);
    await expectReference('channel-revenue', dir, w.bids);
  });
});

// --- Side outputs ------------------------------------------------------------------------------

describe('late records and dead letters', () => {
  it.each(['bids-per-auction', 'max-price'] as const)(
    '%s: are committed with the batch that produced them, to <ns>.<job>_late and <ns>.<job>_dead_letters',
    async (name) => {
      const w = workload({ maxDisorderMs: 20_000, malformedAt: 100 });
      const dir = tempRunDir();
      const processor = processorFor(name, localCheckpointStores(dir), w);
      const names = tableNamesOf(name);
      expect(processor.tableNames).toEqual(names);
      const broken = w.log.partitions.flat().find((r) => r.value === base64(MALFORMED_VALUE))!;
      const carrying = w.events.findIndex((e) => recordsOf(e).includes(broken));

      for (const [i, event] of w.events.entries()) {
        await processor.process(event);
        const tables = await tablesOf(dir);
        // The dead letter is in its table as soon as its batch returns, not before.
        expect(tables[names.deadLetters]?.length ?? 0).toBe(i >= carrying ? 1 : 0);
      }
      await processor.drain();

      const tables = await readRunTables(dir);
      expect(tables.get(names.deadLetters)!.rows).toEqual([
        expect.objectContaining({
          kind: 'record',
          topic: TOPIC,
          partition: broken.partition,
          offset: broken.offset,
          stage: 'decode',
          reason: expect.stringMatching(/\S/),
          value: broken.value,
        }),
      ]);
      const late = tables.get(names.late)!.rows;
      expect(late.length).toBeGreaterThan(0);
      for (const row of late) {
        const record = w.log.partitions[row.partition as number]!.find((r) => r.offset === row.offset)!;
        expect(row.topic).toBe(TOPIC);
        expect(JSON.parse(row.element as string)).toEqual(
          JSON.parse(Buffer.from(record.value!, 'base64').toString()),
        );
        expect(row.timestamp).toBeLessThanOrEqual(row.watermark as number);
      }
      const committed = await processor.committed();
      expect(committed.totals).toMatchObject({
        late: late.length,
        deadLetters: 1,
        records: w.bids.length + 1,
      });
      await expectReference(name, dir, w.bids);
    },
  );
});

// --- Cleanup -------------------------------------------------------------------------------

/** Every key under a prefix of the checkpoint store. */
const keysUnder = (stores: CheckpointStores, prefix: string) => stores.checkpoints.list(prefix);

describe('cleanup', () => {
  it.each(['bids-per-auction', 'channel-revenue'] as const)(
    '%s: keeps keepCheckpoints manifests per group and only the state they name; the tables still read fully',
    async (name) => {
      const w = workload({ batchSize: 20 });
      const dir = tempRunDir();
      const stores = localCheckpointStores(dir);
      const processor = processorFor(name, stores, w, { keepCheckpoints: 3 });
      await runToEnd(processor, w.events);

      const committed = await processor.committed();
      expect(committed.groups.every((g) => g.epoch > 5)).toBe(true);
      for (const { group } of committed.groups) {
        const manifests = await keysUnder(stores, manifestPrefix(name, group));
        expect(manifests).toHaveLength(3);
        const named = new Set<string>();
        for (const key of manifests) {
          const manifest = decodeManifest((await stores.checkpoints.get(key))!, key);
          for (const p of Object.values(manifest.partitions))
            for (const k of [p.state, ...p.deltas]) named.add(k);
        }
        expect(await keysUnder(stores, statePrefix(name, group))).toEqual([...named].sort());
      }
      // Every data file the tables reference is still there (readTable reads each one).
      await expectReference(name, dir, w.bids);
    },
  );

  it('cleaning one group never touches the data files of a group whose name it prefixes (topics bids and bids-1)', async () => {
    // Partition 1 of topic bids is group "bids-1"; partition 0 of topic bids-1 is "bids-1-0".
    const w = workload({ batchSize: 20 });
    const moved = (records: readonly KafkaEventRecord[], topic: string, partition: number) =>
      records.map((r) => ({ ...r, topic, partition }));
    const events = w.events.map((event) => {
      const all = recordsOf(event);
      return kafkaEvent([
        ...moved(
          all.filter((r) => r.partition === 0),
          'bids-1',
          0,
        ),
        ...moved(
          all.filter((r) => r.partition === 1),
          'bids',
          1,
        ),
      ]);
    });
    const dir = tempRunDir();
    const processor = processorFor('bids-per-auction', localCheckpointStores(dir), w, {
      keepCheckpoints: 2,
      partitions: [
        { topic: 'bids-1', partition: 0 },
        { topic: 'bids', partition: 1 },
      ],
    });
    expect(processor.groupOf('bids', 1)).toBe('bids-1');
    expect(processor.groupOf('bids-1', 0)).toBe('bids-1-0');
    await runToEnd(processor, events);

    const bids = w.bids.filter((_, i) => {
      const record = w.log.partitions.flat().find((r) => r.value === base64(JSON.stringify(w.bids[i])));
      return record !== undefined && record.partition !== 2;
    });
    // readTable reads every data file the table lists: none may be missing.
    await expectReference('bids-per-auction', dir, bids);
  });

  it("deletes a crashed attempt's objects once the head has reached its epoch, and keeps a possibly running attempt's until the grace period ends", async () => {
    const w = workload();
    const dir = tempRunDir();
    const stores = localCheckpointStores(dir);
    const grace = 60_000;
    let now = 1_000_000;
    const options = { clock: () => now, orphanGraceMs: grace, keepCheckpoints: 3 };
    const withRows = await eventsWithRows('channel-revenue', w);
    const i = withRows.find((e) => e >= 2)!;
    const ok = processorFor('channel-revenue', stores, w, options);
    for (const event of w.events.slice(0, i)) await ok.process(event);

    /** Processes the event with a process that dies just before its head write; returns what it left. */
    const crashOn = async (event: KafkaEvent): Promise<string[]> => {
      const faulty = faultyStores(localCheckpointStores(dir), {
        beforeCall: (call) => {
          if (call.store === 'heads' && call.op === 'put') throw new SimulatedCrash('killed');
        },
      });
      const doomed = processorFor('channel-revenue', faulty.stores, w, { ...options, maxAttempts: 1 });
      await expect(doomed.process(event)).rejects.toThrow();
      return faulty.log.filter((c) => c.op === 'put' && c.outcome === 'ok').map((c) => c.key);
    };
    const exists = async (key: string) =>
      (await stores.checkpoints.get(key)) !== undefined || (await stores.warehouse.get(key)) !== undefined;

    // An attempt of epoch i + 1 dies before its commit; epoch i + 1 is then committed by another.
    const crashed = await crashOn(w.events[i]!);
    expect(crashed.some((k) => k.endsWith('.parquet'))).toBe(true);
    expect(crashed.some((k) => k.includes('/manifests/'))).toBe(true);
    expect(crashed.every((k) => parseEpochAttempt(k)?.epoch === i + 1)).toBe(true);
    await ok.process(w.events[i]!);
    // An attempt of epoch i + 2 may still be running: it staged, it has not committed yet.
    now += 1_000;
    const running = await crashOn(w.events[i + 1]!);
    expect(running.every((k) => parseEpochAttempt(k)?.epoch === i + 2)).toBe(true);

    now += 1_000;
    await ok.cleanup();
    for (const key of crashed) expect(await exists(key), key).toBe(false);
    for (const key of running) expect(await exists(key), key).toBe(true);

    now += grace;
    await ok.cleanup();
    for (const key of running) expect(await exists(key), key).toBe(false);

    await runToEnd(ok, w.events);
    await expectReference('channel-revenue', dir, w.bids);
  });

  it('a cold load whose checkpoint was cleaned away meanwhile starts again from the new head', async () => {
    const w = workload({ batchSize: 20 });
    const dir = tempRunDir();
    const stores = localCheckpointStores(dir);
    const options = { keepCheckpoints: 2 };
    await processorFor('channel-revenue', stores, w, options).process(w.events[0]!);
    const held = gate();
    const release = gate();
    let stall = true;
    const slow = faultyStores(localCheckpointStores(dir), {
      beforeCall: async (call) => {
        // Hold the load between reading the manifest and reading the state it names.
        if (stall && call.store === 'checkpoints' && call.op === 'get' && call.key.includes('/state/')) {
          stall = false;
          held.open();
          await release.opened;
        }
      },
    });
    const cold = processorFor('channel-revenue', slow.stores, w, options);
    const pending = cold.process(w.events[1]!);
    await held.opened;
    const other = processorFor('channel-revenue', stores, w, options);
    for (const event of w.events.slice(0, 6)) await other.process(event);
    release.open();

    const outcome = await pending;
    expect(outcome.commits).toEqual([]);
    expect(slow.log.some((c) => c.op === 'get' && c.key.includes('/state/') && c.outcome === 'ok')).toBe(
      true,
    );
    await runToEnd(other, w.events);
    await expectReference('channel-revenue', dir, w.bids);
  });

  it('fences the head before deleting an abandoned attempt, so the attempt cannot commit if it was only stalled', async () => {
    const name = 'max-price';
    const w = workload();
    const dir = tempRunDir();
    const grace = 60_000;
    let now = 1_000_000;
    const options = { clock: () => now, orphanGraceMs: grace };
    // The first event of a clean run that writes rows, so the stalled attempt stages a data file.
    const probe = processorFor(name, localCheckpointStores(tempRunDir()), w);
    const withRows: number[] = [];
    for (const [e, event] of w.events.entries()) {
      if ((await probe.process(event)).rows.length > 0) withRows.push(e);
    }
    const i = withRows.find((e) => e >= 2)!;

    // A commits events before i, then stalls right before the head write of event i
    // (Ctrl-Z on a local run, a container frozen with work in flight, a clock behind the others).
    const { pending, release } = await heldAt(dir, w, i, { store: 'heads', op: 'put' }, options);

    // Later, another process runs cleanup (the end of `floe run` does) without committing this
    // group: the attempt is older than the grace period and above the head's epoch: deleted.
    now += grace + 1;
    await processorFor(name, localCheckpointStores(dir), w, options).cleanup();

    // A wakes up: cleanup rewrote the head first, so A's conditional write fails; A reloads and
    // commits the batch again under a new attempt.
    release();
    await pending;

    const resumed = processorFor(name, localCheckpointStores(dir), w, options);
    await runToEnd(resumed, w.events);
    const tables = await tablesOf(dir);
    expect(tables[tableNamesOf(name).rows]).toEqual(expectedRowsTable(name, w.bids, tables));
    expect(duplicates(tables[tableNamesOf(name).rows]!)).toEqual([]);
  });

  it('a cleanup that fails after a commit neither fails the batch nor hides what it committed', async () => {
    // Regression: a failed cleanup made the batch retry, which found its records applied and
    // returned no commit, no rows and no dead letters for a batch that had committed them.
    const w = workload({ malformedAt: 5 });
    const dir = tempRunDir();
    let failures = 0;
    const flaky = faultyStores(localCheckpointStores(dir), {
      beforeCall: (call) => {
        if (call.store === 'checkpoints' && call.op === 'list') {
          failures++;
          throw new Error('503 Slow Down');
        }
      },
    });
    const processor = processorFor('max-price', flaky.stores, w, { keepCheckpoints: 2 });
    const outcome = await processor.process(w.events[0]!);

    expect(failures).toBeGreaterThan(0);
    expect(outcome.commits).toHaveLength(1);
    expect(outcome.deadLetters).toHaveLength(1);
    expect(outcome.metrics.redelivered).toBe(0);
  });
});

// --- Restarts ----------------------------------------------------------------------------------

describe('restarts', () => {
  it.each(['bids-per-auction', 'bidder-sessions'] as const)(
    '%s: a new processor over the same stores (a new deployment or function version) resumes without duplicating',
    async (name) => {
      const w = workload();
      const dir = tempRunDir();
      const old = processorFor(name, localCheckpointStores(dir), w);
      for (const event of w.events.slice(0, 4)) await old.process(event);
      // Redeployed: new code objects, new caches, the same stores; the source starts over.
      const next = processorFor(name, localCheckpointStores(dir), w, { maxAttempts: 3 });
      await runToEnd(next, w.events);
      expect((await next.committed()).totals.records).toBe(w.bids.length);
      await expectReference(name, dir, w.bids);
    },
  );

  it('a fresh state directory writing into an existing warehouse appends its own snapshots instead of taking them for its own', async () => {
    const w = workload();
    const first = tempRunDir();
    await runToEnd(processorFor('channel-revenue', localCheckpointStores(first), w), w.events);
    const table = tableNamesOf('channel-revenue').rows;
    const { catalog, warehouse } = runDirectory(first);
    const before = (await loadTable(catalog, warehouse, table))!.metadata.snapshots;

    // New heads and checkpoints, the same tables: the same (group, epoch) pairs again.
    const fresh = runDirectory(tempRunDir());
    const stores: CheckpointStores = {
      heads: fresh.heads,
      checkpoints: fresh.checkpoints,
      warehouse,
      catalog,
    };
    await runToEnd(processorFor('channel-revenue', stores, w), w.events);

    const after = (await loadTable(catalog, warehouse, table))!.metadata.snapshots;
    expect(after).toHaveLength(2 * before.length);
    const lineages = new Set(after.map((s) => s.summary['floe.lineage']));
    expect(lineages.size).toBe(2);
    const ids = new Set(after.map((s) => s.snapshotId));
    expect(ids.size).toBe(after.length);
    // The second run's rows are there too: the data was not silently dropped as "already published".
    const reference = referenceRows('channel-revenue', w.bids);
    expect((await tablesOf(first))[table]).toEqual([...reference, ...reference].sort());
  });
});

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
