/**
 * Deletes what no reader and no future commit can need: checkpoint manifests beyond the last N,
 * state objects (bases and deltas) only those named, and the objects of attempts that never
 * committed.
 *
 * Why each deletion is safe:
 * - A commit only ever names the state objects of the head's manifest or its own new ones, so a
 *   state object of an epoch at or below the head's, named by none of the kept manifests, can
 *   never be named again. A manifest names each partition's base and every delta since, so a
 *   kept manifest's whole chain is kept: no delta chain ever reaches a deleted object. A manifest
 *   that holds its partitions' state names no object, and a commit after it writes new bases.
 * - An attempt for an epoch at or below the head's can no longer commit: its head write expects a
 *   version that is gone. Its manifest, state and data files are garbage at once.
 * - An attempt for an epoch above the head's may still be running. Its objects are deleted only
 *   when the attempt is older than the grace period (its start time is in its id), and only after
 *   the head is fenced: rewritten unchanged, so that the attempt's conditional head write fails
 *   even if it was merely stalled and wakes up later.
 * - A committed epoch above the group's published mark (the epoch through which the table
 *   committer's item says a publish round put all of the group's files in the tables) is not in
 *   every table yet: its manifest is kept, whatever `keep` says, so the next round can find it,
 *   and so are the state objects and data files it names. The mark is read from the item and
 *   only ever lags the tables, which only keeps more.
 * - Data files of committed epochs are never deleted here. Within the kept manifests, which name
 *   the committed attempt of each epoch that wrote files (an epoch whose manifest lived only in
 *   its head wrote none), every other attempt's file goes. Below them, no manifest says
 *   which attempt committed, so a file there (a zombie's, written after its epoch left the
 *   window; one no cleanup saw while its epoch was kept) is deleted only when its epoch is at or
 *   below the published mark, its attempt is past the grace period and no snapshot the table
 *   keeps refers to it: a committed file there is in the table. Only files whose name carries
 *   this group's lineage are judged: another history may write to the same table (a fresh state
 *   store over an existing warehouse), and its epochs mean nothing here.
 * - A publish round's file of rows held in manifests (`round-…`, layout.ts) whose epochs are all
 *   at or below the published mark can never enter the table again (rounds select only epochs
 *   above the marks): if no snapshot the table keeps names it, a round that did not land left
 *   it. Judged only by the sweep of all data files, since it takes a read of the table.
 */
import { tableDataFiles } from '../iceberg/append-files.ts';
import { dataFileKey } from '../iceberg/table-layout.ts';
import type { CheckpointStores } from '../stores/checkpoint-stores.ts';
import { deleteObjects, type ObjectStore } from '../stores/object-store.ts';
import { type CommitterItem, publishedThrough, readCommitterItem } from './committer-item.ts';
import { decodeHead } from './head.ts';
import {
  attemptStartedAt,
  dataFilePrefix,
  headKey,
  manifestPrefix,
  parseEpochAttempt,
  parseRoundDataFileName,
  roundDataFilePrefix,
  statePrefix,
} from './layout.ts';
import { type CheckpointManifest, decodeInlineManifest, decodeManifest } from './manifest.ts';

export interface CleanupReport {
  readonly manifests: number;
  readonly states: number;
  readonly dataFiles: number;
}

export interface CleanupOptions {
  readonly job: string;
  readonly group: string;
  /** Manifests to keep, newest first along the head's chain. */
  readonly keep: number;
  readonly graceMs: number;
  readonly now: number;
  /** The tables the group writes data files to. */
  readonly tables: readonly string[];
  /**
   * Manifests the caller already holds (they are immutable), to walk the kept chain without
   * reading them again. @default - every manifest is read
   */
  readonly known?: (key: string) => CheckpointManifest | undefined;
  /**
   * The table committer's item, if the caller read it already (null: there is none); it says
   * through which epoch the group is published. @default - read from the heads store
   */
  readonly committer?: CommitterItem | null;
  /**
   * Which of the group's data files to list and judge (a LIST a table, paged by 1,000 keys, since
   * committed files stay): `all` of them; the `recent` ones (see `recentEpochs`), where a failed
   * or abandoned attempt leaves its files; or `none`. @default 'all'
   */
  readonly dataFiles?: DataFileSweep;
  /**
   * A `recent` sweep lists the epochs from this many below the head, plus twice as many as the
   * group committed within `graceMs` (an orphan is deleted only once older than that, so it must
   * still be in the window then), to one above it. At least twice the caller's period between
   * sweeps, so that one missed sweep loses nothing. @default RECENT_DATA_FILE_EPOCHS
   */
  readonly recentEpochs?: number;
}

export type DataFileSweep = 'all' | 'recent' | 'none';

