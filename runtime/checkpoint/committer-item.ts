/**
 * The table committer's item in the heads store (`floe/<job>/committer`, beside the heads, not
 * among them): when the last publish round started, which is the lease that keeps concurrent
 * invocations from all running a round at once, and per commit group the epoch through which a
 * complete round published it, which is what cleanup must not go below. Read and written only
 * through this codec, which validates what the store returns.
 */
import { FloeError } from '../errors.ts';
import { metadataVersion } from '../iceberg/table-layout.ts';
import {
  ConditionFailedError,
  type JsonValue,
  type StateStore,
  type VersionedItem,
} from '../stores/state-store.ts';
import { committerKey } from './layout.ts';

export interface CommitterItem {
  /**
   * When the last round started, epoch ms by the clock of the process that ran it: a round is
   * due once the interval has passed since. 0 before the first.
   */
  readonly roundAt: number;
  /**
   * Per commit group: the history (lineage) and the epoch through which every table holds all of
   * that history's files. A lower bound: a round records it only after all of its appends
   * succeeded, and lagging behind only makes the next round walk further and cleanup keep more.
   */
  readonly published: Readonly<Record<string, readonly [lineage: string, epoch: number]>>;
  /** Per table, the metadata location a round's append left: a hint for the writers' caches. */
  readonly tables: Readonly<Record<string, string>>;
}

export interface StoredCommitterItem {
  readonly version: number;
  readonly value: CommitterItem;
}

export const NO_COMMITTER_ITEM: CommitterItem = { roundAt: 0, published: {}, tables: {} };

/** The item, or undefined before the first round. */
export async function readCommitterItem(
  store: StateStore,
  jobId: string,
): Promise<StoredCommitterItem | undefined> {
  const item = await store.get(committerKey(jobId));
  return item === undefined ? undefined : decodeCommitterItem(item);
}

/**
 * Writes `value` if the item is still at `base` (absent when undefined).
 * @throws ConditionFailedError when another round or flush wrote it first.
 */
export async function writeCommitterItem(
  store: StateStore,
  jobId: string,
  value: CommitterItem,
  base: StoredCommitterItem | undefined,
): Promise<StoredCommitterItem> {
  const written = await store.put(
    committerKey(jobId),
    encodeCommitterItem(value),
    base === undefined ? { absent: true } : { expectedVersion: base.version },
  );
  return decodeCommitterItem(written);
}

/**
 * Records what a round did on top of what the item holds now, retrying on a concurrent write: per
 * group the higher epoch of one history (the round's history replaces another one: the group's
 * head was created again), per table the newer metadata file, and the later round start.
 */
export async function recordRound(
  store: StateStore,
  jobId: string,
  base: StoredCommitterItem | undefined,
  round: CommitterItem,
  intervalMs: number,
  tries = 8,
): Promise<StoredCommitterItem> {
  let current = base;
  for (let attempt = 1; ; attempt++) {
    try {
      return await writeCommitterItem(
        store,
        jobId,
        mergeCommitterItems(current?.value, round, intervalMs),
        current,
      );
    } catch (error) {
      if (!(error instanceof ConditionFailedError) || attempt >= tries) throw error;
      current = await readCommitterItem(store, jobId);
    }
  }
}

export function mergeCommitterItems(
  stored: CommitterItem | undefined,
  round: CommitterItem,
  intervalMs: number,
): CommitterItem {
  if (stored === undefined) return round;
  const published: Record<string, readonly [string, number]> = { ...stored.published };
  for (const [group, [lineage, epoch]] of Object.entries(round.published)) {
    const before = published[group];
    if (before === undefined || before[0] !== lineage || before[1] < epoch)
      published[group] = [lineage, epoch];
  }
  const tables: Record<string, string> = { ...stored.tables };
  for (const [table, location] of Object.entries(round.tables)) {
    const before = tables[table];
    if (before === undefined || (metadataVersion(location) ?? 0) >= (metadataVersion(before) ?? 0))
      tables[table] = location;
  }
  // A start far in the future is a skewed clock's: it must not hold every later round back.
  const skewed = stored.roundAt - round.roundAt > intervalMs;
  return { roundAt: skewed ? round.roundAt : Math.max(stored.roundAt, round.roundAt), published, tables };
}

/** The epoch through which `group`'s history `lineage` is published for sure: 0 when unknown. */
export function publishedThrough(item: CommitterItem | undefined, group: string, lineage: string): number {
  const entry = item?.published[group];
  return entry !== undefined && entry[0] === lineage ? entry[1] : 0;
}

export function encodeCommitterItem(value: CommitterItem): JsonValue {
  const published: { [group: string]: JsonValue } = {};
  for (const [group, [lineage, epoch]] of Object.entries(value.published))
    published[group] = [lineage, epoch];
  return { roundAt: value.roundAt, published, tables: { ...value.tables } };
}

/** Validates a stored item; a malformed one is an error naming the key, never a silent cast. */
export function decodeCommitterItem(item: VersionedItem): StoredCommitterItem {
  const v = item.value;
  const ok =
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    typeof v.roundAt === 'number' &&
    Number.isFinite(v.roundAt) &&
    isRecord(v.published) &&
    Object.values(v.published).every(
      (entry) =>
        Array.isArray(entry) &&
        entry.length === 2 &&
        typeof entry[0] === 'string' &&
        typeof entry[1] === 'number' &&
        Number.isSafeInteger(entry[1]) &&
        entry[1] >= 0,
    ) &&
    isRecord(v.tables) &&
    Object.values(v.tables).every((location) => typeof location === 'string');
  if (!ok) {
    throw new FloeError(
      `State item ${item.key} (version ${item.version}) is not Floe's table committer item: expected {roundAt, published, tables}, got ${JSON.stringify(v).slice(0, 200)}. Another program wrote to Floe's state store under this key; delete the item (the next publish round writes it again) or give this job its own table or prefix.`,
    );
  }
  const value = v as unknown as CommitterItem;
  return {
    version: item.version,
    value: { roundAt: value.roundAt, published: value.published, tables: value.tables },
  };
}

function isRecord(value: JsonValue | undefined): value is { [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
