/**
 * The table committer (committer.ts, docs/design.md "The table committer"): commits of many commit
 * groups published in rounds, one snapshot per table per round, exactly once, whatever happens to
 * a round: a crash or a transient failure at every I/O call of it, two rounds racing, a commit
 * during a round, a zombie round after a newer one (also after cleanup removed what it was about
 * to read), concurrent invocations contending for the lease; and cleanup never removes what a
 * round still needs.
 */
import { describe, expect, it } from 'vitest';
import { localCheckpointStores } from '../../adapters/local/run-directory.ts';
import {
  cleanRun,
  processorFor,
  recordingCommits,
  runToEnd,
  tableNamesOf,
  tablesOf,
  tempRunDir,
  type Workload,
  workload,
} from '../../test/support/checkpoint-runs.ts';
import { causedBy, difference, sweepWith, type Tables } from '../../test/support/fault-sweep.ts';
import { type Fault, faultyStores, type OpRecord, SimulatedCrash } from '../../test/support/faulty-stores.ts';
import {
  barrier,
  expectReference,
  headOf,
  snapshotCounts,
  stallAt,
} from '../../test/support/protocol-scenarios.ts';
import { localLocation, type StoreLocation } from '../../test/support/store-locations.ts';
import { loadTable } from '../iceberg/append-files.ts';
import type { CheckpointStores } from '../stores/checkpoint-stores.ts';
import type { RoundReport } from './checkpointed-processor.ts';
import { CheckpointReader } from './committed-state.ts';
import { readCommitterItem } from './committer-item.ts';
import { manifestPrefix, parseEpochAttempt } from './layout.ts';
import { type CheckpointManifest, decodeManifest, EARLIER_MANIFESTS } from './manifest.ts';

const NAME = 'bids-per-auction';
const HOUR = 3_600_000;
/** Six partitions, so six commit groups, with late records (a third table). */
const W = workload({ count: 480, partitions: 6, batchSize: 20, maxDisorderMs: 20_000 });
/** Events committed before the round under test: every group has several unpublished epochs. */
const SPLIT = 6;

const names = tableNamesOf(NAME);
const isCommitterWrite = (call: OpRecord) =>
  call.store === 'heads' && call.op === 'put' && call.key.endsWith('/committer');
const isWrite = (call: OpRecord) => call.op === 'put' || call.op === 'delete' || call.op === 'swap';

/** The tables after a clean processor committed the first `n` events and published (no drain). */
const prefixes = new Map<number, Promise<Tables>>();
function prefixTables(n: number, w: Workload = W): Promise<Tables> {
  if (!prefixes.has(n) || w !== W) {
    const run = (async () => {
      const dir = tempRunDir();
      const p = processorFor(NAME, localCheckpointStores(dir), w, { publishIntervalMs: 0 });
      for (const event of w.events.slice(0, n)) await p.process(event);
      await p.publish();
      return tablesOf(dir);
    })();
    if (w !== W) return run;
    prefixes.set(n, run);
  }
  return prefixes.get(n)!;
}

let full: Promise<Tables> | undefined;
/** The tables of a clean run of every event, drained. */
function fullTables(): Promise<Tables> {
  full ??= cleanRun(NAME, W).then(({ dir }) => tablesOf(dir));
  return full;
}

/**
 * A fresh run directory where a processor that publishes only every hour committed the first
 * SPLIT events (its first commit ran a round: the committer item exists, epoch 1 is published).
 * Every group then has SPLIT - 1 committed epochs no round published. (Made afresh each time:
 * data file URIs are absolute, so a copy of a directory would point into the original.)
 */
async function prepared(): Promise<StoreLocation> {
  const dir = tempRunDir();
  const a = processorFor(NAME, localCheckpointStores(dir), W, { publishIntervalMs: HOUR });
  for (const event of W.events.slice(0, SPLIT)) await a.process(event);
  return localLocation(dir);
}

/** The keys of the manifests in the checkpoint store whose epoch passes `wanted`, over every group. */
async function storedManifests(
  location: StoreLocation,
  wanted: (epoch: number) => boolean,
): Promise<string[]> {
  const stores = location.open();
  const groups = W.partitions.map((p) => `${p.topic}-${p.partition}`);
  const keys = await Promise.all(groups.map((g) => stores.checkpoints.list(manifestPrefix(NAME, g))));
  return keys.flat().filter((key) => wanted(parseEpochAttempt(key)!.epoch));
}

