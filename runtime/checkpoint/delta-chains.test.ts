/**
 * State deltas in the commit protocol: a cold load from a base and its deltas continues exactly
 * as the warm process does, bases are rewritten by the rule of state-delta.ts, and cleanup keeps
 * every object a kept manifest's chains name.
 */
import { describe, expect, it } from 'vitest';
import { localCheckpointStores } from '../../adapters/local/run-directory.ts';
import type { ExampleName } from '../../examples/index.ts';
import {
  processorFor,
  recordingCommits,
  runToEnd,
  tablesOf,
  tempRunDir,
  workload,
} from '../../test/support/checkpoint-runs.ts';
import { newPartitionState } from '../engine/state.ts';
import { encodePartition } from '../engine/state-codec.ts';
import type { CheckpointStores } from '../stores/checkpoint-stores.ts';
import { copyPartition } from './committed-state.ts';
import { manifestPrefix, parseEpochAttempt, statePrefix } from './layout.ts';
import { type CheckpointManifest, decodeManifest } from './manifest.ts';

const EXAMPLES: readonly ExampleName[] = [
  'bids-per-auction',
  'hot-items',
  'bidder-sessions',
  'channel-revenue',
  'max-price',
];

/** State in objects, which these tests are about (small state is kept in the manifest by default). */
const IN_OBJECTS = { maxInlineStateChars: 0 };

async function manifestsOf(stores: CheckpointStores, prefix: string): Promise<CheckpointManifest[]> {
  const keys = (await stores.checkpoints.list(prefix)).sort();
  return Promise.all(keys.map(async (key) => decodeManifest((await stores.checkpoints.get(key))!, key)));
}

