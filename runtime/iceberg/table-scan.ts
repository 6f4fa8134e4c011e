/**
 * The data files of a table's current snapshot, found as any Iceberg reader finds them: catalog
 * pointer → metadata file → current snapshot → manifest list → manifests → live entries (status
 * ADDED or EXISTING; DELETED entries are skipped). The files of older snapshots are not read.
 *
 * Used by `floe query` (which hands the files to DuckDB) and by the tests' table reader. Only
 * data manifests are supported: Floe writes appends, never deletes.
 */

import type { Catalog } from '../stores/catalog.ts';
import type { ObjectStore } from '../stores/object-store.ts';
import { loadTable } from './append-files.ts';
import type { DataFile } from './data-file.ts';
import { IcebergMetadataError } from './errors.ts';
import { decodeManifest } from './manifest.ts';
import { decodeManifestList } from './manifest-list.ts';
import type { Snapshot, TableMetadata } from './table-metadata.ts';

export interface TableScan {
  /** `namespace.name`. */
  readonly name: string;
  readonly metadataLocation: string;
  readonly metadata: TableMetadata;
  /** The current snapshot, `undefined` for a table created without a commit. */
  readonly snapshot: Snapshot | undefined;
  /** The live data files of the current snapshot in commit order: oldest manifest first, entries in manifest order. */
  readonly files: readonly DataFile[];
}

/** Manifest entry status: 0 existing, 1 added, 2 deleted. */
const DELETED = 2;

/** The current snapshot's live data files of `name`, or `undefined` when the catalog has no such table. */
export async function scanTable(
  catalog: Catalog,
  store: ObjectStore,
  name: string,
): Promise<TableScan | undefined> {
  const loaded = await loadTable(catalog, store, name);
  if (loaded === undefined) return undefined;
  const { metadataLocation, metadata } = loaded;
  if (metadata.currentSnapshotId === undefined) {
    return { name, metadataLocation, metadata, snapshot: undefined, files: [] };
  }
  const snapshot = metadata.snapshots.find((s) => s.snapshotId === metadata.currentSnapshotId);
  if (snapshot === undefined) {
    throw new IcebergMetadataError(
      `Table ${name}: current snapshot ${metadata.currentSnapshotId} is not listed in ${metadataLocation}.`,
    );
  }
  const manifests = decodeManifestList(await getObject(store, name, snapshot.manifestList))
    // Commit order: a list names the newest manifest first.
    .map((manifest, index) => ({ manifest, index }))
    .sort((a, b) =>
      a.manifest.sequenceNumber === b.manifest.sequenceNumber
        ? a.index - b.index
        : a.manifest.sequenceNumber < b.manifest.sequenceNumber
          ? -1
          : 1,
    );
  const files: DataFile[] = [];
  for (const { manifest } of manifests) {
    if (manifest.content !== 0) {
      throw new IcebergMetadataError(
        `Table ${name}: delete manifest ${manifest.manifestPath} is not supported; Floe reads append-only tables.`,
      );
    }
    const { entries } = decodeManifest(await getObject(store, name, manifest.manifestPath));
    for (const entry of entries) if (entry.status !== DELETED) files.push(entry.dataFile);
  }
  return { name, metadataLocation, metadata, snapshot, files };
}

/** The object key of a URI in `store`; throws when the URI lies outside it. */
export function keyInStore(store: ObjectStore, table: string, uri: string): string {
  const key = store.keyOf(uri);
  if (key === undefined)
    throw new IcebergMetadataError(`Table ${table}: ${uri} is outside ${String(store)}.`);
  return key;
}

async function getObject(store: ObjectStore, table: string, uri: string): Promise<Uint8Array> {
  const bytes = await store.get(keyInStore(store, table, uri));
  if (bytes === undefined) {
    throw new IcebergMetadataError(`Table ${table}: ${uri} is listed but does not exist.`);
  }
  return bytes;
}
