/**
 * Durable local file operations: every write goes to a temporary file in the target directory,
 * is fsynced, and only then becomes visible under its name, by rename (replace) or by link
 * (create, failing if the name exists). The directory is fsynced afterwards, so a completed call
 * survives a crash, and a crash at any instruction leaves either nothing or the whole file.
 *
 * A crash can leave a temporary file behind. Temporary names start with {@link TEMP_PREFIX};
 * listings skip them and they never shadow a real name.
 */
import { randomUUID } from 'node:crypto';
import { link, mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** Names starting with this prefix are temporary files, never objects. */
export const TEMP_PREFIX = '.floe-tmp-';

/** Why an exclusive create did not happen. */
export type CreateOutcome = 'created' | 'exists';

/**
 * Creates `path` with `bytes` if no file has that name, atomically: concurrent creators race on
 * `link()`, exactly one wins, and the losers get `'exists'`. The content is complete and on disk
 * before the name appears.
 */
export async function createExclusive(path: string, bytes: Uint8Array): Promise<CreateOutcome> {
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

/** Deletes `path` durably; a missing file is not an error. */
export async function removeDurably(path: string): Promise<void> {
  await rm(path, { force: true });
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

/** Flushes a directory's entries (new, renamed or removed names) to disk. */
export async function fsyncDirectory(dir: string): Promise<void> {
  // Windows cannot open a directory for fsync; NTFS journals metadata, so skipping is the norm there.
  if (process.platform === 'win32') return;
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeTemporary(dir: string, bytes: Uint8Array): Promise<string> {
  const temp = join(dir, `${TEMP_PREFIX}${randomUUID()}`);
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

/** The `code` of a Node.js system error, if any. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
