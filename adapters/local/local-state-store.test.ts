import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConditionFailedError } from '../../runtime/stores/state-store.ts';
import { removeScratch, track } from '../../test/support/cleanup.ts';
import { itemDirName, KEEP_VERSIONS, LocalStateStore } from './local-state-store.ts';

const storeModule = fileURLToPath(new URL('./local-state-store.ts', import.meta.url));
const stateModule = fileURLToPath(new URL('../../runtime/stores/state-store.ts', import.meta.url));

let root: string;
let store: LocalStateStore;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'floe-state-'));
  store = new LocalStateStore(join(root, 'state'));
});

afterEach(async () => {
  await removeScratch(root);
});

async function conditionError(promise: Promise<unknown>): Promise<ConditionFailedError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConditionFailedError);
  return error as ConditionFailedError;
}

/** Runs `node --import tsx` on a script in the temp dir; resolves with its exit code and signal. */
function runScript(source: string, name: string): { done: Promise<number | null>; kill: () => void } {
  const path = join(root, name);
  let child: ReturnType<typeof spawn> | undefined;
  const done = writeFile(path, source).then(
    () =>
      new Promise<number | null>((resolveDone, reject) => {
        child = track(
          spawn(process.execPath, ['--import', 'tsx', path], { stdio: ['ignore', 'ignore', 'pipe'] }),
        );
        let stderr = '';
        child.stderr?.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
        });
        child.on('error', reject);
        child.on('exit', (code, signal) => {
          if (code !== 0 && signal === null) reject(new Error(`${name} exited with ${code}: ${stderr}`));
          else resolveDone(code);
        });
      }),
  );
  return { done, kill: () => child?.kill('SIGKILL') };
}

