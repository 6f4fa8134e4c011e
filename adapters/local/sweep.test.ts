import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sweepTemporaryFiles, TEMP_GRACE_MS, TEMP_PREFIX } from './durable-file.ts';
import { LocalObjectStore } from './local-object-store.ts';
import { sweepRunDirectory } from './run-directory.ts';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'floe-sweep-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

async function files(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

describe('sweepTemporaryFiles', () => {
  it("removes temporary files of dead writers and old ones, keeps a live writer's fresh one and real files", async () => {
    const deep = join(root, 'a', 'b');
    await mkdir(deep, { recursive: true });
    const dead = `${TEMP_PREFIX}${deadPid()}-x`;
    const live = `${TEMP_PREFIX}${process.pid}-y`;
    const legacyFresh = `${TEMP_PREFIX}0f1e2d3c-uuid`;
    const legacyOld = `${TEMP_PREFIX}9a8b7c6d-uuid`;
    for (const name of [dead, live, legacyFresh, legacyOld, 'real.json'])
      await writeFile(join(deep, name), 'x');
    const old = (Date.now() - TEMP_GRACE_MS - 60_000) / 1000;
    await utimes(join(deep, legacyOld), old, old);

    expect(await sweepTemporaryFiles(root)).toBe(2);
    expect(await files(deep)).toEqual([legacyFresh, live, 'real.json'].sort());

    // Once the process has no write in flight, its own files go too; past the grace period, all do.
    expect(await sweepTemporaryFiles(root, { own: true })).toBe(1);
    expect(await sweepTemporaryFiles(root, { now: Date.now() + TEMP_GRACE_MS })).toBe(1);
    expect(await files(deep)).toEqual(['real.json']);
  });

  it("names temporary files after their writer's pid, and the stores' writes leave none", async () => {
    const store = new LocalObjectStore(join(root, 'warehouse'));
    await store.put('t/data/f', new Uint8Array([1, 2]));
    await store.put('t/data/g', new Uint8Array([3]), { ifNoneMatch: '*' });
    expect((await files(join(root, 'warehouse'))).filter((f) => f.includes(TEMP_PREFIX))).toEqual([]);
  });

  it('sweeps a run directory: its top level and its stores, never into folders that are not its own', async () => {
    const stale = `${TEMP_PREFIX}${deadPid()}-z`;
    await mkdir(join(root, 'checkpoints', 'job', 'g'), { recursive: true });
    await mkdir(join(root, 'user-folder'), { recursive: true });
    await writeFile(join(root, stale), 'x');
    await writeFile(join(root, 'checkpoints', 'job', 'g', stale), 'x');
    await writeFile(join(root, 'user-folder', stale), 'x');

    expect(await sweepRunDirectory(root)).toBe(2);
    expect(await files(join(root, 'user-folder'))).toEqual([stale]);
  });
});
