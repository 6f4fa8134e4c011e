/**
 * `floe query "<SQL>" [--dir DIR] [--json]`: SQL over a run directory's Iceberg tables, with
 * DuckDB (`@duckdb/node-api`), so that results can be read without installing anything else.
 *
 * Each table of the run's catalog becomes a DuckDB view named as the table (`nexmark.hot_items`:
 * schema `nexmark`, view `hot_items`) over exactly the data files of its current snapshot, found
 * by the project's own Iceberg reader (runtime/iceberg/table-scan.ts): DuckDB's iceberg
 * extension is a download, which a locked-down machine may not allow. The view casts every
 * column to the DuckDB type of its Iceberg type, so a table without files still has its columns.
 *
 * DuckDB is a native module of some 70 MB: it is imported here, on first use, and only by the CLI.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DuckDBConnection } from '@duckdb/node-api';
import { runDirectory } from '../adapters/local/run-directory.ts';
import type { TableScan } from '../runtime/iceberg/table-scan.ts';
import { scanTable } from '../runtime/iceberg/table-scan.ts';
import { renderTable } from './render.ts';
import { UsageError } from './usage-error.ts';

/** The module, imported on first use (types only above). */
type DuckDB = typeof import('@duckdb/node-api');

export interface QueryOptions {
  /** One SQL statement (or several: the last one's result is printed). */
  readonly sql: string;
  /** The run directory. @default the only one among .floe/demo and .floe/run/* */
  readonly dir?: string;
  /** One JSON object per row (JSON lines) instead of a table. */
  readonly json: boolean;
}

/** Rows shown on a terminal; the rest are counted ("… N more rows"). */
export const SHOWN_ROWS = 50;

/** Where `npm start` and `floe run` put their run directories, relative to the working directory. */
const FLOE_DIR = '.floe';
const RUNS_DIR = join(FLOE_DIR, 'run');

