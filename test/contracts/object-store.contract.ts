/**
 * The ObjectStore contract (runtime/stores/object-store.ts) as a vitest suite: every
 * implementation runs it (LocalObjectStore, S3ObjectStore on a local S3 server, and each over the
 * CompressingObjectStore), so the commit protocol can rely on the same behaviour from all.
 *
 * Call {@link objectStoreContract} from a `*.test.ts` file with a factory that returns a fresh,
 * empty store. The factory receives test knobs a store may honour: a small list page size (to
 * exercise pagination) and a small multipart threshold (to exercise multipart uploads); a store
 * without pages or parts ignores them and the same tests still check its behaviour.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  deleteObjects,
  type ObjectStore,
  PreconditionFailedError,
} from '../../runtime/stores/object-store.ts';

export interface ObjectStoreKnobs {
  /** Keys per list request, to make a small listing take several pages. */
  readonly pageSize?: number;
  /** Objects of more bytes are uploaded in parts (S3: multipart, parts of 5 MiB). */
  readonly multipartThreshold?: number;
}

export interface ObjectStoreFixture {
  readonly store: ObjectStore;
  /** Removes what the test left (e.g. the S3 prefix); runs after each test. */
  readonly cleanup?: () => Promise<void>;
}

export type ObjectStoreFactory = (knobs: ObjectStoreKnobs) => Promise<ObjectStoreFixture>;

const MiB = 1024 * 1024;
const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array | undefined) =>
  data === undefined ? undefined : new TextDecoder().decode(data);
const same = (a: Uint8Array | undefined, b: Uint8Array) =>
  a !== undefined && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b));

