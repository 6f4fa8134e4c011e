/**
 * What a user of the commit protocol relies on: redeliveries, racing and stale invocations,
 * restarts, draining, side outputs and cleanup leave the Iceberg tables exactly as one clean run
 * would, which for the examples is the brute-force reference of test/support/nexmark-reference.ts.
 * Crash points call by call are in fault-injection.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { localCheckpointStores, runDirectory } from '../../adapters/local/run-directory.ts';
import type { ExampleName } from '../../examples/index.ts';
import {
  exampleJob,
  MALFORMED_VALUE,
  processorFor,
  referenceRows,
  runToEnd,
  TOPIC,
  tableNamesOf,
  tablesOf,
  tempRunDir,
  workload,
} from '../../test/support/checkpoint-runs.ts';
import { faultyStores, SimulatedCrash } from '../../test/support/faulty-stores.ts';
import { readRunTables } from '../../test/support/iceberg-tables.ts';
import {
  eventsWithRows,
  expectReference,
  headOf,
  heldAt,
  isHeadWrite,
  merged,
  overlappingBatch,
  PUBLISH_SWAP,
  racingInvocations,
  recordsOf,
  recutRedelivery,
  redeliveredBatch,
  snapshotCounts,
  stallAt,
  zombieAfterCleanup,
  zombieHeadWrite,
} from '../../test/support/protocol-scenarios.ts';
import { localLocation, localStoreFactory } from '../../test/support/store-locations.ts';
import { kafkaEvent } from '../event-source-mapping/event-builder.ts';
import { appendFiles, loadTable } from '../iceberg/append-files.ts';
import type { KafkaEvent, KafkaEventRecord } from '../source/kafka-event.ts';
import type { CheckpointStores } from '../stores/checkpoint-stores.ts';
import { manifestPrefix, parseEpochAttempt, statePrefix } from './layout.ts';
import { decodeManifest } from './manifest.ts';

const JOB_GROUP_EXAMPLES: readonly ExampleName[] = ['channel-revenue', 'max-price', 'bidder-sessions'];

// --- Redelivery ----------------------------------------------------------------------------

describe('redelivery', () => {
  it.each(['bids-per-auction', 'channel-revenue'] as const)(
    '%s: a redelivered batch commits nothing and changes no table, warm or cold',
    async (name) => {
      await redeliveredBatch(name, localStoreFactory);
    },
  );

  it.each(['bids-per-auction', 'channel-revenue'] as const)(
    '%s: an overlapping batch (offsets 0-49, then 25-74) commits only the records after 49',
    async (name) => {
      await overlappingBatch(name, localStoreFactory);
    },
  );

  it.each(['bids-per-auction', 'channel-revenue', 'bidder-sessions'] as const)(
    '%s: a redelivery cut into different batches than the first delivery gives the same tables',
    async (name) => {
      await recutRedelivery(name, localStoreFactory);
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
      await racingInvocations(name, localStoreFactory);
    },
  );

  it.each(['bids-per-auction', 'channel-revenue'] as const)(
    '%s: a zombie that read the head before a newer commit cannot overwrite it: its conditional write fails, it reloads and skips',
    async (name) => {
      await zombieHeadWrite(name, localStoreFactory);
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

  it('a publish round that lands after another process already published the batch and moved on adds nothing', async () => {
    const w = workload();
    const dir = tempRunDir();
    const i = (await eventsWithRows('max-price', w)).find((e) => e >= 2)!;
    // A publishes after every commit (interval 0), and its round for batch i is held at the swap.
    const { pending, log, release } = await heldAt('max-price', localLocation(dir), w, i, PUBLISH_SWAP, {
      publishIntervalMs: 0,
    });
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
    const { pending, release } = await heldAt('max-price', localLocation(dir), w, i, PUBLISH_SWAP, {
      publishIntervalMs: 0,
    });
    // Another process publishes A's batch, then many more (a round each): A's snapshot expires.
    await runToEnd(
      processorFor('max-price', localCheckpointStores(dir), w, { publishIntervalMs: 0 }),
      w.events,
    );
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
      // Every commit published before process() returns.
      const processor = processorFor(name, localCheckpointStores(dir), w, { publishIntervalMs: 0 });
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

/** State in objects (small state is kept in the manifest by default): what these cleanups delete. */
const STATE_OBJECTS = { maxInlineStateChars: 0 };

