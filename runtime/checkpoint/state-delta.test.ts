import { describe, expect, it } from 'vitest';
import {
  countJob,
  cutIntoBatches,
  type Ev,
  eventTime,
  Harness,
  random,
  randomInt,
} from '../../test/support/engine-harness.ts';
import { referenceEncoding } from '../../test/support/reference-state-encoding.ts';
import type { AggregateFunction } from '../aggregates/aggregate-function.ts';
import { newPartitionState, type PartitionState, type SessionPartial } from '../engine/state.ts';
import { decodePartition, encodePartition } from '../engine/state-codec.ts';
import type { Key } from '../job/plan.ts';
import { mulberry32 } from '../seeded-random.ts';
import { EventTimeSessionWindows } from '../windows/session.ts';
import {
  applyDelta,
  diffPartition,
  encodeImage,
  imageOf,
  type PartitionImage,
  shouldWriteBase,
} from './state-delta.ts';

function generator(seed: number) {
  // Seeded, so a failing seed replays.
  const random = mulberry32(seed);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  // Keys of every type, some equal in text but not in type (1, 1n, '1', true).
  const key = (): Key =>
    pick<() => Key>([() => `k${int(12)}`, () => int(6), () => BigInt(int(6)), () => int(2) === 0])();
  const number = () =>
    pick([
      () => int(1000),
      () => -(1 + int(1000)) / 7, // not -0: JSON has none, so the codec stores it as 0
      () => Number.NEGATIVE_INFINITY,
      () => Number.POSITIVE_INFINITY,
    ])();
  const acc = (): unknown =>
    pick<() => unknown>([
      () => int(100),
      () => BigInt(int(1e6)) * 10n ** 20n,
      () => ({ count: BigInt(int(50)), max: number(), last: `s${int(9)}` }),
      () => [int(5), Number.NEGATIVE_INFINITY, null],
      () => null,
      // Plain JSON (the codec's fast path), and plain JSON that only looks like a tag or a null.
      () => ({ bids: int(9), totalPrice: int(1000) / 4, top: [`b${int(3)}`, true] }),
      () => ({ label: 'nullable "quoted" \\ text', max: number() }),
      () => ({ $bigint: String(int(9)), $number: 'NaN' }),
      () => ({ nested: { ratio: pick([Number.NaN, 0.5, -1e300]) } }),
    ])();
  const sessions = (): SessionPartial[] =>
    Array.from({ length: 1 + int(3) }, (_, i) => ({
      start: i * 100,
      end: i * 100 + 10 + int(50),
      acc: acc(),
    }));
  /** One random change, as the engine makes them (including deletes and re-adds, which reorder). */
  const mutate = (p: PartitionState): void => {
    switch (int(12)) {
      case 0:
        p.offset += 1 + int(20);
        p.maxTimestamp = Math.max(p.maxTimestamp, int(10_000));
        break;
      case 1:
        p.watermark = pick([Number.NEGATIVE_INFINITY, int(10_000), Number.POSITIVE_INFINITY]);
        p.lastActiveAt = pick([null, int(10_000)]);
        p.idle = !p.idle;
        break;
      case 2: {
        const end = 1000 * (1 + int(8));
        const byKey = p.windows.get(end) ?? new Map<Key, unknown>();
        p.windows.set(end, byKey);
        for (let i = int(4); i >= 0; i--) byKey.set(key(), acc());
        break;
      }
      case 3: {
        const end = pick([...p.windows.keys()]);
        if (end !== undefined) p.windows.delete(end);
        break;
      }
      case 4: {
        const byKey = pick([...p.windows.values()]);
        const k = byKey && pick([...byKey.keys()]);
        if (byKey && k !== undefined) {
          const value = byKey.get(k);
          byKey.delete(k);
          if (int(2) === 0) byKey.set(k, value); // deleted and added again: now last
        }
        break;
      }
      case 5: {
        // A window fired and opened again in the same batch: a new map under the same end.
        const end = pick([...p.windows.keys()]);
        if (end !== undefined) {
          p.windows.delete(end);
          p.windows.set(end, new Map([[key(), acc()]]));
        }
        break;
      }
      case 6:
        p.sessions.set(key(), sessions());
        break;
      case 7: {
        const k = pick([...p.sessions.keys()]);
        const list = k !== undefined ? p.sessions.get(k) : undefined;
        // Changed, as the engine changes a session: in a copy (see SessionPartial).
        if (list && list.length > 0) list[0] = { ...list[0]!, acc: acc() };
        break;
      }
      case 8: {
        const k = pick([...p.sessions.keys()]);
        if (k !== undefined) {
          const list = p.sessions.get(k)!;
          p.sessions.delete(k);
          if (int(2) === 0) p.sessions.set(k, list);
        }
        break;
      }
      case 9:
        p.seenIds.set(key(), int(10_000));
        break;
      case 10: {
        const k = pick([...p.seenIds.keys()]);
        if (k !== undefined) {
          p.seenIds.delete(k);
          if (int(2) === 0) p.seenIds.set(k, int(10_000));
        }
        break;
      }
      default: {
        const byKey = pick([...p.windows.values()]);
        const k = byKey && pick([...byKey.keys()]);
        if (byKey && k !== undefined) byKey.set(k, acc()); // an accumulator updated in place
      }
    }
  };
  return { int, mutate };
}

