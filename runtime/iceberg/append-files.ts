/**
 * appendFiles commits data files to an Iceberg table as one snapshot whose id the caller chose
 * beforehand, and does so idempotently: if a snapshot with that id is already in the table, the
 * files were committed by an earlier call (whose answer may have been lost) and nothing is
 * written. That is how a publish intent recorded before the commit can be retried safely, after
 * a timeout, a crash, or a restart under a new job identity.
 *
 * A commit is optimistic: write the manifest, the manifest list and the next metadata file, then
 * compare-and-swap the catalog pointer. When another writer moved the pointer first, re-read the
 * table, check again whether the snapshot landed, and rebase: the manifest is reused (its
 * sequence numbers are inherited), only the manifest list and metadata file are rewritten, and
 * the snapshot id stays the same.
 *
 * A missing table is created first (metadata version 1, no snapshot); of two concurrent
 * creators one wins and the other appends to the winner's table.
 *
 * Each append keeps the table's per-commit cost bounded: it keeps at most `floe.snapshots.retain`
 * snapshots (default 100) and merges small manifests (Iceberg's `commit.manifest.*` properties,
 * manifest-merge.ts). Since expiry removes old snapshot ids, a caller that must recognise an old
 * commit passes a `mark`: a per-publisher high-water mark stored as a table property and set in
 * the same metadata commit as the snapshot.
 */

import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Columns, Table } from '../sink/table.ts';
import type { Catalog } from '../stores/catalog.ts';
import type { ObjectStore } from '../stores/object-store.ts';
import type { DataFile } from './data-file.ts';
import { CommitConflictError, IcebergError, IcebergMetadataError, SchemaMismatchError } from './errors.ts';
import { decodeManifest, encodeManifest } from './manifest.ts';
import { decodeManifestList, encodeManifestList, type ManifestFile } from './manifest-list.ts';
import { mergeManifests } from './manifest-merge.ts';
import { markValue } from './publisher-marks.ts';
import { describeSchemaDifference, type IcebergSchema, icebergSchema } from './schema.ts';
import { metadataFileName, metadataVersion, tableKeyPrefix } from './table-layout.ts';
import {
  findSnapshot,
  newTableMetadata,
  parseTableMetadata,
  serializeTableMetadata,
  type TableMetadata,
  withSnapshot,
} from './table-metadata.ts';
import { manifestMergeSettings, snapshotsToRetain } from './table-properties.ts';

export interface AppendOptions {
  /** The snapshot id to commit, chosen before the first attempt and kept across retries: 1 to 2^63 - 1. */
  readonly snapshotId: bigint;
  /**
   * Extra snapshot summary properties, e.g. `{ 'floe.intent': 'p3-e42' }`. Keys Iceberg computes
   * (`operation`, `added-*`, `total-*`, …) are rejected.
   * @default - none
   */
  readonly summary?: Readonly<Record<string, string>>;
  /**
   * Commit attempts before giving up with CommitConflictError. Each lost race re-reads the
   * table and rebases; a jittered backoff (5 ms doubling, at most 1 s) separates attempts.
   * @default 20
   */
  readonly maxAttempts?: number;
  /** Table properties, used only when this call creates the table. @default - none */
  readonly properties?: Readonly<Record<string, string>>;
  /** Clock for snapshot and metadata timestamps. @default Date.now */
  readonly now?: () => number;
  /**
   * A monotonic high-water mark of the publisher, kept as the table property `key` (e.g.
   * `floe.published.<lineage>.<group>`, value the epoch). The append is `alreadyCommitted` when
   * the snapshot id is in the table OR the property holds a number >= `value`; a commit sets the
   * property to `value` in the same metadata file as its snapshot. Unlike the snapshot id, the
   * mark survives snapshot expiry.
   * @default - none: only the snapshot id is checked, which misses expired snapshots
   */
  readonly mark?: { readonly key: string; readonly value: number };
  /**
   * What this writer's last successful append to the table left, to skip reading the pointer,
   * the metadata file and the parent's manifest list on its next append (3 of its 7 round trips).
   * Safe when stale: the commit is a compare-and-swap on the cached pointer, so if anyone else
   * committed meanwhile it fails, and the next attempt reads the table afresh (and finds this
   * snapshot id if someone else published it).
   * @default - none: every append reads the table
   */
  readonly cache?: TableCache;
}