export async function query(options: QueryOptions, out: (text: string) => void): Promise<void> {
  const dir = options.dir ?? onlyRunDirectory();
  if (!existsSync(dir)) throw new UsageError(`No run directory at ${dir}.`);
  if (!existsSync(join(dir, 'catalog'))) {
    throw new UsageError(`No run directory at ${dir}: it has no catalog/ (run npm start or floe run first).`);
  }
  const { catalog, warehouse } = runDirectory(dir);
  const scans: TableScan[] = [];
  for (const { name } of await catalog.listTables()) {
    const scan = await scanTable(catalog, warehouse, name);
    if (scan !== undefined) scans.push(scan);
  }

  const duckdb = await loadDuckDB();
  const instance = await duckdb.DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    // Timestamps cast from Parquet and printed by DuckDB are UTC, as Iceberg's timestamptz is.
    await connection.run(`SET TimeZone = 'UTC'`);
    let printed: string;
    try {
      for (const sql of viewsSql(scans)) await connection.run(sql);
      printed = await runQuery(duckdb, connection, options, out);
    } catch (error) {
      throw sqlError(
        error,
        scans.map((s) => s.name),
      );
    }
    if (!options.json) out(printed);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** Streams the result: JSON lines are written as they come; a table keeps the first SHOWN_ROWS rows and counts the rest. */
async function runQuery(
  duckdb: DuckDB,
  connection: DuckDBConnection,
  options: QueryOptions,
  out: (text: string) => void,
): Promise<string> {
  const result = await connection.stream(options.sql);
  const columns = result.deduplicatedColumnNames();
  const dates = columns.map((_, i) => result.columnTypeId(i) === duckdb.DuckDBTypeId.DATE);
  const shown: Record<string, unknown>[] = [];
  let count = 0;
  for await (const rows of result.yieldRowsJs()) {
    for (const row of rows) {
      count++;
      if (options.json) {
        out(JSON.stringify(Object.fromEntries(columns.map((c, i) => [c, plainValue(row[i], dates[i]!)]))));
      } else if (shown.length < SHOWN_ROWS) {
        shown.push(Object.fromEntries(columns.map((c, i) => [c, displayValue(row[i], dates[i]!)])));
      }
    }
  }
  const lines = [renderTable(shown, Number.POSITIVE_INFINITY, columns)];
  if (count > shown.length)
    lines.push(`  … ${n(count - shown.length)} more rows (add LIMIT, or --json for all)`);
  lines.push(`(${n(count)} ${count === 1 ? 'row' : 'rows'})`);
  return lines.join('\n');
}

/** The only run directory under .floe; a usage error when there are none or several. */
export function onlyRunDirectory(): string {
  const found = findRunDirectories();
  if (found.length === 1) return found[0]!;
  if (found.length === 0) {
    throw new UsageError(
      'No run directory in .floe/demo or .floe/run/: run npm start or floe run first, or pass --dir DIR.',
    );
  }
  throw new UsageError(`Several run directories (${found.join(', ')}): pass --dir DIR to pick one.`);
}

/**
 * Directories holding a `catalog/`: .floe/demo (npm start) and the others directly under .floe
 * (floe invoke and floe tick: .floe/<job>), then .floe/run/<job> (floe run).
 */
export function findRunDirectories(): string[] {
  return [...subdirectories(FLOE_DIR).filter((dir) => dir !== RUNS_DIR), ...subdirectories(RUNS_DIR)].filter(
    (dir) => existsSync(join(dir, 'catalog')),
  );
}

function subdirectories(parent: string): string[] {
  if (!existsSync(parent)) return [];
  return readdirSync(parent, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => join(parent, entry.name))
    .sort();
}

/** A schema per namespace, then a view per table over its current data files. */
export function viewsSql(scans: readonly TableScan[]): string[] {
  const namespaces = new Set(scans.map((scan) => splitName(scan.name).namespace));
  return [
    ...[...namespaces].map((namespace) => `CREATE SCHEMA IF NOT EXISTS ${identifier(namespace)}`),
    ...scans.map(viewSql),
  ];
}

function viewSql(scan: TableScan): string {
  const { namespace, table } = splitName(scan.name);
  const fields = schemaFields(scan);
  const columns = (value: (name: string) => string) =>
    fields.map((f) => `CAST(${value(f.name)} AS ${duckdbType(f.type, scan.name)}) AS ${identifier(f.name)}`);
  const view = `CREATE VIEW ${identifier(namespace)}.${identifier(table)} AS`;
  if (scan.files.length === 0) {
    return `${view} SELECT ${columns(() => 'NULL').join(', ')} WHERE false`;
  }
  const paths = scan.files.map((file) => {
    if (!file.filePath.startsWith('file:')) {
      throw new UsageError(
        `Table ${scan.name}: data file ${file.filePath} is not local; floe query reads local run directories.`,
      );
    }
    return literal(fileURLToPath(file.filePath));
  });
  return `${view} SELECT ${columns(identifier).join(', ')} FROM read_parquet([${paths.join(', ')}])`;
}

function schemaFields(scan: TableScan): { name: string; type: unknown }[] {
  const fields = scan.metadata.currentSchema.fields;
  if (!Array.isArray(fields) || fields.length === 0) {
    throw new UsageError(`Table ${scan.name}: its current schema in ${scan.metadataLocation} has no fields.`);
  }
  return fields.map((field) => {
    const { name, type } = field as { name?: unknown; type?: unknown };
    return { name: String(name), type };
  });
}

const PRIMITIVES: Readonly<Record<string, string>> = {
  boolean: 'BOOLEAN',
  int: 'INTEGER',
  long: 'BIGINT',
  float: 'FLOAT',
  double: 'DOUBLE',
  date: 'DATE',
  time: 'TIME',
  timestamp: 'TIMESTAMP',
  timestamptz: 'TIMESTAMPTZ',
  timestamp_ns: 'TIMESTAMP_NS',
  timestamptz_ns: 'TIMESTAMPTZ',
  string: 'VARCHAR',
  uuid: 'UUID',
  binary: 'BLOB',
};

/** The DuckDB type of an Iceberg type (spec "Schemas and Data Types"), nested types included. */
export function duckdbType(type: unknown, table: string): string {
  if (typeof type === 'string') {
    const primitive = PRIMITIVES[type];
    if (primitive !== undefined) return primitive;
    if (/^fixed\[\d+\]$/.test(type)) return 'BLOB';
    const decimal = /^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$/.exec(type);
    if (decimal !== null) return `DECIMAL(${decimal[1]}, ${decimal[2]})`;
  } else if (typeof type === 'object' && type !== null) {
    const nested = type as Record<string, unknown>;
    if (nested.type === 'list') return `${duckdbType(nested.element, table)}[]`;
    if (nested.type === 'map') {
      return `MAP(${duckdbType(nested.key, table)}, ${duckdbType(nested.value, table)})`;
    }
    if (nested.type === 'struct' && Array.isArray(nested.fields)) {
      const fields = (nested.fields as { name?: unknown; type?: unknown }[]).map(
        (f) => `${identifier(String(f.name))} ${duckdbType(f.type, table)}`,
      );
      return `STRUCT(${fields.join(', ')})`;
    }
  }
  throw new UsageError(`Table ${table}: floe query cannot read the Iceberg type ${JSON.stringify(type)}.`);
}

/** `ns.t` → schema `ns`, view `t`; a multi-level namespace `a.b.t` becomes the schema `a.b`. */
function splitName(name: string): { namespace: string; table: string } {
  const dot = name.lastIndexOf('.');
  return dot < 0
    ? { namespace: 'main', table: name }
    : { namespace: name.slice(0, dot), table: name.slice(dot + 1) };
}

function identifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** A value for JSON: bigint as a number when safe (else a string), timestamps as ISO strings, bytes as hex. */
export function plainValue(value: unknown, isDate = false): unknown {
  if (typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value.toString();
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) return String(value);
    const iso = value.toISOString();
    return isDate ? iso.slice(0, 10) : iso;
  }
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value); // NaN, ±Infinity
  if (Array.isArray(value)) return value.map((v) => plainValue(v));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plainValue(v)]));
  }
  return value ?? null;
}

/** A value for the terminal table: as in JSON, numbers as text (render.ts would read some as epoch times). */
function displayValue(value: unknown, isDate: boolean): unknown {
  const plain = plainValue(value, isDate);
  return typeof plain === 'number' ? String(plain) : plain;
}

/** DuckDB's message in one line; for a missing table or schema, with the tables there are. */
function sqlError(error: unknown, tables: readonly string[]): unknown {
  if (!(error instanceof Error) || error instanceof UsageError) return error;
  const message = error.message.replace(/^Failed to extract statements: /, '');
  const first = message.split('\n')[0]!.trim();
  if (/^Catalog Error: (Table|View|Schema) with name/.test(first)) {
    return new UsageError(`${first} Tables: ${tables.length > 0 ? tables.join(', ') : 'none'}.`);
  }
  return new UsageError(first);
}

async function loadDuckDB(): Promise<DuckDB> {
  try {
    return await import('@duckdb/node-api');
  } catch (error) {
    throw new UsageError(
      `floe query needs @duckdb/node-api and its native binding for ${process.platform}-${process.arch}, which did not load (${(error as Error).message.split('\n')[0]}); run npm ci.`,
    );
  }
}

function n(value: number): string {
  return value.toLocaleString('en');
}
