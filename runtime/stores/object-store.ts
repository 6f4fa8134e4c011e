/**
 * ObjectStore is the small subset of S3 that Floe's table writers need: whole-object put and
 * get, listing by prefix, delete, and a conditional create (`If-None-Match: *`) that fails when
 * the key already exists. Objects are immutable once written; a reader never sees a partial one.
 *
 * Keys are `/`-separated paths without a leading `/`, e.g. `nexmark/bids/data/0001.parquet`.
 */
import { FloeError } from '../errors.ts';

export interface PutOptions {
  /**
   * `'*'`: create the object only if no object has this key (S3 `If-None-Match: *`). The put
   * then fails with {@link PreconditionFailedError} instead of replacing the existing object.
   * @default - the put replaces any existing object
   */
  readonly ifNoneMatch?: '*';
}

export interface ObjectStore {
  /** Writes the whole object atomically: readers see the old object, or none, or all of `bytes`. */
  put(key: string, bytes: Uint8Array, options?: PutOptions): Promise<void>;
  /** The object's bytes, or `undefined` when there is no object under `key`. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Every key that starts with `prefix` (a plain string prefix, as in S3), sorted. */
  list(prefix: string): Promise<string[]>;
  /** Deletes the object; deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  /**
   * Deletes many objects, in as few requests as the store allows (S3: DeleteObjects, 1,000 keys
   * per request); missing keys are not errors. On failure some of the keys may be deleted.
   * Optional: callers use {@link deleteObjects}, which falls back to one delete per key.
   */
  deleteMany?(keys: readonly string[]): Promise<void>;
  /** The absolute URI another reader opens for `key`: `file:///...` locally, `s3://bucket/...` on S3. */
  uri(key: string): string;
  /** The key of an object given its URI (the inverse of {@link uri}), or `undefined` if the URI is not in this store. */
  keyOf(uri: string): string | undefined;
}

/** A storage operation failed; the message names the store, the key and the cause. */
export class StorageError extends FloeError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StorageError';
  }
}

/**
 * A storage failure that retrying cannot heal: no permission, a read-only or full file system, a
 * path blocked by a file. Someone must act (the message says what), so the processor does not
 * retry it and the CLI prints it as one line. Adapters classify their errors into it; callers
 * find it with {@link permanentStorageError}, however deep it is wrapped.
 */
export class PermanentStorageError extends StorageError {
  /** Retrying the operation gives the same failure. */
  readonly retryable = false;

  constructor(
    message: string,
    /** The path or key the failure is about. */
    readonly path: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'PermanentStorageError';
  }
}

/** The PermanentStorageError `error` is or wraps (through `cause`), if any. */
export function permanentStorageError(error: unknown): PermanentStorageError | undefined {
  let current = error;
  for (let depth = 0; depth < 16 && current !== undefined && current !== null; depth++) {
    if (current instanceof PermanentStorageError) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** A conditional create found an existing object under the key. */
export class PreconditionFailedError extends StorageError {
  constructor(
    readonly key: string,
    message = `Object ${key} already exists; a conditional create (If-None-Match: *) never replaces an object.`,
  ) {
    super(message);
    this.name = 'PreconditionFailedError';
  }
}

/** Deletes `keys` from `store`: one {@link ObjectStore.deleteMany} if the store has it, else one delete per key. */
export async function deleteObjects(store: ObjectStore, keys: readonly string[]): Promise<void> {
  if (keys.length === 0) return;
  if (store.deleteMany !== undefined) {
    await store.deleteMany(keys);
    return;
  }
  await Promise.all(keys.map((key) => store.delete(key)));
}

const SEGMENT = /^[^/\\\0]+$/;

/** The key of `uri` in a store whose URIs all start with `base`, or undefined when it is not one of them. */
export function keyUnder(uri: string, base: string): string | undefined {
  if (!uri.startsWith(base)) return undefined;
  const key = uri.slice(base.length);
  try {
    assertValidKey(key);
  } catch {
    return undefined;
  }
  return key;
}

/** Throws a TypeError unless `key` is a relative `/`-separated path without empty, `.` or `..` segments. */
export function assertValidKey(key: string): void {
  const segments = key.split('/');
  const valid =
    key.length > 0 &&
    segments.every((segment) => SEGMENT.test(segment) && segment !== '.' && segment !== '..');
  if (!valid) {
    throw new TypeError(
      `Invalid object key "${key}". Use a relative path of non-empty segments separated by "/", without "." or ".." segments or backslashes, e.g. "ns/table/data/0001.parquet".`,
    );
  }
}