export function objectStoreContract(name: string, factory: ObjectStoreFactory): void {
  describe(`ObjectStore contract: ${name}`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    const open = async (knobs: ObjectStoreKnobs = {}): Promise<ObjectStore> => {
      const fixture = await factory(knobs);
      if (fixture.cleanup !== undefined) cleanups.push(fixture.cleanup);
      return fixture.store;
    };
    afterEach(async () => {
      await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
    });

    it('reads back what a put wrote: empty, binary and 5 MB+ objects', async () => {
      const store = await open();
      const binary = Uint8Array.from({ length: 512 }, (_, i) => i % 256);
      const large = new Uint8Array(randomBytes(5 * MiB + 4321));

      await store.put('round/empty', new Uint8Array(0));
      await store.put('round/binary.bin', binary);
      await store.put('round/large.bin', large);

      expect(await store.get('round/empty')).toEqual(new Uint8Array(0));
      expect(same(await store.get('round/binary.bin'), binary)).toBe(true);
      expect(same(await store.get('round/large.bin'), large)).toBe(true);
    });

    it('returns undefined for a missing key', async () => {
      const store = await open();

      expect(await store.get('missing/key.json')).toBeUndefined();
    });

    it('replaces an object on a put without condition', async () => {
      const store = await open();

      await store.put('k', bytes('one'));
      await store.put('k', bytes('two'));

      expect(text(await store.get('k'))).toBe('two');
    });

    it('creates with ifNoneMatch once; a second create fails with PreconditionFailedError naming the key', async () => {
      const store = await open();

      await store.put('ns/created.json', bytes('first'), { ifNoneMatch: '*' });
      const second = store.put('ns/created.json', bytes('second'), { ifNoneMatch: '*' });

      await expect(second).rejects.toBeInstanceOf(PreconditionFailedError);
      await expect(second).rejects.toMatchObject({ key: 'ns/created.json' });
      expect(text(await store.get('ns/created.json'))).toBe('first');
    });

    it('lets exactly one of many concurrent conditional creates win, and keeps its bytes', async () => {
      const store = await open();

      const results = await Promise.allSettled(
        Array.from({ length: 12 }, (_, i) => store.put('race', bytes(`writer ${i}`), { ifNoneMatch: '*' })),
      );

      const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      expect(winners).toHaveLength(1);
      for (const r of results) {
        if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(PreconditionFailedError);
      }
      expect(text(await store.get('race'))).toBe(`writer ${winners[0]}`);
    });

    it('lists by plain string prefix, sorted, across levels', async () => {
      const store = await open();
      expect(await store.list('')).toEqual([]);
      const keys = ['a/b/2', 'a/b/1', 'a/bc', 'a/c/d/e', 'ab', 'b/x', 'a/b10'];
      await Promise.all(keys.map((key) => store.put(key, bytes(key))));

      expect(await store.list('')).toEqual([...keys].sort());
      expect(await store.list('a/')).toEqual(['a/b/1', 'a/b/2', 'a/b10', 'a/bc', 'a/c/d/e']);
      expect(await store.list('a')).toEqual(['a/b/1', 'a/b/2', 'a/b10', 'a/bc', 'a/c/d/e', 'ab']);
      expect(await store.list('a/b')).toEqual(['a/b/1', 'a/b/2', 'a/b10', 'a/bc']);
      expect(await store.list('a/b/')).toEqual(['a/b/1', 'a/b/2']);
      expect(await store.list('a/c/d/e')).toEqual(['a/c/d/e']);
      expect(await store.list('nothing/')).toEqual([]);
      expect(await store.list('a/z')).toEqual([]);
    });

    it('lists every key when the listing spans several pages', async () => {
      const store = await open({ pageSize: 3 });
      const keys = Array.from({ length: 11 }, (_, i) => `paged/${String(i).padStart(3, '0')}.json`);
      await Promise.all(keys.map((key) => store.put(key, bytes(key))));
      await store.put('other/x', bytes('x'));

      expect(await store.list('paged/')).toEqual(keys);
      expect(await store.list('')).toEqual(['other/x', ...keys]);
    });

    it('deletes objects; deleting a missing key is not an error', async () => {
      const store = await open();
      await store.put('d/k', bytes('x'));

      await store.delete('d/k');
      await store.delete('d/k');
      await store.delete('d/never');

      expect(await store.get('d/k')).toBeUndefined();
      expect(await store.list('d/')).toEqual([]);
    });

    it('deletes many objects at once, missing ones included', async () => {
      const store = await open();
      const keys = Array.from({ length: 25 }, (_, i) => `many/${i}`);
      await Promise.all(keys.map((key) => store.put(key, bytes(key))));
      await store.put('keep/me', bytes('kept'));

      await deleteObjects(store, [...keys, 'many/missing']);
      await deleteObjects(store, []);

      expect(await store.list('')).toEqual(['keep/me']);
    });

    it.each(['', '/abs', 'a//b', 'a/../b', './a', 'a/.', 'a\\b', 'trailing/'])(
      'rejects the invalid key %j with a TypeError',
      async (key) => {
        const store = await open();
        await expect(store.put(key, bytes('x'))).rejects.toThrow(TypeError);
        await expect(store.get(key)).rejects.toThrow(TypeError);
        await expect(store.delete(key)).rejects.toThrow(TypeError);
      },
    );

    it('maps keys to URIs and back, and knows no URI outside the store', async () => {
      const store = await open();
      const key = 'ns/t/metadata/00001-x.metadata.json';

      const uri = store.uri(key);

      expect(uri.endsWith(`/${key}`)).toBe(true);
      expect(store.keyOf(uri)).toBe(key);
      expect(store.keyOf(`${uri.slice(0, -key.length)}other/file`)).toBe('other/file');
      expect(store.keyOf('file:///elsewhere/x')).toBeUndefined();
      expect(store.keyOf('s3://another-bucket-entirely/x')).toBeUndefined();
      expect(() => store.uri('a/../b')).toThrow(TypeError);
    });

    it('writes large objects in parts, with the same condition', async () => {
      const store = await open({ multipartThreshold: 1 * MiB });
      const large = new Uint8Array(randomBytes(5 * MiB + 1024));

      await store.put('parts/large.bin', large, { ifNoneMatch: '*' });
      const second = store.put('parts/large.bin', new Uint8Array(randomBytes(6 * MiB)), { ifNoneMatch: '*' });

      await expect(second).rejects.toBeInstanceOf(PreconditionFailedError);
      expect(same(await store.get('parts/large.bin'), large)).toBe(true);
      const replacement = new Uint8Array(randomBytes(5 * MiB + 7));
      await store.put('parts/large.bin', replacement);
      expect(same(await store.get('parts/large.bin'), replacement)).toBe(true);
      expect(await store.list('parts/')).toEqual(['parts/large.bin']);
    });
  });
}