async function snapshotsOf(stores: CheckpointStores, table: string) {
  return (await loadTable(stores.catalog, stores.warehouse, table))?.metadata.snapshots ?? [];
}

describe('publish rounds', () => {
  it('publish every group once per interval, as one snapshot per table per round: rows exactly once', async () => {
    const dir = tempRunDir();
    const stores = localCheckpointStores(dir);
    let now = 1_000_000;
    const p = processorFor(NAME, stores, W, { clock: () => now, publishIntervalMs: 10_000 });
    const rounds: RoundReport[] = [];
    let commits = 0;
    for (const event of W.events) {
      now += 2_000;
      const outcome = await p.process(event);
      commits += outcome.commits.length;
      if (outcome.round?.ran) rounds.push(outcome.round);
    }
    const end = await p.drain();
    commits += end.commits.length;
    rounds.push(end.round!);

    // A round every 5 events or so (10 s at 2 s an event), each covering all six groups.
    expect(rounds.length).toBeGreaterThan(3);
    expect(rounds.length).toBeLessThan(W.events.length / 3);
    expect(commits).toBeGreaterThan(4 * rounds.length);
    for (const table of Object.values(names)) {
      const appended = rounds.flatMap((r) => r.snapshots.filter((s) => s.table === table));
      // At most one snapshot per table per round, and the table holds exactly those.
      for (const r of rounds)
        expect(r.snapshots.filter((s) => s.table === table).length).toBeLessThanOrEqual(1);
      const snapshots = await snapshotsOf(stores, table);
      expect(snapshots.map((s) => String(s.snapshotId))).toEqual(appended.map((s) => s.snapshotId));
    }
    const rows = await snapshotsOf(stores, names.rows);
    expect(rows.some((s) => Number(s.summary['floe.commit-groups']) > 1)).toBe(true);
    await expectReference(NAME, dir, W.bids);
    // Every group is recorded as published through its head.
    const item = (await readCommitterItem(stores.heads, NAME))!.value;
    for (const { group, epoch } of (await p.committed()).groups)
      expect(item.published[group]?.[1]).toBe(epoch);
  });

  it('run after a commit only once the interval has passed since the last round of any process', async () => {
    const dir = tempRunDir();
    let now = 1_000_000;
    const options = { clock: () => now, publishIntervalMs: 10_000 };
    const a = processorFor(NAME, localCheckpointStores(dir), W, options);
    const b = processorFor(NAME, localCheckpointStores(dir), W, options);
    const ran: boolean[] = [];
    for (const [i, step] of [0, 4_000, 4_000, 3_000, 1_000, 9_000, 2_000].entries()) {
      now += step;
      const outcome = await (i % 2 === 0 ? a : b).process(W.events[i]!);
      ran.push(outcome.round?.ran ?? false);
    }
    // 0 s: no round yet (a). 4, 8: not due. 11: due (b, which learns of a's round from the item).
    // 12: not due. 21: due. 23: not due.
    expect(ran).toEqual([true, false, false, true, false, true, false]);
    expect((await b.publish()).ran).toBe(true);
  });

  it('with an interval of 0, every commit is published before process() returns', async () => {
    const dir = tempRunDir();
    const p = processorFor(NAME, localCheckpointStores(dir), W, { publishIntervalMs: 0 });
    for (const [i, event] of W.events.slice(0, 8).entries()) {
      const outcome = await p.process(event);
      expect(outcome.round?.ran).toBe(true);
      expect(await tablesOf(dir)).toEqual(await prefixTables(i + 1));
    }
  });

  it('refuses a negative or fractional interval', () => {
    const stores = localCheckpointStores(tempRunDir());
    expect(() => processorFor(NAME, stores, W, { publishIntervalMs: -1 })).toThrow(/publishIntervalMs/);
    expect(() => processorFor(NAME, stores, W, { publishIntervalMs: 1.5 })).toThrow(/publishIntervalMs/);
  });

  it('a round after a commit that fails does not fail the batch; the next round publishes it', async () => {
    const dir = tempRunDir();
    let now = 1_000_000;
    let failing = false;
    const flaky = faultyStores(localCheckpointStores(dir), {
      beforeCall: (call) => {
        if (failing && call.store === 'catalog' && call.op === 'swap')
          throw new Error('503 Service Unavailable');
      },
    });
    const p = processorFor(NAME, flaky.stores, W, { clock: () => now, publishIntervalMs: 10_000 });
    for (const event of W.events.slice(0, 4)) await p.process(event);
    now += 20_000;
    failing = true;
    const outcome = await p.process(W.events[4]!);
    expect(outcome.commits.length).toBeGreaterThan(0);
    expect(outcome.round).toMatchObject({ ran: false, error: expect.stringMatching(/503/) });
    failing = false;
    expect((await p.publish()).snapshots.length).toBeGreaterThan(0);
    expect(await tablesOf(dir)).toEqual(await prefixTables(5));
  });
});