/** One writer's memory of a table, for {@link AppendOptions.cache}; one per table. */
export class TableCache {
  /** @internal */
  entry:
    | { readonly location: string; readonly metadata: TableMetadata; readonly manifests: ManifestFile[] }
    | undefined;

  /** The metadata location of the cached table, if any. */
  get location(): string | undefined {
    return this.entry?.location;
  }

  /**
   * Forgets the cached table unless it is at `location`: a hint, from elsewhere, of where the
   * table now is. A stale cache is still safe (the commit would lose its compare-and-swap), but
   * that attempt's manifest list and metadata file would be written for nothing.
   */
  forgetUnlessAt(location: string | undefined): void {
    if (this.entry !== undefined && this.entry.location !== location) this.entry = undefined;
  }
}

/**
 * What one attempt of {@link appendPlanned} commits, decided from the table as that attempt finds
 * it (a lost race re-reads the table and asks again).
 */
export interface AppendPlan {
  /** 1 to 2^63 - 1. A plan with another id than the previous attempt's writes a new manifest. */
  readonly snapshotId: bigint;
  readonly files: readonly DataFile[];
  /** Extra snapshot summary properties; keys Iceberg computes are rejected. @default - none */
  readonly summary?: Readonly<Record<string, string>>;
  /** Table properties set in the same metadata commit as the snapshot (publisher marks). @default - none */
  readonly properties?: Readonly<Record<string, string>>;
}

/** The table as an attempt of {@link appendPlanned} finds it. */
export interface TableView {
  readonly name: string;
  readonly properties: Readonly<Record<string, string>>;
  /** Whether a snapshot with this id is in the table (until it expires). */
  hasSnapshot(snapshotId: bigint): boolean;
}

/** Decides what to commit from the current table; `undefined`: nothing to do (already committed). */
/** May write what its plan names (a file of the selected rows) before it returns. */
export type AppendPlanner = (table: TableView) => AppendPlan | undefined | Promise<AppendPlan | undefined>;

export type PlannedAppendOptions = Omit<AppendOptions, 'snapshotId' | 'summary' | 'mark'>;

export type PlannedAppendResult =
  | {
      /** The planner found nothing to commit: nothing was written. */
      readonly committed: false;
      readonly metadataLocation: string;
    }
  | {
      readonly committed: true;
      /** The plan the winning attempt committed. */
      readonly plan: AppendPlan;
      readonly metadataLocation: string;
      readonly sequenceNumber: number;
      /** Commit attempts made, 1 when no other writer interfered. */
      readonly attempts: number;
    };

export type AppendResult =
  | {
      /** A snapshot with this id was already in the table, or the mark was reached: nothing was written. */
      readonly alreadyCommitted: true;
      readonly snapshotId: bigint;
      readonly metadataLocation: string;
    }
  | {
      readonly alreadyCommitted: false;
      readonly snapshotId: bigint;
      /** The metadata file this commit installed. */
      readonly metadataLocation: string;
      readonly sequenceNumber: number;
      /** Commit attempts made, 1 when no other writer interfered. */
      readonly attempts: number;
    };

const MAX_SNAPSHOT_ID = 2n ** 63n - 1n;
const DEFAULT_MAX_ATTEMPTS = 20;
/** Summary keys an append computes; a caller may not set them. */
const RESERVED_SUMMARY =
  /^(operation|added-.*|deleted-.*|removed-.*|changed-.*|total-.*|manifests-.*|entries-processed)$/;

/**
 * Commits `files` to `tableName` as snapshot `options.snapshotId`. Returns `alreadyCommitted:
 * true` without writing anything when the table already has that snapshot, or already has
 * `options.mark` at or beyond its value.
 *
 * @example
 * const file = await writeDataFile(store, bids, rows, dataFileKey(bids.name, 'p3-e42.parquet'));
 * await appendFiles(catalog, store, bids.name, bids, [file], { snapshotId: intent.snapshotId });
 */
