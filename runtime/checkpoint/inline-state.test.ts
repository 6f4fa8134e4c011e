/**
 * State kept in the manifest: a group whose state is small writes no state object, so a commit
 * without data files is one head write and a cold load reads only the head; a group whose state
 * outgrows `maxInlineStateChars` moves to state objects (a base for every partition) and comes
 * back at three quarters of it. Rows stay exactly the reference's throughout.
 */
import { describe, expect, it } from 'vitest';
import { localCheckpointStores } from '../../adapters/local/run-directory.ts';
import type { Bid } from '../../examples/nexmark/bid.ts';
import { bidRecord } from '../../examples/nexmark/topic.ts';
import {
  processorFor,
  recordingCommits,
  runToEnd,
  TOPIC,
  tempRunDir,
  type Workload,
  workload,
} from '../../test/support/checkpoint-runs.ts';
import { faultyStores } from '../../test/support/faulty-stores.ts';
import { expectReference } from '../../test/support/protocol-scenarios.ts';
import { eventBatches, kafkaEvent, produceToTopic } from '../event-source-mapping/event-builder.ts';
import { mulberry32 } from '../seeded-random.ts';
import { manifestPrefix, parseEpochAttempt, statePrefix } from './layout.ts';
import { type CheckpointManifest, decodeManifest } from './manifest.ts';
import { inlineStateChars } from './stage.ts';

/** Whether the manifest holds its partitions' state; throws if it holds only some of it. */
function holdsState(m: CheckpointManifest): boolean {
  const parts = Object.values(m.partitions);
  const inline = parts.filter((p) => p.inline !== undefined).length;
  if (inline !== 0 && inline !== parts.length)
    throw new Error(`epoch ${m.epoch}: ${inline} of ${parts.length} inline`);
  return inline > 0;
}

/** The state's size in the head, as the commit judged it. */
function inlineSize(m: CheckpointManifest): number {
  return inlineStateChars(new Map(Object.entries(m.partitions).map(([id, p]) => [id, p.inline!])));
}

const NAME = 'bids-per-auction';
const GROUP = `${TOPIC}-0`;
/** Between the state's smallest (a window just fired) and largest size in {@link growingAndFiring}. */
const MAX = 900;

/**
 * One partition of bids-per-auction whose state grows and shrinks: each 10 s window gets 100 bids
 * on random auctions (none twice), so the state grows by a key a bid and loses a window's keys
 * when it fires.
 */
function growingAndFiring(partitions = 1): Workload {
  const random = mulberry32(7);
  const bids: Bid[] = [];
  for (let window = 0; window < 5; window++)
    for (let i = 0; i < 100; i++) {
      // Random ids, so that brotli cannot fold a window's keys into a run.
      const auction = 1 + Math.floor(random() * 1e9);
      const dateTime = 1_700_000_000_000 + window * 10_000 + i * 100;
      const bidder = 1 + Math.floor(random() * 1e9);
      bids.push({ auction, bidder, price: 100 + i, channel: 'Google', url: '', dateTime, extra: '' });
    }
  const log = produceToTopic(bids.map(bidRecord), { topic: TOPIC, partitions });
  return {
    bids,
    log,
    // One partition an event: a job group's batch then changes one partition's state.
    events: [...eventBatches(log, { batchSize: 10 * partitions })].flatMap((event) =>
      Object.values(event.records).map((records) => kafkaEvent(records)),
    ),
    partitions: log.partitions.map((_, partition) => ({ topic: TOPIC, partition })),
  };
}