describe('a publish round under injected faults, at every call', () => {
  // A clean round over the prepared directory, by a new (cold) process, its calls counted.
  let clean: Promise<{
    log: readonly OpRecord[];
    before: Record<string, number>;
    after: Record<string, number>;
    stored: string[];
  }>;
  const cleanRound = () => {
    clean ??= (async () => {
      const location = await prepared();
      const before = await snapshotCounts(location.open());
      const stored = await storedManifests(location, (epoch) => epoch > 1);
      const faulty = faultyStores(location.open(), { serial: true });
      await processorFor(NAME, faulty.stores, W).publish();
      return { log: faulty.log, before, after: await snapshotCounts(location.open()), stored };
    })();
    return clean;
  };

  it('a clean round reads every group and appends one snapshot to each table', async () => {
    const { log, before, after, stored } = await cleanRound();
    for (const table of Object.keys(after)) expect(after[table]! - (before[table] ?? 0), table).toBe(1);
    // It read each stored manifest above the published mark (epoch 1) once: those that name data
    // files; the others lived only in their heads.
    expect(stored.length).toBeGreaterThan(3);
    const reads = log.filter((c) => c.op === 'get' && c.key.includes('/manifests/')).map((c) => c.key);
    expect(reads.sort()).toEqual(stored.sort());
    // Rows and late records (the workload has no dead letter); the late table may be created first.
    expect(Object.keys(after)).toHaveLength(2);
    expect(log.filter((c) => c.op === 'swap').length).toBeGreaterThanOrEqual(2);
    expect(log.filter(isCommitterWrite)).toHaveLength(1);
    expect(await tablesOf((await prepared()).open())).not.toEqual(await prefixTables(SPLIT));
  });

  /** Runs the round with the fault, then what comes after it: a restart, or the same process going on. */
  const faultRun = async (fault: Fault): Promise<string | undefined> => {
    const location = await prepared();
    const faulty = faultyStores(location.open(), { fault, serial: true });
    const fatal = 'crashBefore' in fault || 'lostResponse' in fault;
    const round = processorFor(NAME, faulty.stores, W, fatal ? { maxAttempts: 1 } : {});
    try {
      await round.publish();
    } catch (error) {
      if (!fatal || !causedBy(error, SimulatedCrash)) return `the round failed: ${String(error)}`;
    }
    await faulty.settled();
    if (!faulty.injected) return 'not reached';
    // After a crash a new process publishes (a later round); after a transient failure the
    // round retried in process. Either way a flush now must leave the prefix's tables, and the
    // rest of the input then the whole run's.
    const next = processorFor(NAME, location.open(), W);
    await next.publish();
    const prefix = difference(await prefixTables(SPLIT), await tablesOf(location.open()));
    if (prefix !== undefined) return `after the round: ${prefix}`;
    await runToEnd(next, W.events);
    return difference(await fullTables(), await tablesOf(location.open()));
  };

  it('a crash before each call, or after each write with its answer lost; then a later round: every row once', async () => {
    const { log } = await cleanRound();
    const faults = log.flatMap((call): Fault[] =>
      isWrite(call) ? [{ crashBefore: call.n }, { lostResponse: call.n }] : [{ crashBefore: call.n }],
    );
    expect(await sweepFaults(faults, faultRun)).toEqual([]);
  });

  it('a transient failure of each call (not performed, or a write performed with its answer lost), retried in process: every row once', async () => {
    const { log } = await cleanRound();
    const faults = log.flatMap((call): Fault[] =>
      isWrite(call) ? [{ failOnce: call.n }, { lostOnce: call.n }] : [{ failOnce: call.n }],
    );
    expect(await sweepFaults(faults, faultRun)).toEqual([]);
  });
});

