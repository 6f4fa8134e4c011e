import { describe, expect, it } from 'vitest';
import { referenceEncoding } from '../../test/support/reference-state-encoding.ts';
import { newPartitionState, type PartitionState, type SessionPartial } from '../engine/state.ts';
import { decodePartition, encodePartition } from '../engine/state-codec.ts';
import type { Key } from '../job/plan.ts';
import { mulberry32 } from '../seeded-random.ts';
import { applyDelta, diffPartition, encodeImage, imageOf, shouldWriteBase } from './state-delta.ts';

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
        if (list && list.length > 0) list[0]!.acc = acc(); // changed in place, as the engine does
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
      version: 1,
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

function restore(base: string, deltas: readonly string[]): PartitionState {
  const p = decodePartition(base);
  for (const delta of deltas) applyDelta(p, delta);
  return p;
}
