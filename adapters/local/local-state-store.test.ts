/**
 * What is particular to the local state store: versions kept on disk, and processes racing or
 * killed on one directory. The StateStore contract itself runs in local-state-store.contract.test.ts.
 */
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
  it('keeps only the newest versions on disk once they are old enough, and the item stays correct', async () => {
    const store = new LocalStateStore(join(root, 'state'), { pruneAfterMs: 0 });
    await store.put('k', 1, { absent: true });
    for (let i = 2; i <= 30; i++) await store.put('k', i, { expectedVersion: i - 1 });
    const files = (await readdir(join(store.dir, itemDirName('k')))).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeLessThanOrEqual(KEEP_VERSIONS);
    expect(await store.get('k')).toEqual({ key: 'k', version: 30, value: 30 });
    await conditionError(store.put('k', 'stale', { expectedVersion: 5 }));
  });

  it('keeps versions younger than a second, so a writer that stalled meanwhile learns its write lost', async () => {
    // A writer read version 1, then stalled while another wrote 20 more (more than KEEP_VERSIONS).
    type Internals = { head(key: string, name: string): unknown };
    await store.put('k', 1, { absent: true });
    const readBeforeTheStall = (store as unknown as Internals).head('k', itemDirName('k'));
    for (let i = 2; i <= 21; i++) await store.put('k', i, { expectedVersion: i - 1 });
    const files = (await readdir(join(store.dir, itemDirName('k')))).filter((f) => f.endsWith('.json'));
    expect(files.length).toBe(21);
    // Its write goes on from what it read: version 2 is still on disk, so its create loses. With
    // version 2 and 3 pruned (a count alone), the create would succeed and the check after it
    // could not tell whether it counted: a StorageError instead of a clean condition failure.
    const stalled = new LocalStateStore(store.dir);
    (stalled as unknown as Internals).head = () => readBeforeTheStall;
    await conditionError(stalled.put('k', 'stalled', { expectedVersion: 1 }));
    expect(await store.get('k')).toEqual({ key: 'k', version: 21, value: 21 });

    // Once older than pruneAfterMs they go, the newest KEEP_VERSIONS excepted.
    const later = new LocalStateStore(store.dir, { pruneAfterMs: 1 });
    await new Promise((resolve) => setTimeout(resolve, 5));
    await later.put('k', 22, { expectedVersion: 21 });
    const left = (await readdir(join(store.dir, itemDirName('k')))).filter((f) => f.endsWith('.json'));
    expect(left.length).toBe(KEEP_VERSIONS);
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