/** Runs each fault on its own copy, 4 at a time; the failures, and a check that most were reached. */
function sweepFaults(faults: readonly Fault[], run: (fault: Fault) => Promise<string | undefined>) {
  return sweepWith(faults, run, { pool: 4, moreThan: 40 });
}

describe('rounds racing each other and commits', () => {
  it('two rounds racing on every table: one snapshot per table, every row once', async () => {
    const location = await prepared();
    const before = await snapshotCounts(location.open());
    // Each round holds its swap of a table until the other has reached its own swap of it.
    const meet = new Map<string, () => Promise<void>>();
    const holder = () => async (call: OpRecord) => {
      if (call.store !== 'catalog' || call.op !== 'swap') return;
      if (!meet.has(call.key)) meet.set(call.key, barrier(2));
      await meet.get(call.key)!();
    };
    const a = faultyStores(location.open(), { beforeCall: holder() });
    const b = faultyStores(location.open(), { beforeCall: holder() });
    const [ra, rb] = await Promise.all([
      processorFor(NAME, a.stores, W).publish(),
      processorFor(NAME, b.stores, W).publish(),
    ]);
    const after = await snapshotCounts(location.open());
    for (const table of Object.keys(after)) expect(after[table]! - (before[table] ?? 0), table).toBe(1);
    // Each table's snapshot was committed by one of them; the other re-read the marks and stopped.
    expect(ra.snapshots.length + rb.snapshots.length).toBe(Object.keys(after).length);
    expect(await tablesOf(location.open())).toEqual(await prefixTables(SPLIT));
    await runToEnd(processorFor(NAME, location.open(), W), W.events);
    expect(await tablesOf(location.open())).toEqual(await fullTables());
  });

  it('a group that commits during a round is published by the next one, not twice and not lost', async () => {
    const location = await prepared();
    // The round holds at its first table write: it has read the heads and the manifests.
    const slow = stallAt(location.open(), (call) => call.store === 'warehouse' && call.op === 'put');
    const pending = processorFor(NAME, slow.stores, W).publish();
    await slow.held;
    const stores = location.open();
    const committer = processorFor(NAME, stores, W, { publishIntervalMs: HOUR });
    for (const event of W.events.slice(SPLIT, SPLIT + 4))
      expect((await committer.process(event)).round?.ran).toBe(false);
    const heads = (await committer.committed()).groups;
    slow.release();
    await pending;

    // The round published what its heads named, and recorded no more than that.
    expect(await tablesOf(stores)).toEqual(await prefixTables(SPLIT));
    const item = (await readCommitterItem(stores.heads, NAME))!.value;
    for (const { group, epoch } of heads) expect(item.published[group]![1]).toBeLessThan(epoch);
    await committer.publish();
    expect(await tablesOf(stores)).toEqual(await prefixTables(SPLIT + 4));
  });

  it('a zombie round whose swap comes after a newer round published more adds nothing and moves no mark back', async () => {
    const location = await prepared();
    const slow = stallAt(location.open(), (call) => call.store === 'catalog' && call.op === 'swap');
    const zombie = processorFor(NAME, slow.stores, W).publish();
    await slow.held;
    const stores = location.open();
    const newer = processorFor(NAME, stores, W, {
      publishIntervalMs: HOUR,
      keepCheckpoints: 1,
      cleanupEvery: 1,
    });
    for (const event of W.events.slice(SPLIT, SPLIT + 4)) await newer.process(event);
    await newer.publish();
    await newer.cleanup();
    const marks = (await loadTable(stores.catalog, stores.warehouse, names.rows))!.metadata.properties;
    const item = (await readCommitterItem(stores.heads, NAME))!.value;
    slow.release();
    const report = await zombie;

    expect(report.snapshots.filter((s) => s.table !== names.rows).length).toBeLessThanOrEqual(2);
    const after = (await loadTable(stores.catalog, stores.warehouse, names.rows))!.metadata.properties;
    for (const [key, value] of Object.entries(marks)) {
      if (key.startsWith('floe.published.')) expect(Number(after[key])).toBeGreaterThanOrEqual(Number(value));
    }
    const itemAfter = (await readCommitterItem(stores.heads, NAME))!.value;
    for (const [group, [, epoch]] of Object.entries(item.published)) {
      expect(itemAfter.published[group]![1]).toBeGreaterThanOrEqual(epoch);
    }
    expect(await tablesOf(stores)).toEqual(await prefixTables(SPLIT + 4));
  });

  it('a zombie round that wakes up after a newer round published and cleanup removed the manifests it was about to read adds nothing', async () => {
    const location = await prepared();
    // Holds at its first manifest read: it has listed the heads.
    const slow = stallAt(
      location.open(),
      (call) => call.store === 'checkpoints' && call.op === 'get' && call.key.includes('/manifests/'),
    );
    const zombie = processorFor(NAME, slow.stores, W).publish();
    await slow.held;
    const stores = location.open();
    const newer = processorFor(NAME, stores, W, {
      publishIntervalMs: HOUR,
      keepCheckpoints: 1,
      cleanupEvery: 1,
    });
    for (const event of W.events.slice(SPLIT, SPLIT + 6)) await newer.process(event);
    await newer.publish();
    await newer.cleanup();
    slow.release();
    await zombie;
    expect(slow.log.some((c) => c.key.includes('/manifests/') && c.op === 'get')).toBe(true);
    expect(await tablesOf(stores)).toEqual(await prefixTables(SPLIT + 6));
  });

  it('of invocations that find a round due at once, one takes the lease and runs it; the others skip without error', async () => {
    const location = await prepared();
    let now = 1_000 + HOUR;
    const arrive = barrier(3);
    let racing = true;
    const processors = [0, 1, 2].map(() => {
      const f = faultyStores(location.open(), {
        beforeCall: async (call) => {
          if (racing && isCommitterWrite(call)) await arrive();
        },
      });
      return processorFor(NAME, f.stores, W, { clock: () => now, publishIntervalMs: HOUR });
    });
    // Each gets one partition's next batch, as three Lambda pollers would.
    const event = W.events[SPLIT]!;
    const perPartition = Object.entries(event.records).slice(0, 3);
    expect(perPartition).toHaveLength(3);
    const outcomes = await Promise.all(
      perPartition.map(([id, records], i) =>
        processors[i]!.process({ ...event, records: { [id]: records } }),
      ),
    );
    racing = false;
    expect(outcomes.map((o) => o.commits.length)).toEqual([1, 1, 1]);
    expect(outcomes.filter((o) => o.round?.ran)).toHaveLength(1);
    expect(outcomes.every((o) => o.round?.error === undefined)).toBe(true);
    now += 1;
    await processors[0]!.publish();
    await runToEnd(processors[1]!, W.events);
    expect(await tablesOf(location.open())).toEqual(await fullTables());
  });
});