export async function appendFiles<C extends Columns>(
  catalog: Catalog,
  store: ObjectStore,
  tableName: string,
  table: Table<C>,
  files: readonly DataFile[],
  options: AppendOptions,
): Promise<AppendResult> {
  const { snapshotId, mark } = options;
  const summary = options.summary ?? {};
  checkSnapshotId(tableName, snapshotId);
  checkSummary(tableName, summary);
  if (mark !== undefined) {
    if (typeof mark.key !== 'string' || mark.key.trim() === '') {
      throw new IcebergError(`Table ${tableName}: mark.key must be a non-empty table property name.`);
    }
    if (!Number.isFinite(mark.value)) {
      throw new IcebergError(`Table ${tableName}: mark.value must be a finite number, got ${mark.value}.`);
    }
  }
  const plan: AppendPlan = {
    snapshotId,
    files,
    summary,
    ...(mark === undefined ? {} : { properties: { [mark.key]: String(mark.value) } }),
  };
  const result = await appendPlanned(
    catalog,
    store,
    tableName,
    table,
    (current) =>
      current.hasSnapshot(snapshotId) ||
      (mark !== undefined && (markValue(current.properties, mark.key, tableName) ?? -Infinity) >= mark.value)
        ? undefined
        : plan,
    options,
  );
  if (!result.committed)
    return { alreadyCommitted: true, snapshotId, metadataLocation: result.metadataLocation };
  const { metadataLocation, sequenceNumber, attempts } = result;
  return { alreadyCommitted: false, snapshotId, metadataLocation, sequenceNumber, attempts };
}

/**
 * Commits what `plan` decides, as one snapshot: `plan` sees the table as each attempt finds it
 * and returns the snapshot id, the files, and table properties to set in the same metadata
 * commit, or `undefined` when there is nothing (left) to commit. After a lost compare-and-swap
 * the table is read again and `plan` asked again, so a plan that depends on the table's
 * properties (publisher marks: drop what the marks say is published) is recomputed on every
 * rebase. A plan with the same snapshot id as the previous attempt's reuses its manifest (the id
 * fixes the files); another id writes a new one and deletes the old.
 *
 * @example
 * await appendPlanned(catalog, store, bids.name, bids, (table) =>
 *   Number(table.properties['my.mark'] ?? 0) >= 42 ? undefined
 *     : { snapshotId: 4242n, files, properties: { 'my.mark': '42' } }, {});
 */