describe('LocalStateStore', () => {
  it('creates an absent item once; a second conditional create fails', async () => {
    expect(await store.get('head/p0')).toBeUndefined();

    const item = await store.put('head/p0', { epoch: 1 }, { absent: true });
    expect(item).toEqual({ key: 'head/p0', version: 1, value: { epoch: 1 } });

    const error = await conditionError(store.put('head/p0', { epoch: 2 }, { absent: true }));
    expect(error).toMatchObject({ key: 'head/p0', expectedVersion: undefined, actualVersion: 1 });
    expect(await store.get('head/p0')).toEqual(item);
  });

  it('compare-and-swaps on the expected version, and a stale version fails naming key and versions', async () => {
    await store.put('k', 'a', { absent: true });
    expect(await store.put('k', 'b', { expectedVersion: 1 })).toEqual({ key: 'k', version: 2, value: 'b' });
    expect(await store.put('k', 'c', undefined)).toEqual({ key: 'k', version: 3, value: 'c' });

    const error = await conditionError(store.put('k', 'stale', { expectedVersion: 2 }));
    expect(error).toMatchObject({ key: 'k', expectedVersion: 2, actualVersion: 3 });
    expect(error.message).toContain('"k"');
    expect(error.message).toContain('version 2');
    expect(error.message).toContain('version 3');
    expect((await store.get('k'))?.value).toBe('c');

    const missing = await conditionError(store.put('nothing', 1, { expectedVersion: 1 }));
    expect(missing).toMatchObject({ key: 'nothing', expectedVersion: 1, actualVersion: undefined });
  });

  it('deletes, conditionally or not, and recreates after a delete', async () => {
    await store.put('k', 1, { absent: true });
    await conditionError(store.delete('k', { expectedVersion: 7 }));
    await store.delete('k', { expectedVersion: 1 });
    expect(await store.get('k')).toBeUndefined();
    await store.delete('k'); // missing item, no condition: not an error
    await conditionError(store.delete('k', { expectedVersion: 1 }));

    const again = await store.put('k', 2, { absent: true });
    expect(again.value).toBe(2);
    expect(again.version).toBeGreaterThan(1); // versions never repeat for a key
    expect(await store.get('k')).toEqual(again);
    await conditionError(store.put('k', 3, { expectedVersion: 1 }));
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
    expect(await new LocalStateStore(join(root, 'missing')).list('')).toEqual([]);
  });

  it('keeps arbitrary keys apart, including case, dots, percent signs and very long keys', async () => {
    const keys = [
      'A',
      'a',
      '.',
      '..',
      '%2E',
      '%',
      'a/b',
      'a.b',
      '.floe-tmp-x',
      'ü 🎉',
      'x'.repeat(500),
      'x'.repeat(501),
    ];
    for (const key of keys) await store.put(key, key, { absent: true });
    for (const key of keys) expect((await store.get(key))?.value).toBe(key);
    expect((await store.list('')).map((item) => item.key)).toEqual([...keys].sort());
    expect((await store.list('x')).length).toBe(2);
    for (const key of keys)
      expect(itemDirName(key)).toMatch(/^(~[0-9a-f]{64}|(?:[a-z0-9_-]|%[0-9A-F]{2}){1,200})$/);
    await expect(store.put('', 1, undefined)).rejects.toThrow(TypeError);
  });

  it('keeps only the newest versions on disk, and the item stays correct', async () => {
    await store.put('k', 1, { absent: true });
    for (let i = 2; i <= 30; i++) await store.put('k', i, { expectedVersion: i - 1 });
    const files = (await readdir(join(store.dir, itemDirName('k')))).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeLessThanOrEqual(KEEP_VERSIONS);
    expect(await store.get('k')).toEqual({ key: 'k', version: 30, value: 30 });
    await conditionError(store.put('k', 'stale', { expectedVersion: 5 }));
  });

  it('lets exactly one of many concurrent puts with the same expected version win', async () => {
    await store.put('k', 0, { absent: true });
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => store.put('k', i, { expectedVersion: 1 })),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    for (const r of lost) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(ConditionFailedError);
    expect(await store.get('k')).toEqual({
      key: 'k',
      version: 2,
      value: (won[0] as { value: { value: number } }).value.value,
    });

    const creates = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => store.put('new', i, { absent: true })),
    );
    expect(creates.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it('loses no update when two processes each CAS-increment a counter 50 times', async () => {
    const script = `
import { LocalStateStore } from ${JSON.stringify(storeModule)};
import { ConditionFailedError } from ${JSON.stringify(stateModule)};
const store = new LocalStateStore(${JSON.stringify(store.dir)});
for (let done = 0; done < 50; ) {
  const item = await store.get('counter');
  const n = item === undefined ? 0 : item.value;
  try {
    await store.put('counter', n + 1, item === undefined ? { absent: true } : { expectedVersion: item.version });
    done++;
  } catch (error) {
    if (!(error instanceof ConditionFailedError)) throw error;
  }
}
`;
    const a = runScript(script, 'incr-a.mts');
    const b = runScript(script, 'incr-b.mts');
    expect(await Promise.all([a.done, b.done])).toEqual([0, 0]);
    expect(await store.get('counter')).toEqual({ key: 'counter', version: 100, value: 100 });
  });

  it('stays readable and consistent after a writer is killed with SIGKILL mid-loop', async () => {
    const script = `
import { LocalStateStore } from ${JSON.stringify(storeModule)};
const store = new LocalStateStore(${JSON.stringify(store.dir)});
let item = await store.put('k', { n: 1, pad: 'x'.repeat(20000) }, { absent: true });
for (;;) {
  item = await store.put('k', { n: item.version + 1, pad: 'x'.repeat(20000) }, { expectedVersion: item.version });
}
`;
    const writer = runScript(script, 'writer.mts');
    for (;;) {
      const item = await store.get('k').catch(() => undefined);
      if (item !== undefined && item.version >= 25) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    writer.kill();
    await writer.done;

    const item = await store.get('k');
    expect(item).toBeDefined();
    expect((item!.value as { n: number }).n).toBe(item!.version);
    // Every version file left behind is whole JSON.
    const dir = join(store.dir, itemDirName('k'));
    const files = (await readdir(dir)).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const record = JSON.parse(await readFile(join(dir, file), 'utf8')) as { value: { n: number } };
      expect(record.value.n).toBe(Number(file.slice(1, 21)));
    }
    // The store keeps working after the crash.
    const next = await store.put('k', { n: item!.version + 1 }, { expectedVersion: item!.version });
    expect(next.version).toBe(item!.version + 1);
  });
});
