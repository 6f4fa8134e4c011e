/**
 * LocalObjectStore keeps objects as files under a root directory, for local runs and tests. It
 * gives the same guarantees Floe relies on from S3: a put is atomic (a reader sees the whole
 * object or nothing, even after kill -9 at any instruction), a conditional create has exactly one
 * winner among concurrent processes, and a completed put is on disk.
 *
 * Trade-off: every put costs two fsyncs (file and directory; large puts finishing together in
 * one directory share the directory fsync), so it is slower than a plain write; that is the price
 * of surviving machine crashes, and tables write few, large objects. Small puts and deletes run
 * synchronously on the caller's thread (see SMALL_WRITE_BYTES in durable-file.ts).
 */
import { readdir, readFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  assertValidKey,
  type ObjectStore,
  PreconditionFailedError,
  type PutOptions,
  type StorageError,
} from '../../runtime/stores/object-store.ts';
import { createExclusive, errorCode, removeDurably, replaceAtomically, TEMP_PREFIX } from './durable-file.ts';
import { fsStorageError } from './fs-errors.ts';

export class LocalObjectStore implements ObjectStore {
  /** The absolute root directory. */
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  async put(key: string, bytes: Uint8Array, options: PutOptions = {}): Promise<void> {
    const path = this.pathOf(key);
    try {
      if (options.ifNoneMatch === '*') {
        if ((await createExclusive(path, bytes)) === 'exists') throw new PreconditionFailedError(key);
      } else {
        await replaceAtomically(path, bytes);
      }
    } catch (error) {
      if (error instanceof PreconditionFailedError) throw error;
      throw this.failure('write', key, error);
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const path = this.pathOf(key);
    try {
      return new Uint8Array(await readFile(path));
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      throw this.failure('read', key, error);
    }
  }

  async list(prefix: string): Promise<string[]> {
    // Walk only the directory the prefix lies in: "a/b/c" lists under a/b and keeps names starting with c.
    const slash = prefix.lastIndexOf('/');
    const base = slash < 0 ? '' : prefix.slice(0, slash);
    if (base !== '') assertValidKey(base);
    const keys: string[] = [];
    await this.walk(base === '' ? this.root : join(this.root, ...base.split('/')), base, prefix, keys);
    return keys.sort();
  }

  async delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    try {
      await removeDurably(path);
    } catch (error) {
      throw this.failure('delete', key, error);
    }
  }

  uri(key: string): string {
    return pathToFileURL(this.pathOf(key)).href;
  }

  keyOf(uri: string): string | undefined {
    if (!uri.startsWith('file:')) return undefined;
    const rel = relative(this.root, fileURLToPath(uri));
    if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return undefined;
    return rel.split(sep).join('/');
  }

  toString(): string {
    return `LocalObjectStore(${this.root})`;
  }

  private pathOf(key: string): string {
    assertValidKey(key);
    const last = key.slice(key.lastIndexOf('/') + 1);
    if (last.startsWith(TEMP_PREFIX)) {
      throw new TypeError(`Invalid object key "${key}": names starting with ${TEMP_PREFIX} are reserved.`);
    }
    return join(this.root, ...key.split('/'));
  }

  private async walk(dir: string, dirKey: string, prefix: string, out: string[]): Promise<void> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw this.failure('list', prefix, error);
    }
    for (const entry of entries) {
      if (entry.name.startsWith(TEMP_PREFIX)) continue;
      const key = dirKey === '' ? entry.name : `${dirKey}/${entry.name}`;
      if (entry.isDirectory()) {
        // Descend only where keys can still match: the directory's key is a prefix of `prefix` or vice versa.
        if (prefix.startsWith(`${key}/`) || `${key}/`.startsWith(prefix)) {
          await this.walk(join(dir, entry.name), key, prefix, out);
        }
      } else if (entry.isFile() && key.startsWith(prefix)) {
        out.push(key);
      }
    }
  }

  private failure(action: string, key: string, cause: unknown): StorageError {
    return fsStorageError(`Could not ${action} ${key} in ${this}`, cause);
  }
}
