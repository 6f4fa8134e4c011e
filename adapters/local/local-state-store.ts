/**
 * LocalStateStore keeps {@link StateStore} items as files, for local runs and tests. Each item is a
 * directory `<dir>/<encoded key>/` of numbered version files `v<20 digits>.json`; the current item
 * is the highest version, and a delete writes a tombstone version.
 *
 * Guarantees (the same ones DynamoDB gives the commit protocol):
 * - A write is atomic and durable: the version file is written to a temporary file, fsynced, and
 *   only then given its name with link() (via {@link createExclusive}). After kill -9 at any
 *   instruction a version file is complete or absent, never torn.
 * - Conditional writes are safe across processes: a writer that read version v creates v + 1
 *   exclusively, so of several racers exactly one wins and the others get
 *   {@link ConditionFailedError} (an unconditional put re-reads and tries the next version).
 *
 * Old version files are deleted: those more than {@link KEEP_VERSIONS} below the newest, once
 * older than `pruneAfterMs` (one second by default). Deleting them opens one hole: a writer that
 * read version v, then stalled while v + 1 was written and pruned, would recreate v + 1 with
 * link() and wrongly succeed. So every version file records the random `nonce` of the version it
 * replaced, and after creating v + 1 a writer checks that v + 2 is absent and no higher version
 * exists, or that v + 2 names its nonce (someone built on it). If v + 2 names another nonce, the
 * write was stale: the file is removed and the write fails (or, unconditional, retries). If v + 2
 * is gone too, the outcome cannot be told and the put throws a {@link StorageError} saying so, as
 * a lost DynamoDB response would. The age rule makes that need a stall of more than
 * `pruneAfterMs` (a count alone did not: two processes incrementing one counter on a loaded
 * machine saw a writer stall for more than eight of the other's writes).
 *
 * Keys are arbitrary non-empty strings: the directory name keeps `a-z`, `0-9`, `-` and `_` and
 * percent-encodes every other UTF-8 byte (upper case letters and `.` included, so names are safe on
 * case-insensitive file systems and never `.`, `..` or a temporary name). Names longer than 200
 * characters become `~<sha256 of the key>`; each version file stores the key, so list() and get()
 * recover and check it.
 *
 * A crash can leave temporary files (`.floe-tmp-*`) in an item directory; reads skip them.
 *
 * Reads and listings of items run synchronously on the caller's thread, and so do writes of
 * small items while no write is in the thread pool (see SMALL_WRITE_BYTES in durable-file.ts): a
 * read or a conditional write is a chain of small dependent file calls, for which the thread
 * pool's hand-offs cost more than the calls. Nothing here relies on a write not yielding: the
 * conditional writes are made for racing processes. The methods stay asynchronous, as the
 * StateStore interface is.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { StorageError } from '../../runtime/stores/object-store.ts';
import {
  ConditionFailedError,
  type DeleteCondition,
  type JsonValue,
  type PutCondition,
  type StateStore,
  stateValueText,
  type VersionedItem,
} from '../../runtime/stores/state-store.ts';
import { createExclusive, errorCode, removeDurably } from './durable-file.ts';
import { fsStorageError } from './fs-errors.ts';

/** How many of the newest version files of an item are kept whatever their age. */
export const KEEP_VERSIONS = 8;

/**
 * How old a version file below the newest {@link KEEP_VERSIONS} must be before a write deletes it:
 * a writer stalled for less than this between its create and its check always finds out whether
 * its write counted. At `floe run`'s few dozen commits a second, a head keeps about as many files.
 */
export const PRUNE_AFTER_MS = 1000;

export interface LocalStateStoreOptions {
  /** @default PRUNE_AFTER_MS */
  readonly pruneAfterMs?: number;
}

const VERSION_FILE = /^v(\d{20})\.json$/;
const MAX_NAME = 200;
const HASHED_PREFIX = '~';
/** Re-reads when the version just listed was pruned before it could be read. */
const READ_ATTEMPTS = 100;

/** The content of one version file. */
interface VersionRecord {
  readonly key: string;
  readonly version: number;
  /** Random id of this version; the next version names it in `prev`. */
  readonly nonce: string;
  /** The nonce of the version this one replaced, or null for the first. */
  readonly prev: string | null;
  /** True for a tombstone written by delete(). */
  readonly deleted: boolean;
  readonly value: JsonValue;
}

type Condition = { readonly expectedVersion: number } | { readonly absent: true } | undefined;

export class LocalStateStore implements StateStore {
  /** The absolute directory that holds one subdirectory per item. */
  readonly dir: string;

  private readonly pruneAfterMs: number;

