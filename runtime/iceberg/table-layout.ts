/**
 * Where a table's objects live. A table `ns.name` created by Floe has its location at the store
 * key `ns/name`; metadata files go under `<location>/metadata/` and data files under
 * `<location>/data/`, as Iceberg's writers lay them out.
 */
import { randomUUID } from 'node:crypto';
import { IcebergError } from './errors.ts';

const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$/;

/** Throws unless `name` is `namespace.name` (letters, digits, underscores), as Floe tables are named. */
export function assertTableName(name: string): void {
  if (!TABLE_NAME.test(name)) {
    throw new IcebergError(
      `Invalid table name "${name}". Use namespace.name with letters, digits and underscores, e.g. nexmark.bids_per_auction.`,
    );
  }
}

/** The store key of the location of a table Floe creates: `nexmark.bids` → `nexmark/bids`. */
export function tableKeyPrefix(name: string): string {
  assertTableName(name);
  return name.split('.').join('/');
}

/** The key for a data file of a table Floe created, e.g. `dataFileKey('ns.t', 'p3-e42.parquet')`. */
export function dataFileKey(tableName: string, fileName: string): string {
  if (fileName.includes('/') || fileName === '' || fileName.startsWith('.')) {
    throw new IcebergError(
      `Invalid data file name "${fileName}" for table ${tableName}: use a plain file name.`,
    );
  }
  return `${tableKeyPrefix(tableName)}/data/${fileName}`;
}

/** `<version, 5 digits>-<uuid>.metadata.json`, as Iceberg's Java writer names metadata files. */
export function metadataFileName(version: number): string {
  return `${String(version).padStart(5, '0')}-${randomUUID()}.metadata.json`;
}

/** The version in a metadata file name (`00042-….metadata.json` → 42), or `undefined`. */
export function metadataVersion(location: string): number | undefined {
  const match = /(?:^|\/)(\d+)-[^/]*\.metadata\.json(?:\.gz)?$/.exec(location);
  return match === null ? undefined : Number(match[1]);
}