describe('walking a long chain', () => {
  it(`a cold round reads a job group's unpublished manifests (more than ${EARLIER_MANIFESTS}) in waves of ${EARLIER_MANIFESTS}, each once: every row once`, async () => {
    const w = workload({ count: 700, batchSize: 10 });
    const dir = tempRunDir();
    const a = processorFor('channel-revenue', localCheckpointStores(dir), w, { publishIntervalMs: HOUR });
    for (const event of w.events) await a.process(event);
    const { epoch } = (await a.committed()).groups[0]!;
    // The stored ones: those naming data files, which the chain links.
    const stored = (
      await localCheckpointStores(dir).checkpoints.list(manifestPrefix('channel-revenue', 'job'))
    ).filter((key) => parseEpochAttempt(key)!.epoch > 1);
    expect(stored.length).toBeGreaterThan(EARLIER_MANIFESTS);
    let inFlight = 0;
    let most = 0;
    const cold = faultyStores(localCheckpointStores(dir), {
      beforeCall: async (call) => {
        if (call.key.includes('/manifests/')) {
          inFlight++;
          most = Math.max(most, inFlight);
          await new Promise((resolve) => setTimeout(resolve, 1));
          inFlight--;
        }
      },
    });
    const round = await processorFor('channel-revenue', cold.stores, w).publish();
    // Epoch 1 was published by the first commit's round.
    expect(round.epochs).toBe(epoch - 1);
    const reads = cold.log.filter((c) => c.op === 'get' && c.key.includes('/manifests/'));
    expect(reads.map((c) => c.key).sort()).toEqual(stored.sort());
    expect(most).toBeGreaterThanOrEqual(EARLIER_MANIFESTS / 2);
    await runToEnd(processorFor('channel-revenue', localCheckpointStores(dir), w), w.events);
    await expectReference('channel-revenue', dir, w.bids);
  });
});