  constructor(dir: string, options: LocalStateStoreOptions = {}) {
    this.dir = resolve(dir);
    this.pruneAfterMs = options.pruneAfterMs ?? PRUNE_AFTER_MS;
  }

  async get(key: string): Promise<VersionedItem | undefined> {
    const head = this.head(key, itemDirName(key));
    return head === undefined || head.deleted ? undefined : toItem(head);
  }

  async put(key: string, value: JsonValue, condition: PutCondition): Promise<VersionedItem> {
    itemDirName(key); // rejects an invalid key before the size
    stateValueText(key, value); // the same limit as DynamoDB's
    const record = await this.write(key, value, false, condition);
    return toItem(record!);
  }

  async delete(key: string, condition?: DeleteCondition): Promise<void> {
    await this.write(key, null, true, condition);
  }

  async list(prefix: string): Promise<VersionedItem[]> {
    let names: string[];
    try {
      names = readdirSync(this.dir, { withFileTypes: true })
        .filter((entry) => entry.isDirectory())
        .map((entry) => entry.name);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return [];
      throw this.failure('list', prefix, error);
    }
    const items: VersionedItem[] = [];
    for (const name of names) {
      const decoded = decodeDirName(name);
      if (decoded === null) continue; // not an item directory
      if (decoded !== undefined && !decoded.startsWith(prefix)) continue;
      const head = this.head(decoded, name);
      if (head !== undefined && !head.deleted && head.key.startsWith(prefix)) items.push(toItem(head));
    }
    return items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  toString(): string {
    return `LocalStateStore(${this.dir})`;
  }

  /** Writes the next version (a value, or a tombstone) if `condition` holds; undefined when a delete had nothing to do. */
  private async write(
    key: string,
    value: JsonValue,
    deleted: boolean,
    condition: Condition,
  ): Promise<VersionRecord | undefined> {
    const name = itemDirName(key);
    for (;;) {
      const head = this.head(key, name);
      const live = liveVersion(head);
      checkCondition(key, condition, live);
      if (deleted && live === undefined) return undefined; // unconditional delete of a missing item
      const record: VersionRecord = {
        key,
        version: (head?.version ?? 0) + 1,
        nonce: randomUUID(),
        prev: head?.nonce ?? null,
        deleted,
        value,
      };
      const path = this.versionPath(name, record.version);
      let outcome: 'created' | 'exists';
      try {
        outcome = await createExclusive(path, new TextEncoder().encode(`${JSON.stringify(record)}\n`));
      } catch (error) {
        throw this.failure('write', key, error);
      }
      if (outcome === 'created') {
        const verdict = this.verify(key, name, record);
        if (verdict === 'current') {
          this.prune(name, record.version);
          return record;
        }
        if (verdict === 'unknown') {
          throw new StorageError(
            `The outcome of the write of version ${record.version} of state item "${key}" in ${this} is unknown: it stalled for more than ${this.pruneAfterMs} ms while later versions were written. Read the item again before retrying.`,
          );
        }
        // A stale writer recreated a pruned version: take the file back; it was never current.
        await removeDurably(path).catch(() => undefined);
      }
      // Lost the race for this version: a conditional write fails, an unconditional one tries again.
      if (condition !== undefined) {
        const actual = liveVersion(this.head(key, name));
        throw new ConditionFailedError(key, expectedOf(condition), actual);
      }
    }
  }

  /**
   * Whether a just-created version file is a real write: 'current' when it is the highest version
   * or the next version was built on it, 'stale' when the next version replaced another file with
   * the same number (pruned before this one was created), 'unknown' when the next version is gone.
   */
  private verify(key: string, name: string, record: VersionRecord): 'current' | 'stale' | 'unknown' {
    const chained = (): 'current' | 'stale' | undefined => {
      const next = this.readVersion(key, name, record.version + 1);
      if (next === undefined) return undefined;
      return next.prev === record.nonce ? 'current' : 'stale';
    };
    const first = chained();
    if (first !== undefined) return first;
    // No next version: current, unless newer versions exist and the next one was pruned.
    if (!this.versions(key, name).some((version) => version > record.version)) return 'current';
    return chained() ?? 'unknown';
  }

  /** The highest version record of an item (a tombstone included), or undefined when there is none. */
  private head(key: string | undefined, name: string): VersionRecord | undefined {
    for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
      const highest = this.versions(key ?? name, name).at(-1);
      if (highest === undefined) return undefined;
      let record = this.readVersion(key ?? name, name, highest);
      if (record === undefined) continue; // pruned after many newer writes; list again
      // Versions are contiguous at the top: follow any written since the listing.
      for (;;) {
        const next = this.readVersion(key ?? name, name, record.version + 1);
        if (next === undefined) break;
        record = next;
      }
      if (key !== undefined && record.key !== key) {
        throw this.failure('read', key, new Error(`directory ${name} holds the item "${record.key}"`));
      }
      return record;
    }
    throw this.failure('read', key ?? name, new Error('versions kept being replaced while reading'));
  }

