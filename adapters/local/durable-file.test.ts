import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

// Counts the directory opens (each directory fsync opens the directory read-only).
const opened = vi.hoisted(() => ({ dirs: [] as string[] }));
vi.mock('node:fs/promises', async (original) => {
  const actual = await original<typeof import('node:fs/promises')>();
  return {
    ...actual,
    open: (path: string, flags?: string, mode?: number) => {
      if (flags === 'r') opened.dirs.push(path);
      return actual.open(path, flags, mode);
    },
  };
});

// The synchronous calls of small writes, in order: what was fsynced, linked and renamed.
const calls = vi.hoisted(() => ({ log: [] as string[], paths: new Map<number, string>() }));
vi.mock('node:fs', async (original) => {
  const actual = await original<typeof import('node:fs')>();
  return {
    ...actual,
    openSync: (path: string, flags: string) => {
      const fd = actual.openSync(path, flags);
      calls.paths.set(fd, path);
      return fd;
    },
    fsyncSync: (fd: number) => {
      calls.log.push(`fsync ${calls.paths.get(fd)}`);
      return actual.fsyncSync(fd);
    },
    linkSync: (from: string, to: string) => {
      calls.log.push(`link ${from} ${to}`);
      return actual.linkSync(from, to);
    },
    renameSync: (from: string, to: string) => {
      calls.log.push(`rename ${from} ${to}`);
      return actual.renameSync(from, to);
    },
  };
});

const { createExclusive, fsyncDirectory, replaceAtomically, SMALL_WRITE_BYTES } = await import(
  './durable-file.ts'
);

const scratch = mkdtempSync(join(tmpdir(), 'floe-durable-file-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('directory fsyncs', () => {
  it('concurrent large writes in one directory share directory fsyncs, and each write is complete', async () => {
    const dir = join(scratch, 'shared');
    await fsyncDirectory(scratch); // warm up: the directory exists below
    await createExclusive(join(dir, 'first'), new Uint8Array([0]));
    opened.dirs.length = 0;
    const names = Array.from({ length: 20 }, (_, i) => `object-${i}`);
    // Large enough to go through the thread pool (smaller writes are made synchronously).
    const body = (name: string) => new TextEncoder().encode(name.padEnd(SMALL_WRITE_BYTES + 1, '.'));
    await Promise.all(
      names.map((name, i) =>
        i % 2 === 0
          ? createExclusive(join(dir, name), body(name))
          : replaceAtomically(join(dir, name), body(name)),
      ),
    );
    for (const name of names)
      expect(readFileSync(join(dir, name), 'utf8')).toBe(new TextDecoder().decode(body(name)));
    const syncs = opened.dirs.filter((path) => path === dir).length;
    expect(syncs).toBeGreaterThanOrEqual(1);
    expect(syncs).toBeLessThan(names.length);
  });

  it('a call made while an fsync runs waits for one that starts after it', async () => {
    const dir = join(scratch, 'later');
    await createExclusive(join(dir, 'a'), new Uint8Array([1]));
    opened.dirs.length = 0;
    const first = fsyncDirectory(dir);
    // Let the first fsync start (it opens the directory), then ask again.
    await vi.waitFor(() => expect(opened.dirs.filter((path) => path === dir)).toHaveLength(1));
    const second = fsyncDirectory(dir);
    const third = fsyncDirectory(dir);
    expect(third).toBe(second);
    await Promise.all([first, second, third]);
    expect(opened.dirs.filter((path) => path === dir)).toHaveLength(2);
  });

  it('a failed fsync fails its callers, and the next call tries again', async () => {
    const missing = join(scratch, 'missing');
    await expect(fsyncDirectory(missing)).rejects.toMatchObject({ code: 'ENOENT' });
    await createExclusive(join(missing, 'now'), new Uint8Array([2]));
    await expect(fsyncDirectory(missing)).resolves.toBeUndefined();
  });
});

describe('small writes', () => {
  it.each([
    ['createExclusive', createExclusive, 'link'],
    ['replaceAtomically', replaceAtomically, 'rename'],
  ] as const)('%s fsyncs the file, then names it, then fsyncs its directory', async (_, write, naming) => {
    const dir = join(scratch, `small-${naming}`);
    const path = join(dir, 'item');
    await write(join(dir, 'first'), new Uint8Array([0])); // the directory exists below
    calls.log.length = 0;
    opened.dirs.length = 0;
    await write(path, new TextEncoder().encode('small'));
    expect(readFileSync(path, 'utf8')).toBe('small');
    const temp = calls.log[0]!.slice('fsync '.length);
    expect(calls.log).toEqual([`fsync ${temp}`, `${naming} ${temp} ${path}`, `fsync ${dir}`]);
    expect(opened.dirs).toEqual([]); // on this thread, not through the thread pool
  });

  it('go through the thread pool while a large write is there, and are as durable', async () => {
    const small = join(scratch, 'small-beside');
    const large = join(scratch, 'large-beside');
    await createExclusive(join(small, 'first'), new Uint8Array([0]));
    await createExclusive(join(large, 'first'), new Uint8Array([0]));
    calls.log.length = 0;
    opened.dirs.length = 0;
    await Promise.all([
      createExclusive(join(large, 'item'), new Uint8Array(SMALL_WRITE_BYTES + 1).fill(7)),
      replaceAtomically(join(small, 'item'), new TextEncoder().encode('small')),
    ]);
    expect(readFileSync(join(small, 'item'), 'utf8')).toBe('small');
    expect(readFileSync(join(large, 'item')).length).toBe(SMALL_WRITE_BYTES + 1);
    // No synchronous call: the small write's directory was fsynced through the pool, as the large one's.
    expect(calls.log).toEqual([]);
    expect(opened.dirs).toContain(small);
    // Once the pool is empty, small writes are synchronous again.
    await createExclusive(join(small, 'after'), new Uint8Array([1]));
    expect(calls.log.map((call) => call.split(' ')[0])).toEqual(['fsync', 'link', 'fsync']);
  });

  it('are synchronous again after a write in the thread pool failed', async () => {
    const dir = join(scratch, 'after-failure');
    await createExclusive(join(dir, 'file'), new Uint8Array([0]));
    // A directory where a file is: the large write fails.
    await expect(
      createExclusive(join(dir, 'file', 'below'), new Uint8Array(SMALL_WRITE_BYTES + 1)),
    ).rejects.toThrow();
    calls.log.length = 0;
    await replaceAtomically(join(dir, 'next'), new Uint8Array([1]));
    expect(calls.log.map((call) => call.split(' ')[0])).toEqual(['fsync', 'rename', 'fsync']);
  });
});