export async function appendPlanned<C extends Columns>(
  catalog: Catalog,
  store: ObjectStore,
  tableName: string,
  table: Table<C>,
  plan: AppendPlanner,
  options: PlannedAppendOptions,
): Promise<PlannedAppendResult> {
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new IcebergError(`Table ${tableName}: maxAttempts must be a positive integer, got ${maxAttempts}.`);
  }
  const now = options.now ?? Date.now;
  const schema = icebergSchema(table.columns);
  // Written at most once per snapshot id and reused by every attempt with that id (sequence
  // numbers are inherited).
  let manifest:
    | { readonly snapshotId: bigint; readonly file: ManifestFile; readonly key: string }
    | undefined;
  let lastSnapshotId: bigint | undefined;

  let creations = 0;
  // Used for the first attempt only; any failure forgets it, so that retries read afresh.
  let cached = options.cache?.entry;
  if (options.cache !== undefined) options.cache.entry = undefined;
  for (let attempt = 1; attempt <= maxAttempts; ) {
    const warm = cached;
    cached = undefined;
    const location = warm?.location ?? (await catalog.currentMetadataLocation(tableName));
    if (location === undefined) {
      if (++creations > maxAttempts) {
        throw new IcebergError(
          `Table ${tableName}: ${String(catalog)} still has no table after ${maxAttempts} creations; check the catalog.`,
        );
      }
      await createTable(catalog, store, tableName, schema, options.properties ?? {}, now());
      continue; // re-read: the table is ours or a concurrent creator's
    }
    const current = warm?.metadata ?? (await readMetadata(store, tableName, location));
    // Asked on every attempt: a rebase may find that a retry of this commit landed meanwhile.
    const decided = await plan({
      name: tableName,
      properties: current.properties,
      hasSnapshot: (id) => findSnapshot(current, id) !== undefined,
    });
    if (decided === undefined) {
      if (manifest !== undefined) await store.delete(manifest.key).catch(() => undefined);
      if (options.cache !== undefined && warm !== undefined) options.cache.entry = warm;
      return { committed: false, metadataLocation: location };
    }
    const { snapshotId, files } = decided;
    const extraSummary = decided.summary ?? {};
    checkSnapshotId(tableName, snapshotId);
    lastSnapshotId = snapshotId;
    checkSummary(tableName, extraSummary);
    checkTable(tableName, current, schema, location);
    snapshotsToRetain(current.properties, tableName); // a bad value fails here, naming the table
    const mergeSettings = manifestMergeSettings(current.properties, tableName);

    const metadataPrefix = keyIn(store, `${current.location}/metadata`, tableName);
    if (manifest !== undefined && manifest.snapshotId !== snapshotId) {
      // The plan changed (another writer published part of it): the old manifest is unreferenced.
      await store.delete(manifest.key).catch(() => undefined);
      manifest = undefined;
    }
    if (manifest === undefined && files.length > 0) {
      // The manifest records the table's schema id (the fields matched above).
      const schemaId = Number(current.currentSchema['schema-id'] ?? 0);
      const bytes = encodeManifest({ schema: { ...schema, 'schema-id': schemaId }, snapshotId, files });
      const key = `${metadataPrefix}/${randomUUID()}-m0.avro`;
      await store.put(key, bytes, { ifNoneMatch: '*' });
      manifest = {
        snapshotId,
        key,
        file: addedManifest(store.uri(key), bytes.byteLength, snapshotId, files),
      };
    }
    const sequenceNumber = current.lastSequenceNumber + 1;
    const parent =
      current.currentSnapshotId === undefined ? undefined : findSnapshot(current, current.currentSnapshotId);
    const inherited =
      warm?.manifests ??
      (parent === undefined ? [] : await readManifestList(store, tableName, parent.manifestList));
    let mergedKey: string | undefined;
    const merge = await mergeManifests({
      tableName,
      inherited,
      settings: mergeSettings,
      schema: { ...schema, 'schema-id': Number(current.currentSchema['schema-id'] ?? 0) },
      snapshotId,
      sequenceNumber,
      read: (uri) => readObject(store, tableName, uri, 'manifest'),
      write: async (bytes) => {
        mergedKey = `${metadataPrefix}/${randomUUID()}-m1.avro`;
        await store.put(mergedKey, bytes, { ifNoneMatch: '*' });
        return store.uri(mergedKey);
      },
    });
    // The merged manifest first: it holds the older files, and list order is commit order.
    const manifests = [
      ...(merge.merged === undefined ? [] : [merge.merged]),
      ...(manifest === undefined
        ? []
        : [
            {
              ...manifest.file,
              sequenceNumber: BigInt(sequenceNumber),
              minSequenceNumber: BigInt(sequenceNumber),
            },
          ]),
      ...merge.kept,
    ];
    const mergeSummary: Record<string, string> =
      merge.replaced === 0
        ? {}
        : {
            'manifests-created': String(
              (merge.merged === undefined ? 0 : 1) + (manifest === undefined ? 0 : 1),
            ),
            'manifests-kept': String(merge.kept.length),
            'manifests-replaced': String(merge.replaced),
            'entries-processed': String(merge.entriesProcessed),
          };
    const listKey = `${metadataPrefix}/snap-${snapshotId}-${attempt}-${randomUUID()}.avro`;
    await store.put(
      listKey,
      encodeManifestList({ snapshotId, parentSnapshotId: parent?.snapshotId, sequenceNumber, manifests }),
      { ifNoneMatch: '*' },
    );
    const timestampMs = Math.max(now(), current.lastUpdatedMs);
    const next = withSnapshot(current, {
      currentLocation: location,
      snapshotId,
      manifestList: store.uri(listKey),
      summary: { ...snapshotSummary(files, parent?.summary), ...mergeSummary, ...extraSummary },
      timestampMs,
      ...(decided.properties === undefined ? {} : { properties: decided.properties }),
    });
    const version = (metadataVersion(location) ?? current.snapshots.length) + 1;
    const metadataKey = `${metadataPrefix}/${metadataFileName(version)}`;
    const nextBytes = serializeTableMetadata(next);
    await store.put(metadataKey, nextBytes, { ifNoneMatch: '*' });
    const nextLocation = store.uri(metadataKey);
    if (await catalog.compareAndSwap(tableName, location, nextLocation)) {
      if (options.cache !== undefined) {
        options.cache.entry = {
          location: nextLocation,
          metadata: parseTableMetadata(nextBytes, `${nextLocation} of table ${tableName}`),
          manifests,
        };
      }
      return {
        committed: true,
        plan: decided,
        metadataLocation: nextLocation,
        sequenceNumber,
        attempts: attempt,
      };
    }
    // Lost the race: these files are referenced by nothing, so they can go. The merge depends on
    // the parent, so the next attempt redoes it.
    const orphans = [metadataKey, listKey, ...(mergedKey === undefined ? [] : [mergedKey])];
    await Promise.all(orphans.map((key) => store.delete(key))).catch(() => undefined);
    attempt++;
    if (attempt <= maxAttempts) await sleep(Math.random() * Math.min(1000, 5 * 2 ** (attempt - 2)));
  }
  throw new CommitConflictError(
    `Table ${tableName}: snapshot ${lastSnapshotId} lost the commit race ${maxAttempts} times in a row. Too many writers commit to this table at once; route its commits through one committer, or raise maxAttempts. Retrying is safe: the snapshot id and the marks decide again what is committed.`,
  );
}