describe('state in the manifest', () => {
  it.each(['max-price', 'channel-revenue'] as const)(
    '%s: small state writes no state object, and a cold process for every batch reads nothing but heads and stored manifests',
    async (name) => {
      const w = workload({ count: 400, batchSize: 20 });
      const dir = tempRunDir();
      const recorded = recordingCommits(localCheckpointStores(dir), name);
      const faulty = faultyStores(recorded.stores);
      // A new processor (a cold container) for every batch and for the drain.
      for (const event of w.events) await processorFor(name, faulty.stores, w).process(event);
      await processorFor(name, faulty.stores, w).drain();

      const manifests = await recorded.manifests('job');
      expect(manifests.length).toBeGreaterThan(10);
      expect(manifests.every(holdsState)).toBe(true);
      const stateCalls = faulty.log.filter((c) => c.key.includes('/state/'));
      expect(stateCalls.map((c) => `${c.op} ${c.key}`)).toEqual([]);
      // A commit without data files wrote nothing but its head.
      const puts = faulty.log.filter((c) => c.op === 'put' && c.store === 'checkpoints');
      expect(puts.length).toBe(manifests.filter((m) => m.publishes.length > 0).length);
      await expectReference(name, dir, w.bids);
    },
  );

  it.each([
    // A partition group: the state of its one partition grows and fires away window by window.
    { name: 'bids-per-auction', partitions: 1, max: 900, group: GROUP },
    // The job group: sessions of random bidders pile up to a plateau, and the drain closes them;
    // a batch changes one partition, so a move to objects writes bases of unchanged ones too.
    { name: 'bidder-sessions', partitions: 3, max: 1400, group: 'job' },
  ] as const)(
    '$name: state that outgrows the limit moves to objects, a base for every partition, and comes back at three quarters of it; a cold load of every batch stays exact',
    async ({ name, partitions, max, group }) => {
      const w = growingAndFiring(partitions);
      const dir = tempRunDir();
      const recorded = recordingCommits(localCheckpointStores(dir), name);
      const options = { maxInlineStateChars: max, keepCheckpoints: 10_000, cleanupEvery: 10_000 };
      for (const event of w.events) await processorFor(name, recorded.stores, w, options).process(event);
      await processorFor(name, recorded.stores, w, options).drain();

      const manifests = await recorded.manifests(group);
      const moves = { out: 0, back: 0 };
      let before: CheckpointManifest | undefined;
      for (const m of manifests) {
        const inline = holdsState(m);
        const wasInline = before === undefined || holdsState(before);
        if (inline)
          expect(inlineSize(m), `epoch ${m.epoch}`).toBeLessThanOrEqual(wasInline ? max : (max * 3) / 4);
        if (!inline && wasInline) {
          moves.out++;
          // Every partition's state in a new base of this commit.
          expect(Object.keys(m.partitions)).toHaveLength(partitions);
          for (const p of Object.values(m.partitions)) {
            expect(p.deltas).toEqual([]);
            expect(parseEpochAttempt(p.state)?.epoch).toBe(m.epoch);
          }
        }
        if (inline && !wasInline) moves.back++;
        before = m;
      }
      expect(moves.out).toBeGreaterThan(partitions === 1 ? 1 : 0);
      expect(moves.back).toBeGreaterThan(0);
      await expectReference(name, dir, w.bids);
    },
  );

  it('one warm process through the same moves, then a cold drain: the reference rows', async () => {
    // The warm cache carries each partition's image and chain across the moves; the drain's cold
    // load reads what the warm commits wrote (bases, deltas diffed against those images, texts).
    const w = growingAndFiring(3);
    const dir = tempRunDir();
    const recorded = recordingCommits(localCheckpointStores(dir), 'bidder-sessions');
    const options = { maxInlineStateChars: 1400 };
    const warm = processorFor('bidder-sessions', recorded.stores, w, options);
    for (const event of w.events) await warm.process(event);
    const manifests = await recorded.manifests('job');
    expect(manifests.some(holdsState)).toBe(true);
    expect(manifests.some((m) => !holdsState(m))).toBe(true);
    await processorFor('bidder-sessions', recorded.stores, w, options).drain();
    await expectReference('bidder-sessions', dir, w.bids);
  });

  it('state stays in objects when the manifest would then not fit in the head, and goes into stored manifests when every manifest is stored', async () => {
    const w = workload({ count: 200, batchSize: 20 });
    const run = async (maxInlineManifestChars: number) => {
      const dir = tempRunDir();
      const recorded = recordingCommits(localCheckpointStores(dir), 'max-price');
      await runToEnd(processorFor('max-price', recorded.stores, w, { maxInlineManifestChars }), w.events);
      await expectReference('max-price', dir, w.bids);
      return recorded.commits('job');
    };
    // max-price's manifest with its state takes more than 300 characters in the head.
    const small = await run(300);
    expect(small.length).toBeGreaterThan(2);
    expect(small.some((c) => holdsState(c.manifest))).toBe(false);
    const never = await run(0);
    expect(never.every((c) => !c.inline && holdsState(c.manifest))).toBe(true);
  });

  it('a state that shrinks back only to between three quarters of the limit and the limit stays in objects', async () => {
    // After each window fires the state is about 600 characters, then it grows past 760 again.
    const w = growingAndFiring();
    const recorded = recordingCommits(localCheckpointStores(tempRunDir()), NAME);
    await runToEnd(processorFor(NAME, recorded.stores, w, { maxInlineStateChars: 760 }), w.events);
    const inline = (await recorded.manifests(GROUP)).map(holdsState);
    const moves = inline.filter((now, i) => i > 0 && now !== inline[i - 1]).length;
    // Out once, and back only with the drain, whose state is empty.
    expect(inline.indexOf(false)).toBeGreaterThan(0);
    expect(moves).toBe(2);
    expect(inline.at(-1)).toBe(true);
  });

  it('once the state is back in the manifest, cleanup deletes the state objects no kept manifest names', async () => {
    const w = growingAndFiring();
    const stores = localCheckpointStores(tempRunDir());
    const processor = processorFor(NAME, stores, w, { maxInlineStateChars: MAX, keepCheckpoints: 2 });
    await runToEnd(processor, w.events);
    await processor.cleanup();
    const objects = await stores.checkpoints.list(statePrefix(NAME, GROUP));
    const manifests = await Promise.all(
      (await stores.checkpoints.list(manifestPrefix(NAME, GROUP))).map(async (key) =>
        decodeManifest((await stores.checkpoints.get(key))!, key),
      ),
    );
    const named = manifests.flatMap((m) =>
      Object.values(m.partitions).flatMap((p) => (p.inline === undefined ? [p.state, ...p.deltas] : [])),
    );
    expect(objects.sort()).toEqual([...new Set(named)].sort());
  });

  it('a maxInlineStateChars a head could not hold, or a negative one, is a clear error', () => {
    const w = workload({ count: 20 });
    const stores = localCheckpointStores(tempRunDir());
    expect(() => processorFor('max-price', stores, w, { maxInlineStateChars: 70_000 })).toThrow(
      /maxInlineStateChars must be at most 65536/,
    );
    expect(() => processorFor('max-price', stores, w, { maxInlineStateChars: -1 })).toThrow(
      /maxInlineStateChars/,
    );
  });

  it('maxInlineStateChars 0 writes state objects as before', async () => {
    const w = workload({ count: 200, batchSize: 20 });
    const dir = tempRunDir();
    const recorded = recordingCommits(localCheckpointStores(dir), 'max-price');
    await runToEnd(processorFor('max-price', recorded.stores, w, { maxInlineStateChars: 0 }), w.events);
    const manifests = await recorded.manifests('job');
    expect(manifests.length).toBeGreaterThan(2);
    expect(manifests.some(holdsState)).toBe(false);
    await expectReference('max-price', dir, w.bids);
  });
});
