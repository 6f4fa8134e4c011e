/**
 * A small reader of the Iceberg tables a Floe run writes, for tests that compare table contents
 * (for example a run killed with SIGKILL and resumed against an uninterrupted run).
 *
 * It follows the table as any Iceberg reader does: catalog pointer → metadata → current
 * snapshot's manifest list → manifests (live entries only) → Parquet data files (that walk is
 * runtime/iceberg/table-scan.ts, shared with `floe query`), and reads the data with hyparquet,
 * not with the writer's code, so that it checks what was written rather than what the writer
 * believes it wrote.
 */
import { type ParquetParsers, parquetReadObjects } from 'hyparquet';
import { runDirectory } from '../../adapters/local/run-directory.ts';
import { keyInStore, scanTable } from '../../runtime/iceberg/table-scan.ts';
import type { CheckpointStores } from '../../runtime/stores/checkpoint-stores.ts';

/** Where tables are: a local run directory, or any catalog and warehouse (e.g. DynamoDB and S3). */
export type TablesLocation = string | Pick<CheckpointStores, 'catalog' | 'warehouse'>;

function storesOf(from: TablesLocation): Pick<CheckpointStores, 'catalog' | 'warehouse'> {
  return typeof from === 'string' ? runDirectory(from) : from;
}

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

/** Reads the current snapshot of every table in a run directory (runDirectory(dir).catalog / .warehouse). */
export async function readRunTables(dir: TablesLocation): Promise<Map<string, TableContents>> {
  const { catalog } = storesOf(dir);
  const tables = new Map<string, TableContents>();
  for (const { name } of await catalog.listTables()) tables.set(name, await readTable(dir, name));
  return tables;
}

/** Reads one table's current snapshot: all data files listed in its live manifests, rows in file order. */
export async function readTable(dir: TablesLocation, name: string): Promise<TableContents> {
  const { catalog, warehouse } = storesOf(dir);
  const scan = await scanTable(catalog, warehouse, name);
  if (scan === undefined) {
    const known = (await catalog.listTables()).map((t) => t.name);
    throw new Error(
      `Table ${name} does not exist in ${typeof dir === 'string' ? `run directory ${dir}` : 'the catalog'} (tables: ${known.length > 0 ? known.join(', ') : 'none'}).`,
    );
  }
  const { metadata } = scan;
  const contents: TableContents = { name, snapshots: metadata.snapshots.length, rows: [], files: [] };
  const timestampColumns = timestampColumnsOf(name, metadata.currentSchema);
  for (const { filePath, recordCount } of scan.files) {
    const key = keyInStore(warehouse, name, filePath);
    const bytes = await warehouse.get(key);
    if (bytes === undefined) throw new Error(`Table ${name}: ${filePath} is listed but does not exist.`);
    const rows = await readParquet(bytes, timestampColumns);
    if (rows.length !== recordCount) {
      throw new Error(
        `Table ${name}: ${filePath} holds ${rows.length} rows but its manifest says ${recordCount}.`,
      );
    }
    contents.files.push(key);
    contents.rows.push(...rows);
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
