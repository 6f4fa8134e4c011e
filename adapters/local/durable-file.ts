/**
 * Durable local file operations: every write goes to a temporary file in the target directory,
 * is fsynced, and only then becomes visible under its name, by rename (replace) or by link
 * (create, failing if the name exists). The directory is fsynced afterwards, so a completed call
 * survives a crash, and a crash at any instruction leaves either nothing or the whole file. Both
 * fsyncs are needed (docs/design.md, "Durable local writes"); concurrent large writes and deletes
 * in one directory share directory fsyncs ({@link fsyncDirectory}).
 *
 * Small writes (at most {@link SMALL_WRITE_BYTES}) are made with synchronous calls on the caller's
 * thread, directory fsync included, unless a write is in libuv's thread pool; large writes go
 * through the pool. Both make the same system calls in the same order, so they give the same
 * guarantees.
 *
 * A crash can leave a temporary file behind. Temporary names start with {@link TEMP_PREFIX}
 * followed by the writer's process id (`.floe-tmp-<pid>-<uuid>`); listings skip them and they
 * never shadow a real name. {@link sweepTemporaryFiles} removes the ones a dead writer left.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { link, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** Names starting with this prefix are temporary files, never objects. */
export const TEMP_PREFIX = '.floe-tmp-';

/**
 * Writes of at most this many bytes are made synchronously, on the caller's thread, while no write
 * is in the thread pool (see `writesInPool`). Such a write
 * is a chain of about ten dependent system calls (mkdir, open, write, fsync, close, link or rename,
 * unlink, and the directory's open, fsync and close), each well under a millisecond for a small
 * file. Through the thread pool every one of them is a hand-off between threads, and on a busy
 * machine (a run's job on one core, its input reader on the other) a hand-off waits for a core
 * longer than the call takes: `floe run` of max-price spent about a sixth of its time waiting on
 * them (docs/design.md, "Small writes on the caller's thread"). A larger write goes through the
 * thread pool, several in parallel, so that the caller's thread computes meanwhile: at 512 KB,
 * a job's 270 KB state objects were written one after another, and the main thread's file
 * creations waited behind their fsyncs in the file system's journal.
 */
export const SMALL_WRITE_BYTES = 64 * 1024;

/**
 * Writes through the thread pool that have not finished. While there are any, small writes go
 * there too: a synchronous create on the caller's thread would wait behind their fsyncs in the
 * file system's journal (bidder-sessions' `floe run` spent up to a tenth of its time in such
 * blocked opens), where in the pool it waits beside the caller's work.
 */
let writesInPool = 0;

/** Whether a write of these bytes is made on the caller's thread now. */
function writesNow(bytes: Uint8Array): boolean {
  return bytes.byteLength <= SMALL_WRITE_BYTES && writesInPool === 0;
}

/** Runs a write through the thread pool, counted in {@link writesInPool} until it settles. */
async function inPool<T>(write: () => Promise<T>): Promise<T> {
  writesInPool++;
  try {
    return await write();
  } finally {
    writesInPool--;
  }
}

/** Why an exclusive create did not happen. */
export type CreateOutcome = 'created' | 'exists';

/**
 * Creates `path` with `bytes` if no file has that name, atomically: concurrent creators race on
 * `link()`, exactly one wins, and the losers get `'exists'`. The content is complete and on disk
 * before the name appears.
 */
export async function createExclusive(path: string, bytes: Uint8Array): Promise<CreateOutcome> {
  if (writesNow(bytes)) return createExclusiveNow(path, bytes);
  return inPool(() => createExclusiveInPool(path, bytes));
}

async function createExclusiveInPool(path: string, bytes: Uint8Array): Promise<CreateOutcome> {
  const dir = dirname(path);
  await ensureDirectory(dir);
  const temp = await writeTemporary(dir, bytes);
  try {
    await link(temp, path);
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return 'exists';
    throw error;
  } finally {
    await rm(temp, { force: true });
  }
  await fsyncDirectory(dir);
  return 'created';
}