function checkSnapshotId(tableName: string, snapshotId: bigint): void {
  if (snapshotId < 1n || snapshotId > MAX_SNAPSHOT_ID) {
    throw new IcebergError(`Table ${tableName}: snapshotId must be from 1 to 2^63 - 1, got ${snapshotId}.`);
  }
}

function checkSummary(tableName: string, summary: Readonly<Record<string, string>>): void {
  for (const key of Object.keys(summary)) {
    if (RESERVED_SUMMARY.test(key)) {
      throw new IcebergError(
        `Table ${tableName}: summary key "${key}" is computed by the append; use a prefixed key such as "floe.${key}".`,
      );
    }
  }
}

/** Reads a table's current metadata through the catalog, or `undefined` if it does not exist. */
export async function loadTable(
  catalog: Catalog,
  store: ObjectStore,
  tableName: string,
): Promise<{ readonly metadataLocation: string; readonly metadata: TableMetadata } | undefined> {
  const metadataLocation = await catalog.currentMetadataLocation(tableName);
  if (metadataLocation === undefined) return undefined;
  return { metadataLocation, metadata: await readMetadata(store, tableName, metadataLocation) };
}

/**
 * The keys (in `store`) of every data file a snapshot the table still keeps refers to, whatever
 * the entry's status: what a file cleanup must never delete. Empty when the table does not exist.
 * Reads each retained snapshot's manifest list and each manifest once.
 */
export async function tableDataFiles(
  catalog: Catalog,
  store: ObjectStore,
  tableName: string,
): Promise<Set<string>> {
  const keys = new Set<string>();
  const table = await loadTable(catalog, store, tableName);
  if (table === undefined) return keys;
  const manifests = new Set<string>();
  for (const snapshot of table.metadata.snapshots) {
    for (const manifest of await readManifestList(store, tableName, snapshot.manifestList)) {
      manifests.add(manifest.manifestPath);
    }
  }
  for (const location of manifests) {
    const manifest = decodeManifest(await readObject(store, tableName, location, 'manifest'));
    for (const entry of manifest.entries) keys.add(keyIn(store, entry.dataFile.filePath, tableName));
  }
  return keys;
}

async function createTable(
  catalog: Catalog,
  store: ObjectStore,
  tableName: string,
  schema: IcebergSchema,
  properties: Readonly<Record<string, string>>,
  timestampMs: number,
): Promise<void> {
  const prefix = tableKeyPrefix(tableName);
  const metadata = newTableMetadata({ location: store.uri(prefix), schema, properties, timestampMs });
  const key = `${prefix}/metadata/${metadataFileName(1)}`;
  await store.put(key, serializeTableMetadata(metadata), { ifNoneMatch: '*' });
  if (!(await catalog.compareAndSwap(tableName, undefined, store.uri(key)))) {
    await store.delete(key).catch(() => undefined); // a concurrent creator won
  }
}