describe('state deltas', () => {
  it('apply(base, deltas) equals the live state exactly, order included, over random changes', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const { int, mutate } = generator(seed);
      const live = newPartitionState('bids', seed % 4);
      for (let i = int(30); i > 0; i--) mutate(live);
      const base = encodePartition(live);
      let image = imageOf(live);
      const deltas: string[] = [];
      for (let commit = 0; commit < 1 + int(12); commit++) {
        for (let i = int(6); i > 0; i--) mutate(live);
        const diff = diffPartition(image, live);
        if (!diff.changed) {
          expect(encodePartition(restore(base, deltas)), `seed ${seed}`).toBe(encodePartition(live));
          continue;
        }
        deltas.push(diff.text);
        image = diff.image;
        // A base assembled from the diff's image is the state's encoding, as first defined.
        expect(encodeImage(live, image), `seed ${seed}, commit ${commit}`).toBe(referenceEncoding(live));
        expect(encodePartition(live), `seed ${seed}, commit ${commit}`).toBe(referenceEncoding(live));
        const restored = restore(base, deltas);
        expect(restored, `seed ${seed}, commit ${commit}`).toEqual(live);
        // The codec's text is order-sensitive: the restored Maps iterate as the live ones.
        expect(encodePartition(restored), `seed ${seed}, commit ${commit}`).toBe(encodePartition(live));
      }
      // The image of the restored state is the one the diffs built: a cold load diffs the same.
      expect(diffPartition(imageOf(restore(base, deltas)), live).changed).toBe(false);
    }
  });

  it('is unchanged without changes, and otherwise holds only what changed', () => {
    const p = newPartitionState('bids', 0);
    const window = new Map<Key, unknown>();
    for (let i = 0; i < 1000; i++)
      window.set(`bidder-${i}`, { count: BigInt(i), max: Number.NEGATIVE_INFINITY });
    p.windows.set(10_000, window);
    for (let i = 0; i < 1000; i++) p.sessions.set(i, [{ start: i, end: i + 10, acc: i }]);
    const image = imageOf(p);
    expect(diffPartition(image, p).changed).toBe(false);

    window.set('bidder-7', { count: 8n, max: 3 });
    p.sessions.delete(5);
    p.offset = 41;
    const diff = diffPartition(image, p);
    expect(diff.changed).toBe(true);
    expect(diff.text.length).toBeLessThan(400);
    expect(encodePartition(p).length).toBeGreaterThan(50_000);
    expect(JSON.parse(diff.text)).toEqual({
      version: 2,
      delta: {
        scalars: {
          offset: 41,
          maxTimestamp: { $number: '-Infinity' },
          watermark: { $number: '-Infinity' },
          lastActiveAt: null,
          idle: false,
        },
        windows: {
          remove: [],
          set: [[10_000, { remove: [], set: [['bidder-7', { count: { $bigint: '8' }, max: 3 }]] }]],
        },
        sessions: { remove: [5], set: [] },
        seenIds: { remove: [], set: [] },
      },
    });
  });

  it('writes only the sessions that changed, and refers to the others by their place', () => {
    const p = newPartitionState('bids', 0);
    for (let key = 0; key < 500; key++)
      p.sessions.set(
        key,
        Array.from({ length: 8 }, (_, i) => ({
          start: i * 100,
          end: i * 100 + 10,
          acc: { bids: i, total: 7 },
        })),
      );
    const base = encodePartition(p);
    const image = imageOf(p);
    expect(diffPartition(image, p).changed).toBe(false);

    // Key 3: a session grew and another merged into it; key 4: a session ended; key 5: a new one.
    const three = p.sessions.get(3)!;
    three[2] = { start: 200, end: 300, acc: { bids: 9, total: 70 } };
    three.splice(3, 1);
    p.sessions.get(4)!.shift();
    p.sessions.get(5)!.push({ start: 900, end: 950, acc: { bids: 1, total: 1 } });
    const diff = diffPartition(image, p);
    expect(JSON.parse(diff.text).delta.sessions).toEqual({
      remove: [],
      set: [
        [3, [0, 1, [200, 300, { bids: 9, total: 70 }], 4, 5, 6, 7]],
        [4, [1, 2, 3, 4, 5, 6, 7]],
        [5, [0, 1, 2, 3, 4, 5, 6, 7, [900, 950, { bids: 1, total: 1 }]]],
      ],
    });
    expect(diff.text.length).toBeLessThan(400);
    expect(base.length).toBeGreaterThan(50_000);
    const restored = decodePartition(base);
    applyDelta(restored, diff.text);
    expect(encodePartition(restored)).toBe(encodePartition(p));
    expect(encodeImage(p, diff.image)).toBe(referenceEncoding(p));
  });

  it("applies deltas of version 1, which wrote every changed key's sessions in full", () => {
    const p = newPartitionState('bids', 0);
    p.sessions.set('a', [{ start: 0, end: 10, acc: 1 }]);
    p.sessions.set('b', [{ start: 5, end: 15, acc: 2 }]);
    const v1 = JSON.stringify({
      version: 1,
      delta: {
        scalars: { offset: 7, maxTimestamp: 20, watermark: 10, lastActiveAt: null, idle: false },
        windows: { remove: [], set: [] },
        sessions: {
          remove: ['b'],
          set: [
            ['a', [[0, 12, 3]]],
            ['c', [[1, 2, 4]]],
          ],
        },
        seenIds: { remove: [], set: [] },
      },
    });
    applyDelta(p, v1);
    expect([...p.sessions]).toEqual([
      ['a', [{ start: 0, end: 12, acc: 3 }]],
      ['c', [{ start: 1, end: 2, acc: 4 }]],
    ]);
    expect(p.offset).toBe(7);
  });

  it.each([
    ['keys spread over partitions (job scope)', false],
    ['keys that are the Kafka key (partition scope)', true],
  ] as const)(
    "a session job's deltas restore its live state after every batch, %s: the engine changes sessions in copies",
    (_, isKafkaKey) => {
      // Accumulators changed in place by add and merge (merge changes its second argument too),
      // and by getResult, which runs when a session fires and may be kept for allowed lateness;
      // an add and a merge that throw after changing them; out-of-order and late records. Some
      // diffs are skipped (several batches between two commits) and some thrown away (a failed
      // commit: the next diff is against a cold load of base + deltas).
      interface Totals {
        n: number;
        results: number;
      }
      const totals: AggregateFunction<Ev, Totals, number> = {
        createAccumulator: () => ({ n: 0, results: 0 }),
        add: (e, acc) => {
          acc.n += e.n ?? 0;
          if (e.n === 13) throw new Error('add failed halfway');
          return acc;
        },
        getResult: (acc) => {
          acc.results += 1;
          return acc.n;
        },
        merge: (a, b) => {
          a.n += b.n;
          b.results += 1;
          if (a.n % 17 === 0) throw new Error('merge failed halfway');
          a.results += b.results;
          return a;
        },
      };
      let deltasWritten = 0;
      let referred = 0;
      for (let seed = 1; seed <= 60; seed++) {
        const rnd = random(seed);
        const partitions = randomInt(rnd, 1, 3);
        const perPartition = Array.from({ length: partitions }, () =>
          Array.from({ length: randomInt(rnd, 0, 60) }, () => ({
            key: `k${randomInt(rnd, 0, 3)}`,
            ts: randomInt(rnd, -200, 400),
            n: randomInt(rnd, 1, 14),
          })),
        );
        const h = new Harness(
          countJob({
            assigner: EventTimeSessionWindows.withGap(randomInt(rnd, 3, 40)),
            lateness: randomInt(rnd, 0, 60),
            watermarks: eventTime(randomInt(rnd, 0, 30)),
            aggregate: totals as AggregateFunction<Ev, unknown, number>,
            isKafkaKey,
          }),
          { partitions: Array.from({ length: partitions }, (_, p) => p) },
        );
        const chains = new Map<string, { base: string; deltas: string[]; image: PartitionImage }>();
        const check = (step: string) => {
          for (const [id, p] of h.state.partitions) {
            const chain = chains.get(id);
            if (chain === undefined) {
              chains.set(id, { base: encodePartition(p), deltas: [], image: imageOf(p) });
              continue;
            }
            if (step !== 'drain' && randomInt(rnd, 0, 4) === 0) continue; // no commit this time
            const diff = diffPartition(chain.image, p);
            if (diff.changed && randomInt(rnd, 0, 6) === 0) {
              // A failed commit: its delta is lost, and the next diff starts from a cold load.
              chain.image = imageOf(restore(chain.base, chain.deltas));
              continue;
            }
            if (diff.changed) {
              chain.deltas.push(diff.text);
              chain.image = diff.image;
              deltasWritten++;
              referred += indexesIn(diff.text);
            }
            expect(encodePartition(restore(chain.base, chain.deltas)), `seed ${seed}, ${step}, ${id}`).toBe(
              encodePartition(p),
            );
          }
        };
        check('start');
        cutIntoBatches(rnd, perPartition).forEach((groups, i) => {
          h.sendGroups(groups);
          check(`batch ${i}`);
        });
        h.drain();
        check('drain');
      }
      // The deltas did refer to unchanged sessions, so identity was what kept them right.
      expect(deltasWritten).toBeGreaterThan(100);
      expect(referred).toBeGreaterThan(30);
    },
  );

  it('rejects a delta that refers to a session the state does not hold', () => {
    const p = newPartitionState('bids', 0);
    p.sessions.set('a', [{ start: 0, end: 10, acc: 1 }]);
    const image = imageOf(p);
    p.sessions.get('a')!.push({ start: 20, end: 30, acc: 2 });
    const text = diffPartition(image, p).text;
    expect(indexesIn(text)).toBe(1);
    // Applied to a state without that session (a broken chain), it fails instead of guessing.
    expect(() => applyDelta(newPartitionState('bids', 0), text)).toThrow(/refers to session 0 of key "a"/);
    const other = newPartitionState('bids', 0);
    other.sessions.set('b', [{ start: 0, end: 10, acc: 1 }]);
    expect(() => applyDelta(other, text)).toThrow(/checkpoint's chain is broken/);
  });

  it('writes a new base when there is none, past the delta count, or once the deltas outweigh the base', () => {
    expect(shouldWriteBase(undefined, 10, 32)).toBe(true);
    expect(shouldWriteBase({ baseBytes: 1000, deltaBytes: 0, deltaCount: 0 }, 10, 32)).toBe(false);
    expect(shouldWriteBase({ baseBytes: 1000, deltaBytes: 990, deltaCount: 5 }, 10, 32)).toBe(false);
    expect(shouldWriteBase({ baseBytes: 1000, deltaBytes: 990, deltaCount: 5 }, 11, 32)).toBe(true);
    expect(shouldWriteBase({ baseBytes: 1000, deltaBytes: 100, deltaCount: 31 }, 10, 32)).toBe(false);
    expect(shouldWriteBase({ baseBytes: 1000, deltaBytes: 100, deltaCount: 32 }, 10, 32)).toBe(true);
    expect(shouldWriteBase({ baseBytes: 100, deltaBytes: 0, deltaCount: 0 }, 101, 32)).toBe(true);
  });

  it('rejects an object that is not a delta', () => {
    expect(() =>
      applyDelta(newPartitionState('bids', 0), encodePartition(newPartitionState('bids', 0))),
    ).toThrow(/Unsupported state delta/);
  });
});

/** How many sessions a delta writes as an index into the key's previous list. */
function indexesIn(text: string): number {
  const sets = (JSON.parse(text) as { delta: { sessions: { set: [unknown, unknown[]][] } } }).delta.sessions
    .set;
  return sets.reduce((n, [, items]) => n + items.filter((item) => typeof item === 'number').length, 0);
}

function restore(base: string, deltas: readonly string[]): PartitionState {
  const p = decodePartition(base);
  for (const delta of deltas) applyDelta(p, delta);
  return p;
}
