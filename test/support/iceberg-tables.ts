/**
 * A small reader of the Iceberg tables a Floe run writes, for tests that compare table contents
 * (for example a run killed with SIGKILL and resumed against an uninterrupted run).
 *
 * It follows the table as any Iceberg reader does: catalog pointer → metadata → current
 * snapshot's manifest list → manifests (live entries only) → Parquet data files, and reads the
 * data with hyparquet, not with the writer's code, so that it checks what was written rather than
 * what the writer believes it wrote.
 */
import { type ParquetParsers, parquetReadObjects } from 'hyparquet';
import type { LocalObjectStore } from '../../adapters/local/local-object-store.ts';
import { runDirectory } from '../../adapters/local/run-directory.ts';
import { loadTable } from '../../runtime/iceberg/append-files.ts';
import { decodeManifest } from '../../runtime/iceberg/manifest.ts';
import { decodeManifestList } from '../../runtime/iceberg/manifest-list.ts';

export interface TableContents {
  /** `namespace.name`. */
  name: string;
  /** Snapshots listed in the current metadata (0 for a table created without a commit). */
  snapshots: number;
  /** Rows of the current snapshot: files in commit order (oldest first), rows in file order. */
  rows: Record<string, unknown>[];
  /** Warehouse keys of the live data files (e.g. `ns/t/data/p0-e1.parquet`), in the order of `rows`. */
  files: string[];
}

/** Manifest entry status: 0 existing, 1 added, 2 deleted. */
const DELETED = 2;

/** Reads the current snapshot of every table in a run directory (runDirectory(dir).catalog / .warehouse). */
export async function readRunTables(dir: string): Promise<Map<string, TableContents>> {
  const { catalog } = runDirectory(dir);
  const tables = new Map<string, TableContents>();
  for (const { name } of await catalog.listTables()) tables.set(name, await readTable(dir, name));
  return tables;
}

/** Reads one table's current snapshot: all data files listed in its live manifests, rows in file order. */
export async function readTable(dir: string, name: string): Promise<TableContents> {
  const { catalog, warehouse } = runDirectory(dir);
  const loaded = await loadTable(catalog, warehouse, name);
  if (loaded === undefined) {
    const known = (await catalog.listTables()).map((t) => t.name);
    throw new Error(
      `Table ${name} does not exist in run directory ${dir} (tables: ${known.length > 0 ? known.join(', ') : 'none'}).`,
    );
  }
  const { metadata } = loaded;
  const contents: TableContents = { name, snapshots: metadata.snapshots.length, rows: [], files: [] };
  if (metadata.currentSnapshotId === undefined) return contents;
  const snapshot = metadata.snapshots.find((s) => s.snapshotId === metadata.currentSnapshotId);
  if (snapshot === undefined) {
    throw new Error(`Table ${name}: current snapshot ${metadata.currentSnapshotId} is not listed.`);
  }
  const timestampColumns = timestampColumnsOf(name, metadata.currentSchema);

  const manifests = decodeManifestList(await getObject(warehouse, name, snapshot.manifestList))
    // Commit order: a list names the newest manifest first.
    .map((manifest, index) => ({ manifest, index }))
    .sort((a, b) =>
      a.manifest.sequenceNumber === b.manifest.sequenceNumber
        ? a.index - b.index
        : a.manifest.sequenceNumber < b.manifest.sequenceNumber
          ? -1
          : 1,
    );
  for (const { manifest } of manifests) {
    if (manifest.content !== 0) {
      throw new Error(
        `Table ${name}: delete manifest ${manifest.manifestPath} is not supported by this reader.`,
      );
    }
    const { entries } = decodeManifest(await getObject(warehouse, name, manifest.manifestPath));
    for (const entry of entries) {
      if (entry.status === DELETED) continue;
      const { filePath, recordCount } = entry.dataFile;
      const key = keyOf(warehouse, name, filePath);
      const rows = await readParquet(await getObject(warehouse, name, filePath), timestampColumns);
      if (rows.length !== recordCount) {
        throw new Error(
          `Table ${name}: ${filePath} holds ${rows.length} rows but its manifest says ${recordCount}.`,
        );
      }
      contents.files.push(key);
      contents.rows.push(...rows);
    }
  }
  return contents;
}

/** Rows as canonical sorted JSON lines (keys sorted, bigint -> number when safe else string) for multiset comparison. */
export function canonicalRows(rows: readonly Record<string, unknown>[]): string[] {
  return rows
    .map((row) => {
      const sorted: Record<string, unknown> = {};
      for (const key of Object.keys(row).sort()) sorted[key] = canonicalValue(row[key]);
      return JSON.stringify(sorted);
    })
    .sort();
}

function canonicalValue(value: unknown): unknown {
  if (typeof value === 'bigint') return isSafe(value) ? Number(value) : value.toString();
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value); // NaN, ±Infinity
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  if (value === undefined) return null;
  return value;
}

/** Raw INT64 values for every timestamp, converted below with the Iceberg schema in hand. */
const RAW_TIMESTAMPS: Partial<ParquetParsers> = {
  timestampFromMilliseconds: (value) => value,
  timestampFromMicroseconds: (value) => value,
  timestampFromNanoseconds: (value) => value,
};

async function readParquet(
  bytes: Uint8Array,
  timestampColumns: ReadonlySet<string>,
): Promise<Record<string, unknown>[]> {
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  // utf8: false keeps unannotated BYTE_ARRAY (Iceberg binary) as bytes; strings are annotated.
  const rows = await parquetReadObjects({ file, utf8: false, parsers: RAW_TIMESTAMPS });
  return rows.map((row) => {
    const plain: Record<string, unknown> = {};
    for (const [column, value] of Object.entries(row)) {
      plain[column] = timestampColumns.has(column) ? microsToMillis(value) : plainValue(value);
    }
    return plain;
  });
}

function plainValue(value: unknown): unknown {
  if (value === undefined) return null;
  if (typeof value === 'bigint') return isSafe(value) ? Number(value) : value;
  return value;
}

function microsToMillis(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'bigint') throw new Error(`Expected an INT64 timestamp, got ${String(value)}.`);
  // Exact for whole milliseconds (what Floe writes); sub-millisecond parts become a fraction.
  return Number(value / 1000n) + Number(value % 1000n) / 1000;
}

function isSafe(value: bigint): boolean {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER);
}

/** Names of the top-level timestamp columns (timestamptz, or timestamp) of an Iceberg schema. */
function timestampColumnsOf(table: string, schema: Record<string, unknown>): Set<string> {
  const fields = schema.fields;
  if (!Array.isArray(fields)) throw new Error(`Table ${table}: the current schema has no fields.`);
  const names = new Set<string>();
  for (const field of fields as { name?: unknown; type?: unknown }[]) {
    if ((field.type === 'timestamptz' || field.type === 'timestamp') && typeof field.name === 'string') {
      names.add(field.name);
    }
  }
  return names;
}

function keyOf(store: LocalObjectStore, table: string, uri: string): string {
  const key = store.keyOf(uri);
  if (key === undefined) throw new Error(`Table ${table}: ${uri} is outside ${String(store)}.`);
  return key;
}

async function getObject(store: LocalObjectStore, table: string, uri: string): Promise<Uint8Array> {
  const bytes = await store.get(keyOf(store, table, uri));
  if (bytes === undefined) throw new Error(`Table ${table}: ${uri} is listed but does not exist.`);
  return bytes;
}
