/**
 * The StateStore contract (runtime/stores/state-store.ts) as a vitest suite. Every implementation
 * runs it: `stateStoreContract('LocalStateStore', async () => ({ store }))`. The factory returns a
 * fresh, empty store (and an optional cleanup); a store whose list() pages should page after a
 * few items, so the paging test crosses pages.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ConditionFailedError,
  type JsonValue,
  MAX_STATE_VALUE_BYTES,
  type StateStore,
  StateValueTooLargeError,
} from '../../runtime/stores/state-store.ts';

export interface StateStoreFixture {
  readonly store: StateStore;
  readonly cleanup?: () => Promise<void>;
}

export function stateStoreContract(name: string, factory: () => Promise<StateStoreFixture>): void {
  describe(`StateStore contract: ${name}`, () => {
    let store: StateStore;
    let cleanup: (() => Promise<void>) | undefined;

    beforeEach(async () => {
      ({ store, cleanup } = await factory());
    });
    afterEach(async () => {
      await cleanup?.();
    });

    it('returns undefined for a missing key', async () => {
      expect(await store.get('missing')).toBeUndefined();
      expect(await store.list('missing')).toEqual([]);
    });

    it('creates an absent item at version 1; a second conditional create fails naming the key', async () => {
      const item = await store.put('head/p0', { epoch: 1 }, { absent: true });
      expect(item).toEqual({ key: 'head/p0', version: 1, value: { epoch: 1 } });
      expect(await store.get('head/p0')).toEqual(item);

      const error = await conditionError(store.put('head/p0', { epoch: 2 }, { absent: true }));
      expect(error).toMatchObject({ key: 'head/p0', expectedVersion: undefined, actualVersion: 1 });
      expect(error.message).toContain('"head/p0"');
      expect(await store.get('head/p0')).toEqual(item);
    });

    it('compare-and-swaps on the expected version; stale and missing versions fail with both versions', async () => {
      await store.put('k', 'a', { absent: true });
      expect(await store.put('k', 'b', { expectedVersion: 1 })).toEqual({ key: 'k', version: 2, value: 'b' });
      expect(await store.put('k', 'c', undefined)).toEqual({ key: 'k', version: 3, value: 'c' });

      const stale = await conditionError(store.put('k', 'stale', { expectedVersion: 2 }));
      expect(stale).toMatchObject({ key: 'k', expectedVersion: 2, actualVersion: 3 });
      expect(stale.message).toContain('version 2');
      expect(stale.message).toContain('version 3');
      expect(await store.get('k')).toEqual({ key: 'k', version: 3, value: 'c' });

      const missing = await conditionError(store.put('nothing', 1, { expectedVersion: 1 }));
      expect(missing).toMatchObject({ key: 'nothing', expectedVersion: 1, actualVersion: undefined });
      expect(await store.get('nothing')).toBeUndefined();
    });

    it('counts versions 1, 2, 3, ... across puts of every kind', async () => {
      const versions: number[] = [];
      versions.push((await store.put('seq', 0, undefined)).version);
      for (let i = 1; i < 6; i++) {
        const condition = i % 2 === 0 ? undefined : { expectedVersion: versions.at(-1)! };
        versions.push((await store.put('seq', i, condition)).version);
      }
      expect(versions).toEqual([1, 2, 3, 4, 5, 6]);
      expect(await store.get('seq')).toEqual({ key: 'seq', version: 6, value: 5 });
    });

    it('deletes with and without a condition; a recreated item never reuses a version', async () => {
      await store.put('k', 1, { absent: true });
      const wrong = await conditionError(store.delete('k', { expectedVersion: 7 }));
      expect(wrong).toMatchObject({ key: 'k', expectedVersion: 7, actualVersion: 1 });
      await store.delete('k', { expectedVersion: 1 });
      expect(await store.get('k')).toBeUndefined();
      expect(await store.list('k')).toEqual([]);
      await store.delete('k'); // missing, no condition: not an error
      await store.delete('never-written');
      const gone = await conditionError(store.delete('k', { expectedVersion: 1 }));
      expect(gone).toMatchObject({ key: 'k', expectedVersion: 1, actualVersion: undefined });
      await conditionError(store.put('k', 'x', { expectedVersion: 1 }));

      const again = await store.put('k', 2, { absent: true });
      expect(again.value).toBe(2);
      expect(again.version).toBeGreaterThan(1);
      expect(await store.get('k')).toEqual(again);
      // A writer that read the item before the delete cannot swap it now.
      await conditionError(store.put('k', 3, { expectedVersion: 1 }));

      await store.put('u', 'x', undefined);
      await store.delete('u');
      expect(await store.get('u')).toBeUndefined();
    });

    it('lists current items by prefix, sorted, skipping deleted ones', async () => {
      for (const key of ['job/b', 'job/a', 'job/c', 'other/a', 'jo']) await store.put(key, key, undefined);
      await store.put('job/a', 'a2', undefined);
      await store.delete('job/c');

      expect(await store.list('job/')).toEqual([
        { key: 'job/a', version: 2, value: 'a2' },
        { key: 'job/b', version: 1, value: 'job/b' },
      ]);
      expect((await store.list('')).map((item) => item.key)).toEqual(['jo', 'job/a', 'job/b', 'other/a']);
      expect(await store.list('zzz')).toEqual([]);
    });

    it('lists across pages: many items, with deleted ones in between', async () => {
      const keys = Array.from({ length: 25 }, (_, i) => `many/${String(i).padStart(3, '0')}`);
      await Promise.all(keys.map((key, i) => store.put(key, { i }, { absent: true })));
      await Promise.all(keys.filter((_, i) => i % 4 === 1).map((key) => store.delete(key)));
      await store.put('manx', 'outside', undefined);

      const listed = await store.list('many/');
      expect(listed.map((item) => item.key)).toEqual(keys.filter((_, i) => i % 4 !== 1));
      expect(listed.every((item) => item.version === 1)).toBe(true);
      expect(listed[0]!.value).toEqual({ i: 0 });
    });

    it('lists more than 1 MB of items (DynamoDB pages a Query at 1 MB)', async () => {
      const big = 'x'.repeat(MAX_STATE_VALUE_BYTES - 100);
      const keys = ['mb/1', 'mb/2', 'mb/3'];
      for (const key of keys) await store.put(key, big, { absent: true });
      const listed = await store.list('mb/');
      expect(listed.map((item) => item.key)).toEqual(keys);
      expect(listed.every((item) => item.value === big)).toBe(true);
    });

    it('keeps values up to the limit and refuses larger ones with an error naming key and size', async () => {
      const fits = 'é'.repeat((MAX_STATE_VALUE_BYTES - 2) / 2); // exactly the limit: 2 bytes each, plus quotes
      const item = await store.put('big', fits, { absent: true });
      expect((await store.get('big'))?.value).toBe(fits);

      const over = `${fits}a`; // one byte over
      const error = await store.put('big', over, { expectedVersion: item.version }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(StateValueTooLargeError);
      expect((error as StateValueTooLargeError).key).toBe('big');
      expect((error as Error).message).toContain('"big"');
      expect((error as Error).message).toContain(String(MAX_STATE_VALUE_BYTES + 1));
      expect((error as Error).message).toMatch(/object store/);
      expect(await store.get('big')).toEqual(item); // nothing written
      await expect(store.put('big2', { nested: [over] }, undefined)).rejects.toThrow(StateValueTooLargeError);
      expect(await store.get('big2')).toBeUndefined();
    });

    // Small and large values: a store may write them differently (LocalStateStore writes small
    // ones without yielding, so only large ones meet at the file system within one process).
    const sized: [string, (i: number) => JsonValue][] = [
      ['small values', (i) => i],
      ['100 KB values', (i) => ({ i, pad: 'x'.repeat(100_000) })],
    ];

    it.each(sized)(
      'lets exactly one of many concurrent swaps from one version win (%s)',
      async (_, valueFor) => {
        await store.put('race', valueFor(0), { absent: true });
        const results = await Promise.allSettled(
          Array.from({ length: 12 }, (_, i) => store.put('race', valueFor(i + 1), { expectedVersion: 1 })),
        );
        const won = results.filter((r) => r.status === 'fulfilled');
        expect(won).toHaveLength(1);
        for (const r of results) {
          if (r.status === 'rejected') {
            expect(r.reason).toBeInstanceOf(ConditionFailedError);
            expect(r.reason).toMatchObject({ key: 'race', expectedVersion: 1, actualVersion: 2 });
          }
        }
        const winner = (won[0] as PromiseFulfilledResult<{ value: JsonValue; version: number }>).value;
        expect(winner.version).toBe(2);
        expect(await store.get('race')).toEqual({ key: 'race', version: 2, value: winner.value });
      },
    );

    it.each(sized)('lets exactly one of many concurrent creates win (%s)', async (_, valueFor) => {
      const results = await Promise.allSettled(
        Array.from({ length: 12 }, (_, i) => store.put('new', valueFor(i), { absent: true })),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won).toHaveLength(1);
      for (const r of results)
        if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConditionFailedError);
      expect((await store.get('new'))?.version).toBe(1);
    });

    it('loses no increment when writers race read-modify-write loops', async () => {
      const increment = async () => {
        for (let done = 0; done < 5; ) {
          const item = await store.get('counter');
          const n = item === undefined ? 0 : (item.value as number);
          try {
            await store.put(
              'counter',
              n + 1,
              item === undefined ? { absent: true } : { expectedVersion: item.version },
            );
            done++;
          } catch (error) {
            if (!(error instanceof ConditionFailedError)) throw error;
          }
        }
      };
      await Promise.all([increment(), increment(), increment()]);
      expect(await store.get('counter')).toEqual({ key: 'counter', version: 15, value: 15 });
    });

    it('round-trips values exactly: unicode, nesting, key order, numbers', async () => {
      const values: JsonValue[] = [
        null,
        true,
        0,
        -1.5e-300,
        1.7976931348623157e308,
        Number.MAX_SAFE_INTEGER,
        '',
        'ü 🎉 \u0000 \n "quoted" \\',
        [],
        {},
        { z: 1, a: [1, { y: null, b: ['deep', { c: { d: { e: 'f' } } }] }], m: '', 'key with space': {} },
        Array.from({ length: 40 }).reduce<JsonValue>((inner) => ({ inner }), 'bottom'),
      ];
      for (const [i, value] of values.entries()) {
        await store.put(`v/${i}`, value, undefined);
        const read = await store.get(`v/${i}`);
        expect(read?.value).toEqual(value);
        expect(JSON.stringify(read?.value)).toBe(JSON.stringify(value)); // key order too
      }
      expect((await store.list('v/')).map((item) => JSON.stringify(item.value)).sort()).toEqual(
        values.map((value) => JSON.stringify(value)).sort(),
      );
    });

    it('keeps arbitrary keys apart: case, dots, slashes, percent signs, unicode, long keys', async () => {
      const keys = [
        'A',
        'a',
        '.',
        '..',
        '%2E',
        '%',
        'a/b',
        'a.b',
        'a#b',
        'ü 🎉',
        '\uffff',
        '😀',
        'x'.repeat(500),
      ];
      for (const key of keys) await store.put(key, key, { absent: true });
      for (const key of keys) expect(await store.get(key)).toEqual({ key, version: 1, value: key });
      expect((await store.list('')).map((item) => item.key)).toEqual([...keys].sort());
      expect((await store.list('a')).map((item) => item.key)).toEqual(['a', 'a#b', 'a.b', 'a/b']);
      await expect(store.put('', 1, undefined)).rejects.toThrow(TypeError);
    });
  });
}

async function conditionError(promise: Promise<unknown>): Promise<ConditionFailedError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConditionFailedError);
  return error as ConditionFailedError;
}