/**
 * How far below the head a `recent` sweep looks for data files, besides the epochs of the grace
 * period: twice the processors' sweep period at the default cadence (every 8th cleanup, 512
 * epochs). What is older is left to the rare `all` sweeps.
 */
export const RECENT_DATA_FILE_EPOCHS = 1_024;
/** Names carry the epoch in 12 digits. */
const EPOCH_DIGITS = 12;

export async function cleanupGroup(
  stores: CheckpointStores,
  options: CleanupOptions,
): Promise<CleanupReport> {
  const { job, group } = options;
  // Read together: the mark only ever lags the tables, so its age relative to the head's does not matter.
  const [head, committer] = await Promise.all([
    stores.heads.get(headKey(job, group)),
    options.committer === undefined
      ? readCommitterItem(stores.heads, job).then((item) => item?.value)
      : (options.committer ?? undefined),
  ]);
  if (head === undefined) return { manifests: 0, states: 0, dataFiles: 0 };
  const { epoch: headEpoch, manifest: headManifest, lineage, inline } = decodeHead(head).value;
  // Everything through this epoch is in the tables; above it, a publish round still needs it.
  const published = Math.min(headEpoch, publishedThrough(committer, group, lineage));

  // The kept chain: the head's manifest and the ones before it, at least down to the published mark.
  const kept: CheckpointManifest[] = [];
  let next: string | null = headManifest;
  if (inline !== undefined && next !== null) {
    // The head holds its manifest: the chain of stored ones starts at the manifest it follows.
    const top = decodeInlineManifest(inline, next, { job, group, lineage, epoch: headEpoch });
    kept.push(top);
    next = top.previous;
  }
  while (next !== null && (kept.length < options.keep || (parseEpochAttempt(next)?.epoch ?? 0) > published)) {
    const known = options.known?.(next);
    const bytes = known === undefined ? await stores.checkpoints.get(next) : undefined;
    if (known === undefined && bytes === undefined) break; // deleted by an earlier cleanup
    const manifest = known ?? decodeManifest(bytes!, next);
    kept.push(manifest);
    next = manifest.previous;
  }
  const keptManifests = new Set<string>();
  const keptStates = new Set<string>();
  const committedAttempt = new Map<number, string>();
  for (const m of kept) {
    keptManifests.add(`${m.epoch}-${m.attempt}`);
    committedAttempt.set(m.epoch, m.attempt);
    for (const p of Object.values(m.partitions)) {
      if (p.inline !== undefined) continue; // the manifest holds it: no object to keep
      keptStates.add(p.state);
      for (const delta of p.deltas) keptStates.add(delta);
    }
  }
  const expired = (attempt: string) => options.now - attemptStartedAt(attempt) >= options.graceMs;

  // What to delete: `settled` objects (at or below the head's epoch) can never be committed;
  // `abandoned` ones (above it, older than the grace period) only cannot once the head is fenced.
  const settled = (epoch: number) => epoch <= headEpoch;
  const manifests = await select(stores.checkpoints, manifestPrefix(job, group), (_key, epoch, attempt) =>
    keptManifests.has(`${epoch}-${attempt}`) ? false : settled(epoch) || expired(attempt),
  );
  const states = await select(stores.checkpoints, statePrefix(job, group), (key, epoch, attempt) =>
    keptStates.has(key) ? false : settled(epoch) || expired(attempt),
  );
  const dataFiles: Doomed[] = [];
  const sweep = options.dataFiles ?? 'all';
  // The epochs a recent sweep covers below the head; undefined: all (no history to size it by).
  let window: number | undefined;
  if (sweep === 'recent') {
    const inGrace = epochsCommittedIn(kept, options.graceMs);
    if (inGrace !== undefined) window = 2 * inGrace + (options.recentEpochs ?? RECENT_DATA_FILE_EPOCHS);
  }
  for (const table of sweep === 'none' ? [] : options.tables) {
    const prefix = dataFileKey(table, dataFilePrefix(job, group, lineage));
    const prefixes = window === undefined ? [prefix] : recentDataFilePrefixes(prefix, headEpoch, window);
    const candidates = await selectAll(stores.warehouse, prefixes, (_key, epoch, attempt) => {
      if (epoch > headEpoch) return expired(attempt);
      const committed = committedAttempt.get(epoch);
      if (committed !== undefined) return committed !== attempt;
      // No kept manifest says which attempt committed: the table does, once the epoch is at or
      // below the published mark (in the table for sure). Judged below.
      return epoch <= published && expired(attempt);
    });
    const old = candidates.filter((d) => d.epoch <= headEpoch && !committedAttempt.has(d.epoch));
    // The publish rounds' files of rows held in manifests (layout.ts `roundDataFileName`), in a
    // sweep of all data files only (its table read is then rare): one whose epochs are all at or
    // below the published mark can no longer enter the table (every round selects above the
    // marks, which are past them), so if the table does not name it, a round that did not land
    // left it (a failed round, then more commits before the next: other epochs, another name).
    const rounds =
      sweep === 'all'
        ? (await stores.warehouse.list(dataFileKey(table, roundDataFilePrefix(job, group, lineage))))
            .map((key) => ({ store: stores.warehouse, key, epoch: parseRoundDataFileName(key)?.last }))
            .filter((d): d is Doomed => d.epoch !== undefined && d.epoch <= published)
        : [];
    // Read the table only when there is something old to judge (rarely: a leak to plug).
    const inTable =
      old.length === 0 && rounds.length === 0
        ? new Set<string>()
        : await tableDataFiles(stores.catalog, stores.warehouse, table);
    dataFiles.push(...[...candidates, ...rounds].filter((d) => !inTable.has(d.key)));
  }

  // An abandoned attempt may only be stalled (a frozen process, a slow clock): if it woke up after
  // its objects were deleted, its head write would still match the version it read and commit
  // missing objects. Rewriting the head unchanged moves the version first, so it fails instead.
  let fenced = true;
  if ([manifests, states, dataFiles].some((list) => list.some((d) => d.epoch > headEpoch))) {
    fenced = await stores.heads.put(headKey(job, group), head.value, { expectedVersion: head.version }).then(
      () => true,
      () => false, // the head moved: those attempts fail anyway; the next cleanup deletes them
    );
  }
  const doomed = (list: Doomed[]) => list.filter((d) => fenced || d.epoch <= headEpoch);
  const deleted = await Promise.all(
    [manifests, states, dataFiles].map(async (list) => {
      const keys = doomed(list);
      // Each list is of one store; a store with deleteMany (S3) deletes 1,000 keys per request.
      const byStore = new Map<ObjectStore, string[]>();
      for (const d of keys) {
        const storeKeys = byStore.get(d.store) ?? [];
        storeKeys.push(d.key);
        byStore.set(d.store, storeKeys);
      }
      await Promise.all([...byStore].map(([store, storeKeys]) => deleteObjects(store, storeKeys)));
      return keys.length;
    }),
  );
  return { manifests: deleted[0]!, states: deleted[1]!, dataFiles: deleted[2]! };
}