async function readMetadata(store: ObjectStore, tableName: string, location: string): Promise<TableMetadata> {
  const bytes = await store.get(keyIn(store, location, tableName));
  if (bytes === undefined) {
    throw new IcebergMetadataError(
      `Table ${tableName}: the catalog points at ${location}, which does not exist. Restore the file or point the catalog at an existing metadata file.`,
    );
  }
  return parseTableMetadata(bytes, `${location} of table ${tableName}`);
}

async function readObject(
  store: ObjectStore,
  tableName: string,
  uri: string,
  what: string,
): Promise<Uint8Array> {
  const bytes = await store.get(keyIn(store, uri, tableName));
  if (bytes === undefined) {
    throw new IcebergMetadataError(
      `Table ${tableName}: the current snapshot's ${what} ${uri} does not exist.`,
    );
  }
  return bytes;
}

async function readManifestList(
  store: ObjectStore,
  tableName: string,
  location: string,
): Promise<ManifestFile[]> {
  const bytes = await readObject(store, tableName, location, 'manifest list');
  try {
    return decodeManifestList(bytes);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new IcebergMetadataError(`Table ${tableName}: cannot read manifest list ${location}: ${reason}.`, {
      cause: error,
    });
  }
}

function checkTable(
  tableName: string,
  current: TableMetadata,
  schema: IcebergSchema,
  location: string,
): void {
  const difference = describeSchemaDifference(current.currentSchema, schema);
  if (difference !== undefined) {
    throw new SchemaMismatchError(
      `Table ${tableName} (${location}) does not have the job's schema: ${difference}. Floe does not evolve schemas yet; write to a new table or migrate this one.`,
    );
  }
  const fields = current.defaultSpec.fields;
  if (Array.isArray(fields) && fields.length > 0) {
    throw new IcebergError(
      `Table ${tableName} (${location}) is partitioned; Floe appends to unpartitioned tables only.`,
    );
  }
}

/** The store key of a URI inside the table, or an error naming both. */
function keyIn(store: ObjectStore, uri: string, tableName: string): string {
  const key = store.keyOf(uri);
  if (key === undefined) {
    throw new IcebergError(
      `Table ${tableName}: ${uri} is outside ${String(store)}; open the table with the store that holds it.`,
    );
  }
  return key;
}

function addedManifest(
  location: string,
  length: number,
  snapshotId: bigint,
  files: readonly DataFile[],
): ManifestFile {
  return {
    manifestPath: location,
    manifestLength: BigInt(length),
    partitionSpecId: 0,
    content: 0,
    sequenceNumber: 0n, // set per attempt
    minSequenceNumber: 0n,
    addedSnapshotId: snapshotId,
    addedFilesCount: files.length,
    existingFilesCount: 0,
    deletedFilesCount: 0,
    addedRowsCount: BigInt(files.reduce((sum, file) => sum + file.recordCount, 0)),
    existingRowsCount: 0n,
    deletedRowsCount: 0n,
    partitions: [],
    keyMetadata: null,
  };
}

/**
 * The summary of an append: what it added, and the table totals when the parent recorded
 * them (a parent written without totals leaves them out rather than guessing).
 */
function snapshotSummary(
  files: readonly DataFile[],
  parent: Readonly<Record<string, string>> | undefined,
): Record<string, string> {
  const addedRecords = files.reduce((sum, file) => sum + file.recordCount, 0);
  const addedSize = files.reduce((sum, file) => sum + file.fileSizeInBytes, 0);
  const summary: Record<string, string> = {
    operation: 'append',
    'added-data-files': String(files.length),
    'added-records': String(addedRecords),
    'added-files-size': String(addedSize),
  };
  const totals: [string, number][] = [
    ['total-data-files', files.length],
    ['total-records', addedRecords],
    ['total-files-size', addedSize],
    ['total-delete-files', 0],
    ['total-position-deletes', 0],
    ['total-equality-deletes', 0],
  ];
  for (const [key, added] of totals) {
    const before = parent === undefined ? '0' : parent[key];
    if (before !== undefined && /^\d+$/.test(before)) summary[key] = String(BigInt(before) + BigInt(added));
  }
  return summary;
}