describe('cleanup', () => {
  it.each(['bids-per-auction', 'channel-revenue'] as const)(
    '%s: keeps keepCheckpoints manifests per group and only the state they name; the tables still read fully',
    async (name) => {
      const w = workload({ batchSize: 20 });
      const dir = tempRunDir();
      const stores = localCheckpointStores(dir);
      const processor = processorFor(name, stores, w, {
        keepCheckpoints: 3,
        cleanupEvery: 1,
        ...STATE_OBJECTS,
      });
      await runToEnd(processor, w.events);
      // The end of the run published everything (drain); cleanup may now go down to keepCheckpoints.
      await processor.cleanup();

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

  it('a group cleans up every cleanupEvery commits (64 by default), or once it wrote cleanupAfterBytes of state', async () => {
    const w = workload({ count: 600, batchSize: 20 });
    const cleanups = async (options: { cleanupEvery?: number; cleanupAfterBytes?: number }) => {
      const faulty = faultyStores(localCheckpointStores(tempRunDir()));
      const processor = processorFor('bids-per-auction', faulty.stores, w, { ...options, ...STATE_OBJECTS });
      for (const event of w.events) await processor.process(event);
      const epochs = (await processor.committed()).groups.map((g) => g.epoch);
      // A cleanup lists the group's state folder; nothing else does.
      const lists = faulty.log.filter((c) => c.op === 'list' && c.key.includes('/state/')).length;
      // Data files (one LIST a table) only every 8th cleanup: they are the one folder that grows.
      const dataFileLists = faulty.log.filter((c) => c.op === 'list' && c.key.includes('/data/')).length;
      return { lists, dataFileLists, epochs };
    };
    const byDefault = await cleanups({});
    expect(Math.max(...byDefault.epochs)).toBeLessThan(64);
    expect(byDefault.lists).toBe(0);
    const every4 = await cleanups({ cleanupEvery: 4 });
    expect(every4.lists).toBe(every4.epochs.reduce((sum, e) => sum + Math.floor(e / 4), 0));
    const tables = 3; // rows, late records, dead letters
    expect(every4.dataFileLists).toBe(tables * every4.epochs.reduce((sum, e) => sum + Math.floor(e / 32), 0));
    const every1 = await cleanups({ cleanupEvery: 1 });
    expect(every1.lists).toBe(every1.epochs.reduce((sum, e) => sum + e, 0));
    expect(every1.dataFileLists).toBe(tables * every1.epochs.reduce((sum, e) => sum + Math.floor(e / 8), 0));
    expect(every1.dataFileLists).toBeGreaterThan(0);
    // Every commit writes state here, so each one is over a 1-byte budget.
    const byBytes = await cleanups({ cleanupAfterBytes: 1 });
    expect(byBytes.lists).toBe(byBytes.epochs.reduce((sum, e) => sum + e, 0));
  });

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
      cleanupEvery: 1,
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
    // Rows in data files (not in the manifest), so that an attempt stages one.
    const options = {
      clock: () => now,
      orphanGraceMs: grace,
      keepCheckpoints: 3,
      cleanupEvery: 1,
      maxInlineRowsChars: 0,
    };
    const withRows = await eventsWithRows('channel-revenue', w);
    const i = withRows.find((e) => e >= 2)!;
    const ok = processorFor('channel-revenue', stores, w, options);
    for (const event of w.events.slice(0, i)) await ok.process(event);

    /** Processes the event with a process that dies just before its head write; returns what it left. */
    const crashOn = async (event: KafkaEvent): Promise<string[]> => {
      const faulty = faultyStores(localCheckpointStores(dir), {
        beforeCall: (call) => {
          if (isHeadWrite(call)) throw new SimulatedCrash('killed');
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
    const options = { keepCheckpoints: 2, cleanupEvery: 1, ...STATE_OBJECTS };
    await processorFor('channel-revenue', stores, w, options).process(w.events[0]!);
    // Hold the load between reading the manifest and reading the state it names.
    const slow = stallAt(
      localCheckpointStores(dir),
      (call) => call.store === 'checkpoints' && call.op === 'get' && call.key.includes('/state/'),
    );
    const cold = processorFor('channel-revenue', slow.stores, w, options);
    const pending = cold.process(w.events[1]!);
    await slow.held;
    const other = processorFor('channel-revenue', stores, w, options);
    for (const event of w.events.slice(0, 6)) await other.process(event);
    slow.release();

    const outcome = await pending;
    expect(outcome.commits).toEqual([]);
    expect(slow.log.some((c) => c.op === 'get' && c.key.includes('/state/') && c.outcome === 'ok')).toBe(
      true,
    );
    await runToEnd(other, w.events);
    await expectReference('channel-revenue', dir, w.bids);
  });

  it('fences the head before deleting an abandoned attempt, so the attempt cannot commit if it was only stalled', () =>
    zombieAfterCleanup('max-price', localStoreFactory));

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
    const processor = processorFor('max-price', flaky.stores, w, { keepCheckpoints: 2, cleanupEvery: 1 });
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