describe('cleanup and unpublished epochs', () => {
  it('keeps every manifest, state object and data file above the published mark, whatever keepCheckpoints says', async () => {
    const dir = tempRunDir();
    const recorded = recordingCommits(localCheckpointStores(dir), NAME);
    const stores = recorded.stores;
    const reader = new CheckpointReader(stores.checkpoints, NAME);
    const keep = 2;
    const p = processorFor(NAME, stores, W, {
      publishIntervalMs: HOUR,
      keepCheckpoints: keep,
      cleanupEvery: 1,
    });
    for (const event of W.events.slice(0, 12)) await p.process(event);
    await p.cleanup();

    const item = (await readCommitterItem(stores.heads, NAME))!.value;
    const { groups } = await p.committed();
    expect(groups.length).toBe(6);
    let unpublished = 0;
    for (const { group, epoch } of groups) {
      const published = item.published[group]?.[1] ?? 0;
      const head = (await headOf(stores, NAME, group))!;
      // The chain from the head down to the published mark is complete, and all it names exists:
      // the head's manifest (kept in the head, or stored), then the stored ones.
      const top = await reader.manifestOf(NAME, group, head);
      let key: string | null = top.previous;
      const epochs: number[] = [];
      for (let m: CheckpointManifest | undefined = top; m !== undefined; ) {
        epochs.push(m.epoch);
        for (const part of Object.values(m.partitions)) {
          expect(part.inline !== undefined || part.state !== '').toBe(true);
          // State the manifest holds needs no object.
          for (const k of part.inline === undefined ? [part.state, ...part.deltas] : [])
            expect(await stores.checkpoints.get(k), k).toBeDefined();
        }
        for (const publish of m.publishes)
          for (const file of publish.files)
            expect(
              await stores.warehouse.get(stores.warehouse.keyOf(file.filePath)!),
              file.filePath,
            ).toBeDefined();
        const bytes = key === null ? undefined : await stores.checkpoints.get(key);
        m = bytes === undefined ? undefined : decodeManifest(bytes, key!);
        key = m?.previous ?? null;
      }
      // What the chain must still hold: the head's manifest and the stored ones after it, down to
      // the published mark and at least `keep` of them.
      const commits = await recorded.commits(group);
      const chain = commits.filter((c, i) => i === commits.length - 1 || !c.inline).reverse();
      const kept = chain.filter((c, i) => i < keep || c.manifest.epoch > published);
      expect(kept[0]!.manifest.epoch).toBe(epoch);
      expect(epochs.slice(0, kept.length), group).toEqual(kept.map((c) => c.manifest.epoch));
      unpublished += epoch - published;
      // Nothing at or below the mark is kept beyond keepCheckpoints.
      const listed = (await stores.checkpoints.list(manifestPrefix(NAME, group))).map(
        (k) => parseEpochAttempt(k)!.epoch,
      );
      expect(listed.sort((a, b) => b - a)).toEqual(
        kept.filter((c) => !c.inline).map((c) => c.manifest.epoch),
      );
    }
    expect(unpublished).toBeGreaterThan(20);

    await p.publish();
    await p.cleanup();
    for (const { group } of groups) {
      // `keep` manifests along the chain, of which the head's may be in the head only.
      const head = (await headOf(stores, NAME, group))!;
      const listed = await stores.checkpoints.list(manifestPrefix(NAME, group));
      expect(listed).toHaveLength(head.value.inline === undefined ? keep : keep - 1);
    }
    expect(await tablesOf(dir)).toEqual(await prefixTables(12));
  });
});