/** Writes `path` atomically, replacing any existing file: readers see the old or the new content. */
export async function replaceAtomically(path: string, bytes: Uint8Array): Promise<void> {
  if (writesNow(bytes)) return replaceAtomicallyNow(path, bytes);
  return inPool(() => replaceAtomicallyInPool(path, bytes));
}

async function replaceAtomicallyInPool(path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(path);
  await ensureDirectory(dir);
  const temp = await writeTemporary(dir, bytes);
  try {
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await fsyncDirectory(dir);
}

/** {@link createExclusive}, synchronously (for small writes: see {@link SMALL_WRITE_BYTES}). */
function createExclusiveNow(path: string, bytes: Uint8Array): CreateOutcome {
  const dir = dirname(path);
  ensureDirectoryNow(dir);
  const temp = writeTemporaryNow(dir, bytes);
  try {
    linkSync(temp, path);
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return 'exists';
    throw error;
  } finally {
    rmSync(temp, { force: true });
  }
  syncDirectoryNow(dir);
  return 'created';
}

/** {@link replaceAtomically}, synchronously (for small writes: see {@link SMALL_WRITE_BYTES}). */
function replaceAtomicallyNow(path: string, bytes: Uint8Array): void {
  const dir = dirname(path);
  ensureDirectoryNow(dir);
  const temp = writeTemporaryNow(dir, bytes);
  try {
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
  syncDirectoryNow(dir);
}

/**
 * Deletes `path` durably; a missing file is not an error. The unlink is synchronous (one small
 * call whatever the file's size, see {@link SMALL_WRITE_BYTES}); the directory fsync is shared
 * with the other deletes and large writes of the directory in flight (cleanup deletes many
 * objects of one directory at once).
 */
export async function removeDurably(path: string): Promise<void> {
  rmSync(path, { force: true });
  await fsyncDirectory(dirname(path)).catch((error: unknown) => {
    if (errorCode(error) !== 'ENOENT') throw error;
  });
}

/** Creates `dir` and its missing parents, fsyncing each parent so the new entries are durable. */
export async function ensureDirectory(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return;
  // mkdir returns the top-most directory it created; every level from there down is new.
  for (let current = dir; ; current = dirname(current)) {
    await fsyncDirectory(dirname(current));
    if (current === first || dirname(current) === current) break;
  }
}

/** {@link ensureDirectory}, synchronously. */
function ensureDirectoryNow(dir: string): void {
  const first = mkdirSync(dir, { recursive: true });
  if (first === undefined) return;
  for (let current = dir; ; current = dirname(current)) {
    syncDirectoryNow(dirname(current));
    if (current === first || dirname(current) === current) break;
  }
}

/** The directory fsync of each directory that is running, and the one queued after it. */
interface DirectorySync {
  /** The last fsync started (or settled). */
  current: Promise<void>;
  /** An fsync not started yet: every caller until it starts shares it. */
  next: Promise<void> | undefined;
}
const directorySyncs = new Map<string, DirectorySync>();
const ignore = () => undefined;

/**
 * Flushes a directory's entries (new, renamed or removed names) to disk, once the caller's change
 * is made. Concurrent callers share fsyncs: a caller waits for an fsync of the directory that
 * starts after its call, so a name it created or renamed before calling is covered. While one
 * fsync runs, all callers that arrive meanwhile share the single fsync queued after it (it starts
 * when the running one ends, after all their changes). So N large writes or deletes finishing
 * together in one directory (the data files of several commit groups, cleanup's deletes) cost two
 * directory fsyncs instead of N, with the same guarantee for each: when its call returns, its
 * name is on disk. A failed fsync fails every caller that shared it.
 */
export function fsyncDirectory(dir: string): Promise<void> {
  // Windows cannot open a directory for fsync; NTFS journals metadata, so skipping is the norm there.
  if (process.platform === 'win32') return Promise.resolve();
  let entry = directorySyncs.get(dir);
  if (entry === undefined) {
    entry = { current: Promise.resolve(), next: undefined };
    directorySyncs.set(dir, entry);
  }
  if (entry.next !== undefined) return entry.next;
  const state = entry;
  const next: Promise<void> = state.current.then(ignore, ignore).then(() => {
    // Starting now: a caller from here on needs the fsync after this one.
    state.next = undefined;
    state.current = next;
    return syncDirectory(dir);
  });
  state.next = next;
  void next.then(ignore, ignore).then(() => {
    if (state.current === next && state.next === undefined && directorySyncs.get(dir) === state) {
      directorySyncs.delete(dir);
    }
  });
  return next;
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Flushes a directory's entries now, on this thread (no sharing: a small write's own fsync). */
function syncDirectoryNow(dir: string): void {
  if (process.platform === 'win32') return; // as in fsyncDirectory
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function writeTemporaryNow(dir: string, bytes: Uint8Array): string {
  const temp = join(dir, `${TEMP_PREFIX}${process.pid}-${randomUUID()}`);
  const fd = openSync(temp, 'wx');
  try {
    for (let written = 0; written < bytes.byteLength; ) {
      written += writeSync(fd, bytes, written, bytes.byteLength - written);
    }
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw error;
  }
  closeSync(fd);
  return temp;
}

async function writeTemporary(dir: string, bytes: Uint8Array): Promise<string> {
  const temp = join(dir, `${TEMP_PREFIX}${process.pid}-${randomUUID()}`);
  const handle = await open(temp, 'wx');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  return temp;
}

/**
 * How old a temporary file must be before any sweep removes it, whoever wrote it. A write holds
 * its temporary file for the time of one write and fsync, far below this.
 */
export const TEMP_GRACE_MS = 10 * 60 * 1000;

export interface SweepOptions {
  /** @default TEMP_GRACE_MS */
  readonly graceMs?: number;
  /** @default Date.now() */
  readonly now?: number;
  /**
   * Also remove this process's own temporary files: only when it has no write in flight (a run
   * stopped between batches). @default false
   */
  readonly own?: boolean;
  /** Into subdirectories too. @default true */
  readonly recursive?: boolean;
}

/**
 * Removes the temporary files under `root` (recursively) that no live writer owns, and returns
 * how many. A temporary file is stale when the process named in it is not running on this
 * host, or when it is older than the grace period (files of other hosts sharing the directory,
 * or written before names carried the pid). Processes may share a run directory, so a running
 * writer's fresh file is kept. Even removing a file that is still being written is safe: the
 * writer's link() or rename() then fails, nothing becomes visible, and the store retries.
 */
export async function sweepTemporaryFiles(root: string, options: SweepOptions = {}): Promise<number> {
  const graceMs = options.graceMs ?? TEMP_GRACE_MS;
  const now = options.now ?? Date.now();
  let removed = 0;
  const visit = async (dir: string): Promise<void> => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return; // gone, or not ours to read: a sweep is housekeeping and never fails a run
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (options.recursive !== false) await visit(path);
      } else if (entry.name.startsWith(TEMP_PREFIX) && (await isStale(path, entry.name))) {
        await rm(path, { force: true }).then(
          () => removed++,
          () => undefined,
        );
      }
    }
  };
  const isStale = async (path: string, name: string): Promise<boolean> => {
    const pid = writerPid(name);
    if (pid === process.pid) {
      if (options.own === true) return true;
    } else if (pid !== undefined && !processIsRunning(pid)) {
      return true;
    }
    const info = await stat(path).catch(() => undefined);
    return info !== undefined && now - info.mtimeMs >= graceMs;
  };
  await visit(root);
  return removed;
}

/** The pid in a temporary file's name, or undefined for a name without one. */
function writerPid(name: string): number | undefined {
  const match = /^(\d+)-/.exec(name.slice(TEMP_PREFIX.length));
  return match === null ? undefined : Number(match[1]);
}

function processIsRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, but belongs to another user.
    return errorCode(error) === 'EPERM';
  }
}

/** The `code` of a Node.js system error, if any. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
