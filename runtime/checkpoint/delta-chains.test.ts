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
import type { CheckpointStores } from '../stores/checkpoint-stores.ts';
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