interface Doomed {
  readonly store: ObjectStore;
  readonly key: string;
  readonly epoch: number;
}

/**
 * The prefixes that hold the data files of epochs from `window` below the head to one above it
 * (the highest an attempt can stage: one above the head it read): at most three, each the
 * epochs that share their leading digits (the smallest power of ten, from 10, at least the
 * window), so a listing's pages grow with the window, not with the table.
 */
export function recentDataFilePrefixes(
  prefix: string,
  headEpoch: number,
  window: number = RECENT_DATA_FILE_EPOCHS,
): string[] {
  let digits = EPOCH_DIGITS - 1;
  let size = 10;
  while (size < window && digits > 1) {
    size *= 10;
    digits--;
  }
  const low = Math.floor(Math.max(0, headEpoch - window) / size);
  const high = Math.floor((headEpoch + 1) / size);
  const prefixes: string[] = [];
  for (let bucket = low; bucket <= high; bucket++)
    prefixes.push(`${prefix}${String(bucket).padStart(digits, '0')}`);
  return prefixes;
}

/**
 * About how many epochs the group commits in `ms`, from the kept manifests (newest first) and
 * when they were made; undefined when they span no time.
 */
function epochsCommittedIn(kept: readonly CheckpointManifest[], ms: number): number | undefined {
  const newest = kept[0];
  const oldest = kept[kept.length - 1];
  if (newest === undefined || oldest === undefined) return undefined;
  const span = newest.createdAt - oldest.createdAt;
  if (!(span > 0)) return undefined;
  return Math.ceil(((newest.epoch - oldest.epoch) / span) * ms);
}

async function selectAll(
  store: ObjectStore,
  prefixes: readonly string[],
  garbage: (key: string, epoch: number, attempt: string) => boolean,
): Promise<Doomed[]> {
  return (await Promise.all(prefixes.map((prefix) => select(store, prefix, garbage)))).flat();
}

async function select(
  store: ObjectStore,
  prefix: string,
  garbage: (key: string, epoch: number, attempt: string) => boolean,
): Promise<Doomed[]> {
  const doomed: Doomed[] = [];
  for (const key of await store.list(prefix)) {
    const parsed = parseEpochAttempt(key);
    if (parsed !== undefined && garbage(key, parsed.epoch, parsed.attempt))
      doomed.push({ store, key, epoch: parsed.epoch });
  }
  return doomed;
}
