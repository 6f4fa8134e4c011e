/**
 * StateStore is the small key-value store the commit protocol uses for partition heads and state
 * items: versioned items with conditional writes, shaped so that DynamoDB (one item per key, a
 * numeric `version` attribute) can implement it directly. {@link LocalStateStore} implements it
 * on local files for local runs and tests.
 *
 * Every successful write gives the item the next version: a new item starts at version 1 and each
 * put or delete adds 1 (a deleted item's versions go on when it is written again, for at least a
 * day: DynamoDB keeps a tombstone that long). A write with a condition either applies as a whole
 * or throws {@link ConditionFailedError}; it never applies partly.
 *
 * Values are small: at most {@link MAX_STATE_VALUE_BYTES} bytes as JSON text (UTF-8), because a
 * DynamoDB item holds at most 400 KB. Every implementation rejects larger values with
 * {@link StateValueTooLargeError}, so a local run fails where a deployed one would.
 */
import { StorageError } from './object-store.ts';

/**
 * The largest value a state item may hold, in bytes of its JSON text (UTF-8): 384 KB, DynamoDB's
 * item limit of 400 KB (409,600 bytes) less room for the key (up to 1 KB), the version and the
 * other attributes, and for local emulators that count more strictly (moto refuses items above
 * 405,000 bytes).
 */
export const MAX_STATE_VALUE_BYTES = 384 * 1024;

/** A value that survives `JSON.stringify` and `JSON.parse` unchanged. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** One item as stored: its key, its version (1 for a new item, +1 per write) and its value. */
export interface VersionedItem {
  readonly key: string;
  readonly version: number;
  readonly value: JsonValue;
}

/**
 * The condition of a put:
 * - `{ expectedVersion: v }`: the item exists with version `v` (DynamoDB `version = :v`, and not a tombstone);
 * - `{ absent: true }`: no item exists under the key (DynamoDB: none, or a tombstone);
 * - `undefined`: no condition, the put replaces whatever is there.
 */
export type PutCondition = { readonly expectedVersion: number } | { readonly absent: true } | undefined;

/** The condition of a delete: the item exists with version `expectedVersion`. */
export interface DeleteCondition {
  readonly expectedVersion: number;
}

export interface StateStore {
  /**
   * The current item, or `undefined` when there is none (never written, or deleted).
   * DynamoDB: GetItem with `ConsistentRead: true`.
   */
  get(key: string): Promise<VersionedItem | undefined>;

  /**
   * Writes `value` under `key` if `condition` holds and returns the item as written (its new version
   * is the previous version + 1, or 1 for a new item).
   * DynamoDB: one UpdateItem with the condition as `ConditionExpression` and `ADD version 1`
   * (adapters/aws/dynamodb-state-store.ts).
   * @throws ConditionFailedError when the condition does not hold.
   */
  put(key: string, value: JsonValue, condition: PutCondition): Promise<VersionedItem>;

  /**
   * Deletes the item if `condition` holds; deleting a missing item without a condition is not an error.
   * DynamoDB: an UpdateItem that turns the item into a tombstone (the next version, no value,
   * removed by TTL after a day), conditional on `version = :v` when a condition is given.
   * @throws ConditionFailedError when the condition does not hold (also when the item is missing).
   */
  delete(key: string, condition?: DeleteCondition): Promise<void>;

  /**
   * Every current item whose key starts with `prefix` (a plain string prefix), sorted by key.
   * DynamoDB: Query with `KeyConditionExpression` `begins_with(sk, :prefix)`, consistent read,
   * following `LastEvaluatedKey` until the end.
   */
  list(prefix: string): Promise<VersionedItem[]>;
}

/**
 * A conditional write found the item in another state than the condition required.
 * `expectedVersion` is `undefined` when the write required the item to be absent; `actualVersion`
 * is `undefined` when the item was absent (never written, or deleted).
 */
export class ConditionFailedError extends StorageError {
  constructor(
    readonly key: string,
    readonly expectedVersion: number | undefined,
    readonly actualVersion: number | undefined,
  ) {
    super(
      `Conditional write to state item "${key}" failed: expected ${describeVersion(expectedVersion)}, found ${describeVersion(actualVersion)}. Another writer changed the item; read it again and retry.`,
    );
    this.name = 'ConditionFailedError';
  }
}

function describeVersion(version: number | undefined): string {
  return version === undefined ? 'no item' : `version ${version}`;
}

/** A value is larger than a state item may hold ({@link MAX_STATE_VALUE_BYTES}). */
export class StateValueTooLargeError extends StorageError {
  constructor(
    readonly key: string,
    readonly bytes: number,
    readonly limit: number = MAX_STATE_VALUE_BYTES,
  ) {
    super(
      `State item "${key}" would hold ${bytes} bytes of JSON, over the limit of ${limit} bytes (a DynamoDB item holds at most 400 KB). State items are for small values such as heads: write large values to the object store (S3) and keep their key in the item.`,
    );
    this.name = 'StateValueTooLargeError';
  }
}

/** The JSON text of `value`; throws {@link StateValueTooLargeError} when it is over {@link MAX_STATE_VALUE_BYTES} bytes of UTF-8. */
export function stateValueText(key: string, value: JsonValue): string {
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError(`State item "${key}": the value is not JSON.`);
  // Cheap bound first: a UTF-16 code unit is at most 3 bytes of UTF-8.
  if (text.length * 3 > MAX_STATE_VALUE_BYTES) {
    const bytes = utf8Length(text);
    if (bytes > MAX_STATE_VALUE_BYTES) throw new StateValueTooLargeError(key, bytes);
  }
  return text;
}

/** The number of bytes of `text` in UTF-8 (lone surrogates count as the 3 bytes of U+FFFD). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * The item under `key`, created with `initial` when there is none: of concurrent creators one
 * writes it and every one returns that item (a loser reads the winner's).
 */
export async function getOrCreate(
  store: StateStore,
  key: string,
  initial: JsonValue,
): Promise<VersionedItem> {
  const existing = await store.get(key);
  if (existing !== undefined) return existing;
  try {
    return await store.put(key, initial, { absent: true });
  } catch (error) {
    if (!(error instanceof ConditionFailedError)) throw error;
    const created = await store.get(key);
    if (created === undefined) throw error;
    return created;
  }
}