  /** The version numbers present for an item, ascending. */
  private versions(key: string, name: string): number[] {
    let entries: string[];
    try {
      entries = readdirSync(join(this.dir, name));
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return [];
      throw this.failure('list the versions of', key, error);
    }
    const versions: number[] = [];
    for (const entry of entries) {
      const match = VERSION_FILE.exec(entry);
      if (match !== null) versions.push(Number(match[1]));
    }
    return versions.sort((a, b) => a - b);
  }

  /** One version file, or undefined when it does not exist. */
  private readVersion(key: string, name: string, version: number): VersionRecord | undefined {
    const path = this.versionPath(name, version);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      throw this.failure('read', key, error);
    }
    try {
      const record = JSON.parse(text) as VersionRecord;
      if (record.version !== version || typeof record.key !== 'string' || typeof record.nonce !== 'string') {
        throw new Error('not a version record');
      }
      return record;
    } catch (error) {
      throw this.failure('read', key, new Error(`${path} is invalid: ${(error as Error).message}`));
    }
  }

  /**
   * Deletes version files more than {@link KEEP_VERSIONS} below the one just written (never the
   * current) once they are older than `pruneAfterMs`.
   */
  private prune(name: string, written: number): void {
    let versions: number[];
    try {
      versions = this.versions(name, name);
    } catch {
      return; // housekeeping: the next write prunes
    }
    const highest = Math.max(written, versions.at(-1) ?? 0);
    const now = Date.now();
    for (const version of versions) {
      if (version > highest - KEEP_VERSIONS) break;
      const path = this.versionPath(name, version);
      // Not fsynced: an old file that reappears after a crash is harmless, it is never the highest.
      try {
        // Versions are written in order: from the first one too young to go, all are.
        if (this.pruneAfterMs > 0 && now - statSync(path).mtimeMs < this.pruneAfterMs) break;
        unlinkSync(path);
      } catch {
        // Gone already, or housekeeping that a later write's prune retries.
      }
    }
  }

  private versionPath(name: string, version: number): string {
    return join(this.dir, name, `v${String(version).padStart(20, '0')}.json`);
  }

  private failure(action: string, key: string, cause: unknown): StorageError {
    return fsStorageError(`Could not ${action} state item "${key}" in ${this}`, cause);
  }
}

function toItem(record: VersionRecord): VersionedItem {
  return { key: record.key, version: record.version, value: record.value };
}

function liveVersion(head: VersionRecord | undefined): number | undefined {
  return head === undefined || head.deleted ? undefined : head.version;
}

function expectedOf(condition: NonNullable<Condition>): number | undefined {
  return 'expectedVersion' in condition ? condition.expectedVersion : undefined;
}

function checkCondition(key: string, condition: Condition, live: number | undefined): void {
  if (condition === undefined) return;
  const holds = 'expectedVersion' in condition ? live === condition.expectedVersion : live === undefined;
  if (!holds) throw new ConditionFailedError(key, expectedOf(condition), live);
}

/** The directory name of an item: `a-z0-9-_` kept, every other UTF-8 byte as `%XX`, long names hashed. */
export function itemDirName(key: string): string {
  if (key.length === 0) throw new TypeError('Invalid state key "": use a non-empty string.');
  // encodeURIComponent rejects lone surrogates, which UTF-8 cannot represent.
  encodeURIComponent(key);
  let encoded = '';
  for (const byte of new TextEncoder().encode(key)) {
    const char = String.fromCharCode(byte);
    encoded += /[a-z0-9_-]/.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  if (encoded.length <= MAX_NAME) return encoded;
  return `${HASHED_PREFIX}${createHash('sha256').update(key).digest('hex')}`;
}

/** The key of an item directory; undefined for a hashed name (read the key from a version file), null if not an item. */
function decodeDirName(name: string): string | undefined | null {
  if (name.startsWith(HASHED_PREFIX)) return /^~[0-9a-f]{64}$/.test(name) ? undefined : null;
  if (!/^(?:[a-z0-9_-]|%[0-9A-F]{2})+$/.test(name)) return null;
  try {
    return decodeURIComponent(name);
  } catch {
    return null;
  }
}
