/**
 * A DataFile describes one Parquet file for a table's manifest: its URI, row count, size and
 * per-column metrics. It is plain JSON data (bounds as hex), so a commit protocol can keep it in
 * a publish intent and commit it later, possibly from another process.
 */

import { type ColumnVector, toColumnVectors } from '../parquet/column-vectors.ts';
import type { ParquetWriteOptions } from '../parquet/parquet-writer.ts';
import { writeParquet } from '../parquet/parquet-writer.ts';
import type { Columns, RowOf, Table } from '../sink/table.ts';
import { type ObjectStore, PreconditionFailedError } from '../stores/object-store.ts';
import { columnMetrics, DEFAULT_TRUNCATE_LENGTH } from './column-metrics.ts';
import { DataFileConflictError, IcebergError } from './errors.ts';
import { stringifyJson } from './json-bigint.ts';
import { type IcebergSchema, icebergSchema, parquetColumns } from './schema.ts';

export interface DataFileColumn {
  readonly fieldId: number;
  /** Compressed bytes of the column in the file. */
  readonly sizeInBytes: number;
  /** Values including nulls and NaNs. */
  readonly valueCount: number;
  readonly nullCount: number;
  /** Only for float and double columns. */
  readonly nanCount?: number;
  /** Iceberg single-value serialization of the lower bound, as hex; absent when all values are null or NaN. */
  readonly lowerBound?: string;
  /** Iceberg single-value serialization of the upper bound, as hex; absent when none can be given. */
  readonly upperBound?: string;
}

export interface DataFile {
  readonly content: 'data';
  /** Absolute URI, as readers open it (`file:///…`, `s3://…`). */
  readonly filePath: string;
  readonly fileFormat: 'parquet';
  readonly recordCount: number;
  readonly fileSizeInBytes: number;
  /** One entry per table column, in field id order. */
  readonly columns: readonly DataFileColumn[];
  /** Byte offsets of the row groups, ascending. */
  readonly splitOffsets: readonly number[];
}

export interface WriteDataFileOptions extends Omit<ParquetWriteOptions, 'keyValueMetadata'> {
  /**
   * Characters (strings) or bytes (binary) kept in lower and upper bounds.
   * @default 16, Iceberg's default metrics mode truncate(16)
   */
  readonly truncateLength?: number;
}

/** A table's rows checked against its column types and converted to column vectors. */
export interface PreparedRows {
  readonly table: Table<Columns>;
  readonly schema: IcebergSchema;
  readonly vectors: readonly ColumnVector[];
}

/**
 * Checks every value of `rows` against its column's type (one pass per column, no allocation per
 * row) and converts them to the column vectors Parquet stores. Throws InvalidColumnValueError,
 * with the row's index, on the first value that does not fit; nothing has been written then.
 */
export function prepareRows<C extends Columns>(table: Table<C>, rows: readonly RowOf<C>[]): PreparedRows {
  if (rows.length === 0) {
    throw new IcebergError(
      `Table ${table.name}: no rows to write. Skip the file instead of writing an empty one.`,
    );
  }
  const schema = icebergSchema(table.columns);
  const vectors = toColumnVectors(table.name, parquetColumns(schema), rows);
  return { table: table as Table<Columns>, schema, vectors };
}

/**
 * Writes `rows` as one Parquet file under `key` (the caller picks a key that is unique for these
 * rows, e.g. with {@link dataFileKey}) and returns its DataFile for {@link appendFiles}.
 *
 * The file is created with a conditional put. If the key already holds the same bytes (a retry
 * of the same batch) the call succeeds; if it holds other bytes it throws DataFileConflictError,
 * because a committed file must never change under a reader.
 */
export async function writeDataFile<C extends Columns>(
  store: ObjectStore,
  table: Table<C>,
  rows: readonly RowOf<C>[],
  key: string,
  options: WriteDataFileOptions = {},
): Promise<DataFile> {
  return writePreparedDataFile(store, prepareRows(table, rows), key, options);
}

/** {@link writeDataFile} for rows already checked and converted by {@link prepareRows}. */
export async function writePreparedDataFile(
  store: ObjectStore,
  prepared: PreparedRows,
  key: string,
  options: WriteDataFileOptions = {},
): Promise<DataFile> {
  const encoded = await encodeDataFile(store, prepared, key, options);
  await putDataFile(store, encoded);
  return encoded.file;
}

/** A Parquet file encoded but not yet written: its bytes, and the DataFile that will describe it. */
export interface EncodedDataFile {
  readonly key: string;
  readonly table: string;
  readonly bytes: Uint8Array;
  readonly file: DataFile;
}

/**
 * Encodes `prepared` as the Parquet file {@link putDataFile} writes under `key`. The DataFile is
 * known before the write, so a caller can name the file in what it writes next (a checkpoint
 * manifest) at the same time, provided nothing that readers follow names both until both are
 * written.
 */
export async function encodeDataFile(
  store: ObjectStore,
  prepared: PreparedRows,
  key: string,
  options: WriteDataFileOptions = {},
): Promise<EncodedDataFile> {
  const { table, schema, vectors } = prepared;
  const parquet = await writeParquet(vectors, `table ${table.name}, file ${key}`, {
    ...options,
    // Iceberg's own writers record the schema in the footer; some tools read it from there.
    keyValueMetadata: { 'iceberg.schema': stringifyJson(schema) },
  });
  const truncateLength = options.truncateLength ?? DEFAULT_TRUNCATE_LENGTH;
  const file: DataFile = {
    content: 'data',
    filePath: store.uri(key),
    fileFormat: 'parquet',
    recordCount: parquet.rowCount,
    fileSizeInBytes: parquet.bytes.byteLength,
    columns: vectors.map((vector): DataFileColumn => {
      const metrics = columnMetrics(vector, truncateLength);
      const fieldId = vector.column.fieldId;
      return {
        fieldId,
        sizeInBytes: parquet.columnSizes.get(fieldId) ?? 0,
        valueCount: metrics.valueCount,
        nullCount: metrics.nullCount,
        ...(metrics.nanCount === undefined ? {} : { nanCount: metrics.nanCount }),
        ...(metrics.lowerBound === undefined ? {} : { lowerBound: toHex(metrics.lowerBound) }),
        ...(metrics.upperBound === undefined ? {} : { upperBound: toHex(metrics.upperBound) }),
      };
    }),
    splitOffsets: parquet.splitOffsets,
  };
  return { key, table: table.name, bytes: parquet.bytes, file };
}

/**
 * Writes an encoded file with a conditional put. If the key already holds the same bytes (a
 * retry of the same batch) the call succeeds; if it holds other bytes it throws
 * DataFileConflictError, because a committed file must never change under a reader.
 */
export async function putDataFile(store: ObjectStore, encoded: EncodedDataFile): Promise<void> {
  await putOnce(store, encoded.key, encoded.bytes, encoded.table);
}

async function putOnce(store: ObjectStore, key: string, bytes: Uint8Array, table: string): Promise<void> {
  try {
    await store.put(key, bytes, { ifNoneMatch: '*' });
  } catch (error) {
    if (!(error instanceof PreconditionFailedError)) throw error;
    const existing = await store.get(key);
    if (existing !== undefined && Buffer.from(existing).equals(Buffer.from(bytes))) return;
    throw new DataFileConflictError(
      `Table ${table}: ${store.uri(key)} already exists with different content. Data file keys must be unique per set of rows; include the attempt or a UUID in the key.`,
    );
  }
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function fromHex(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}
