import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PreconditionFailedError } from '../../runtime/stores/object-store.ts';
import { removeScratch, track } from '../../test/support/cleanup.ts';
import { SMALL_WRITE_BYTES, TEMP_PREFIX } from './durable-file.ts';
import { LocalObjectStore } from './local-object-store.ts';

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array | undefined) =>
  data === undefined ? undefined : new TextDecoder().decode(data);

let root: string;
let store: LocalObjectStore;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'floe-store-'));
  store = new LocalObjectStore(root);
});

afterEach(async () => {
  await removeScratch(root);
});

async function listNames(prefix: string): Promise<string[]> {
  return (await store.list(prefix)).map((key) => key.slice(prefix.length));
}

describe('LocalObjectStore', () => {
  it('reads back what a put wrote, and undefined for a missing key', async () => {
    await store.put('ns/t/data/a.parquet', bytes('hello'));

    expect(text(await store.get('ns/t/data/a.parquet'))).toBe('hello');
    expect(await store.get('ns/t/data/missing.parquet')).toBeUndefined();
  });

  it('replaces an object on a plain put', async () => {
    await store.put('k', bytes('one'));
    await store.put('k', bytes('two'));

    expect(text(await store.get('k'))).toBe('two');
  });

  it('creates an object with ifNoneMatch when the key is free', async () => {
    await store.put('k', bytes('first'), { ifNoneMatch: '*' });

    expect(text(await store.get('k'))).toBe('first');
  });

  it('fails a conditional create on an existing key with PreconditionFailedError and keeps the object', async () => {
    await store.put('k', bytes('first'));

    const attempt = store.put('k', bytes('second'), { ifNoneMatch: '*' });

    await expect(attempt).rejects.toBeInstanceOf(PreconditionFailedError);
    await expect(attempt).rejects.toMatchObject({ key: 'k' });
    expect(text(await store.get('k'))).toBe('first');
  });

  it('lets exactly one of many concurrent conditional creates win', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 16 }, (_, i) => store.put('race', bytes(`writer ${i}`), { ifNoneMatch: '*' })),
    );

    const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    expect(winners).toHaveLength(1);
    for (const r of results) {
      if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(PreconditionFailedError);
    }
    expect(text(await store.get('race'))).toBe(`writer ${winners[0]}`);
  });

  it('lists keys by plain string prefix, sorted, across directories', async () => {
    for (const key of ['a/b/2', 'a/b/1', 'a/c', 'ab', 'b/x']) await store.put(key, bytes(key));

    expect(await store.list('a/')).toEqual(['a/b/1', 'a/b/2', 'a/c']);
    expect(await store.list('a')).toEqual(['a/b/1', 'a/b/2', 'a/c', 'ab']);
    expect(await store.list('a/b/')).toEqual(['a/b/1', 'a/b/2']);
    expect(await store.list('')).toEqual(['a/b/1', 'a/b/2', 'a/c', 'ab', 'b/x']);
    expect(await store.list('nothing/')).toEqual([]);
  });

  it('never lists temporary files left by a crash', async () => {
    await store.put('d/real', bytes('x'));
    await writeFile(join(root, 'd', `${TEMP_PREFIX}leftover`), 'partial');

    expect(await store.list('d/')).toEqual(['d/real']);
  });

  it('deletes objects, and deleting a missing key is not an error', async () => {
    await store.put('k', bytes('x'));

    await store.delete('k');
    await store.delete('k');

    expect(await store.get('k')).toBeUndefined();
  });

  it('maps keys to file URIs and back', () => {
    const uri = store.uri('ns/t/metadata/00001-x.metadata.json');

    expect(uri).toBe(`file://${root}/ns/t/metadata/00001-x.metadata.json`);
    expect(fileURLToPath(uri)).toBe(join(root, 'ns/t/metadata/00001-x.metadata.json'));
    expect(store.keyOf(uri)).toBe('ns/t/metadata/00001-x.metadata.json');
    expect(store.keyOf('file:///elsewhere/x')).toBeUndefined();
    expect(store.keyOf('s3://bucket/x')).toBeUndefined();
  });

  it.each(['', '/abs', 'a//b', 'a/../b', './a', 'a/.', 'a\\b', `a/${TEMP_PREFIX}x`])(
    'rejects the invalid key %j',
    async (key) => {
      await expect(store.put(key, bytes('x'))).rejects.toThrow(TypeError);
    },
  );

  it('never shows a partial object when the writer is killed with SIGKILL mid-stream', async () => {
    // A child process writes objects in a loop (plain puts and conditional creates), small and
    // large ones in turn (made synchronously and through the thread pool); each object ends with
    // the SHA-256 of its body. Kill it at several moments and check every object that is visible.
    expect(SMALL_WRITE_BYTES).toBeGreaterThan(16 * 1024 + 6 * 4096);
    expect(SMALL_WRITE_BYTES).toBeLessThan(640 * 1024);
    const moduleUrl = new URL('./local-object-store.ts', import.meta.url).href;
    const script = `
      import { createHash, randomBytes } from 'node:crypto';
      const { LocalObjectStore } = await import(${JSON.stringify(moduleUrl)});
      const store = new LocalObjectStore(${JSON.stringify(root)});
      for (let i = 0; ; i++) {
        const body = randomBytes((i % 2 === 0 ? 16 : 640) * 1024 + (i % 7) * 4096);
        const object = Buffer.concat([body, createHash('sha256').update(body).digest()]);
        await store.put('objects/' + (i % 5), object, i % 2 === 0 ? {} : undefined);
        await store.put('created/' + i, object, { ifNoneMatch: '*' });
        if (i === 0) process.stdout.write('started\\n');
      }
    `;
    for (const delayMs of [5, 40, 120]) {
      const child = track(
        spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
          stdio: ['ignore', 'pipe', 'inherit'],
        }),
      );
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));

      const keys = await store.list('');
      expect(keys.length).toBeGreaterThan(0);
      for (const key of keys) {
        const object = (await store.get(key))!;
        const body = object.subarray(0, object.length - 32);
        const digest = createHash('sha256').update(body).digest();
        expect(Buffer.from(object.subarray(object.length - 32)).equals(digest), `${key} is torn`).toBe(true);
      }
      await rm(join(root, 'created'), { recursive: true, force: true });
    }
    // The kills may leave temporary files behind; they are the only names besides real objects.
    const names = await readdir(join(root, 'objects'));
    expect(names.filter((name) => !name.startsWith(TEMP_PREFIX)).sort()).toEqual(await listNames('objects/'));
  });
});