/** The stores, recording the key of every checkpoint object read. */
function readsOf(stores: CheckpointStores, keys: string[]): CheckpointStores {
  const inner = stores.checkpoints;
  const checkpoints = new Proxy(inner, {
    get(target, property) {
      if (property === 'get')
        return (key: string) => {
          keys.push(key);
          return target.get(key);
        };
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { ...stores, checkpoints };
}

async function sizeOf(stores: CheckpointStores, key: string): Promise<number> {
  return (await stores.checkpoints.get(key))!.length;
}

describe('state deltas and bases', () => {
  it.each(EXAMPLES)(
    '%s: a cold load of every batch from base and deltas continues exactly like the warm process',
    async (name) => {
      const w = workload({ count: 400 });
      const warmDir = tempRunDir();
      await runToEnd(processorFor(name, localCheckpointStores(warmDir), w, IN_OBJECTS), w.events);

      // A new processor (a cold container) for every batch and for the drain.
      const coldDir = tempRunDir();
      const recorded = recordingCommits(localCheckpointStores(coldDir), name);
      const stores = recorded.stores;
      for (const event of w.events) await processorFor(name, stores, w, IN_OBJECTS).process(event);
      await processorFor(name, stores, w, IN_OBJECTS).drain();

      expect(await tablesOf(coldDir)).toEqual(await tablesOf(warmDir));
      // The cold loads did read deltas.
      const manifests = (
        await Promise.all(
          ['job', ...w.partitions.map((p) => `${p.topic}-${p.partition}`)].map((g) => recorded.manifests(g)),
        )
      ).flat();
      expect(manifests.some((m) => Object.values(m.partitions).some((p) => p.deltas.length > 0))).toBe(true);
    },
  );

  it('a caught-up partition is a new object with its own maps, holding the same state', () => {
    const p = newPartitionState('bids', 2);
    Object.assign(p, { offset: 41, maxTimestamp: 900, watermark: 800, lastActiveAt: 5, idle: true });
    p.windows.set(1_000, new Map([['a', { count: 3 }]]));
    p.sessions.set('b', [{ start: 0, end: 10, acc: 1 }]);
    p.seenIds.set('id-1', 1_500);
    const copy = copyPartition(p);
    expect(copy).not.toBe(p);
    expect(Object.keys(copy)).toEqual(Object.keys(p));
    expect(encodePartition(copy)).toBe(encodePartition(p));
    expect(copy.windows).not.toBe(p.windows);
    expect(copy.windows.get(1_000)).not.toBe(p.windows.get(1_000));
    expect(copy.sessions).not.toBe(p.sessions);
    expect(copy.sessions.get('b')).not.toBe(p.sessions.get('b'));
    expect(copy.seenIds).not.toBe(p.seenIds);
  });

  it.each([
    // Its state changes little per batch: long delta chains.
    ['bidder-sessions', true],
    // Most of a partition's state changes every batch: a base every commit or two.
    ['bids-per-auction', false],
  ] as const)(
    '%s: processes taking turns on one group catch up with the deltas committed since and end with the same tables (fewer bases read: %s)',
    async (name, fewerBases) => {
      const w = workload({ count: 600 });
      const warmDir = tempRunDir();
      await runToEnd(processorFor(name, localCheckpointStores(warmDir), w, IN_OBJECTS), w.events);

      // Two warm processes (two Lambda containers) on one store, each event to the next in turn:
      // each load finds its own state a commit behind the other's.
      const turnsDir = tempRunDir();
      const turnsReads: string[] = [];
      const turnsStores = readsOf(localCheckpointStores(turnsDir), turnsReads);
      const processes = [0, 1].map(() => processorFor(name, turnsStores, w, IN_OBJECTS));
      for (const [i, event] of w.events.entries()) await processes[i % 2]!.process(event);
      await processes[w.events.length % 2]!.drain();
      expect(await tablesOf(turnsDir)).toEqual(await tablesOf(warmDir));

      // The same with a new process for every event: every load reads each partition's base and
      // all its deltas.
      const coldDir = tempRunDir();
      const coldReads: string[] = [];
      const coldStores = readsOf(localCheckpointStores(coldDir), coldReads);
      for (const event of w.events) await processorFor(name, coldStores, w, IN_OBJECTS).process(event);
      await processorFor(name, coldStores, w, IN_OBJECTS).drain();
      expect(await tablesOf(coldDir)).toEqual(await tablesOf(warmDir));

      const bases = (keys: string[]) =>
        keys.filter((k) => k.includes('/state/') && !k.endsWith('.delta.json'));
      const deltas = (keys: string[]) => keys.filter((k) => k.endsWith('.delta.json'));
      // Bases are read only where a new base was written since (or at the first load), and deltas
      // only from the one after the reader's own last.
      if (fewerBases) {
        expect(bases(turnsReads).length).toBeLessThan(bases(coldReads).length / 2);
        expect(deltas(turnsReads).length).toBeLessThan(deltas(coldReads).length);
      } else {
        expect(bases(turnsReads).length).toBeLessThanOrEqual(bases(coldReads).length);
        expect(deltas(turnsReads).length).toBeLessThanOrEqual(deltas(coldReads).length);
      }
    },
  );

  it.each([
    ['bidder-sessions', 'count'],
    ['bids-per-auction', 'bytes'],
  ] as const)(
    '%s: writes a new base once the deltas would outnumber maxDeltas or outweigh the base (here: %s)',
    async (name, rule) => {
      const maxDeltas = 3;
      const w = workload({ count: 600 });
      const recorded = recordingCommits(localCheckpointStores(tempRunDir()), name);
      const stores = recorded.stores;
      const processor = processorFor(name, stores, w, {
        maxDeltas,
        keepCheckpoints: 10,
        cleanupEvery: 5_000,
        ...IN_OBJECTS,
      });
      await runToEnd(processor, w.events);
      const rewritten = { count: 0, bytes: 0 };
      let deltasSeen = 0;
      for (const { group } of (await processor.committed()).groups) {
        // Every commit's manifest, those kept only in the head included.
        const manifests = await recorded.manifests(group);
        expect(manifests.map((m) => m.epoch)).toEqual(manifests.map((_, i) => i + 1));
        let previous: CheckpointManifest | undefined;
        for (const m of manifests) {
          for (const [id, p] of Object.entries(m.partitions)) {
            const before = previous?.partitions[id];
            expect(p.deltas.length).toBeLessThanOrEqual(maxDeltas);
            // Deltas since the base never outweigh it.
            const deltaBytes = (await Promise.all(p.deltas.map((k) => sizeOf(stores, k)))).reduce(
              (a, b) => a + b,
              0,
            );
            expect(deltaBytes).toBeLessThanOrEqual(await sizeOf(stores, p.state));
            for (const key of [p.state, ...p.deltas]) expect(parseEpochAttempt(key)).toBeDefined();
            if (before === undefined) continue;
            if (p.state !== before.state) {
              // A new base of this commit, with no deltas yet.
              expect(p.deltas).toEqual([]);
              expect(parseEpochAttempt(p.state)!.epoch).toBe(m.epoch);
              rewritten[before.deltas.length === maxDeltas ? 'count' : 'bytes']++;
            } else if (p.deltas.length !== before.deltas.length) {
              // One more delta, of this commit, on the same chain.
              expect(p.deltas.slice(0, -1)).toEqual(before.deltas);
              expect(p.deltas.at(-1)).toMatch(/\.delta\.json$/);
              expect(parseEpochAttempt(p.deltas.at(-1)!)!.epoch).toBe(m.epoch);
              deltasSeen++;
            } else {
              expect(p.deltas).toEqual(before.deltas); // unchanged partition
            }
          }
          previous = m;
        }
      }
      expect(deltasSeen).toBeGreaterThan(0);
      expect(rewritten[rule]).toBeGreaterThan(0);
    },
  );

  it('with the default delta limits, cleanup keeps every base and delta a kept manifest names and nothing else', async () => {
    const name = 'bidder-sessions';
    const w = workload({ count: 600 });
    const stores = localCheckpointStores(tempRunDir());
    const processor = processorFor(name, stores, w, { keepCheckpoints: 2, cleanupEvery: 1, ...IN_OBJECTS });
    await runToEnd(processor, w.events);
    await processor.cleanup();
    const manifests = await manifestsOf(stores, manifestPrefix(name, 'job'));
    expect(manifests).toHaveLength(2);
    const named = new Set(
      manifests.flatMap((m) => Object.values(m.partitions).flatMap((p) => [p.state, ...p.deltas])),
    );
    expect((await stores.checkpoints.list(statePrefix(name, 'job'))).sort()).toEqual([...named].sort());
    // And a cold process still loads the head's chains.
    const cold = processorFor(name, stores, w);
    expect((await cold.drain()).commits).toEqual([]);
  });
});
