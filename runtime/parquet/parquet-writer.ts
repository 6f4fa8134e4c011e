/**
 * Writes one Parquet file from column vectors, with hyparquet-writer (pure JavaScript; see
 * docs/iceberg.md for the measurements behind the choice). The library is imported on first
 * use, so a job that never writes Parquet does not load it at cold start.
 *
 * The file is built in memory: Floe writes one file per table per commit, at most a few hundred
 * thousand rows, and an object store takes whole objects anyway.
 */
import type { ColumnSource, KeyValue } from 'hyparquet-writer';
import { FloeError } from '../errors.ts';
import type { ColumnVector } from './column-vectors.ts';
import { parquetSchema } from './parquet-schema.ts';

export interface ParquetWriteOptions {
  /**
   * Rows per row group. Iceberg readers split work by row group, and each group's statistics
   * let them skip it; Floe's files are small, so one group per file is the common case.
   * @default 1_000_000
   */
  readonly rowGroupSize?: number;
  /**
   * Encoding of int, long and timestamptz columns.
   * - `'plain'`: dictionary or plain, the encodings every reader supports, including older
   *   versions of Iceberg's vectorized Spark reader.
   * - `'delta'`: DELTA_BINARY_PACKED, often 10x smaller for timestamps and ids, but Iceberg's
   *   vectorized Spark reader reads it only since apache/iceberg#13391 (merged mid-2025); check
   *   the Iceberg version of every engine that reads the table before you turn it on.
   * @default 'plain'
   */
  readonly integerEncoding?: 'plain' | 'delta';
  /** Extra key-value metadata for the footer. @default - none */
  readonly keyValueMetadata?: Readonly<Record<string, string>>;
}

export interface ParquetFile {
  readonly bytes: Uint8Array;
  readonly rowCount: number;
  /** Compressed bytes of each column across all row groups, by field id (Iceberg's column_sizes). */
  readonly columnSizes: ReadonlyMap<number, number>;
  /** Byte offset of each row group, ascending (Iceberg's split_offsets). */
  readonly splitOffsets: readonly number[];
}

/** Writing a Parquet file failed inside the encoder. */
export class ParquetWriteError extends FloeError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ParquetWriteError';
  }
}

const DEFAULT_ROW_GROUP_SIZE = 1_000_000;
const CREATED_BY = 'floe (hyparquet-writer)';

type Library = typeof import('hyparquet-writer');
let library: Promise<Library> | undefined;

/** Loads the encoder once per process; later calls share the same promise. */
function loadLibrary(): Promise<Library> {
  library ??= import('hyparquet-writer');
  return library;
}

/**
 * Encodes the vectors as one Parquet file (SNAPPY, data page v2, statistics on every column).
 * `context` names the file in errors, e.g. `table nexmark.bids, file nexmark/bids/data/1.parquet`.
 */
export async function writeParquet(
  vectors: readonly ColumnVector[],
  context: string,
  options: ParquetWriteOptions = {},
): Promise<ParquetFile> {
  const rowCount = vectors[0]?.values.length ?? 0;
  const rowGroupSize = options.rowGroupSize ?? DEFAULT_ROW_GROUP_SIZE;
  if (!Number.isInteger(rowGroupSize) || rowGroupSize < 1) {
    throw new RangeError(`rowGroupSize must be a positive integer, got ${rowGroupSize} (${context}).`);
  }
  const { ByteWriter, ParquetWriter } = await loadLibrary();
  const columns = vectors.map((vector) => vector.column);
  const writer = new ByteWriter();
  const kvMetadata: KeyValue[] = Object.entries(options.keyValueMetadata ?? {}).map(([key, value]) => ({
    key,
    value,
  }));
  const columnData = vectors.map((vector): ColumnSource => {
    const source: ColumnSource = {
      name: vector.column.name,
      // The library takes typed arrays or plain arrays of the converted values.
      data: vector.values as ColumnSource['data'],
    };
    const type = vector.column.type;
    const integer = type === 'int' || type === 'long' || type === 'timestamptz';
    if (integer && options.integerEncoding === 'delta') source.encoding = 'DELTA_BINARY_PACKED';
    // The library would write booleans RLE-encoded; Iceberg's vectorized reader only reads PLAIN.
    if (type === 'boolean') source.encoding = 'PLAIN';
    return source;
  });
  try {
    const parquet = new ParquetWriter({
      writer,
      schema: parquetSchema(columns),
      codec: 'SNAPPY',
      statistics: true,
      kvMetadata: kvMetadata.length > 0 ? kvMetadata : undefined,
      createdBy: CREATED_BY,
    });
    await parquet.write({ columnData, rowGroupSize });
    await parquet.finish();
    const columnSizes = new Map<number, number>(columns.map((column) => [column.fieldId, 0]));
    const splitOffsets: number[] = [];
    for (const group of parquet.row_groups) {
      let start: number | undefined;
      group.columns.forEach((chunk, index) => {
        const meta = chunk.meta_data;
        const fieldId = columns[index]?.fieldId;
        if (meta === undefined || fieldId === undefined) return;
        columnSizes.set(fieldId, (columnSizes.get(fieldId) ?? 0) + Number(meta.total_compressed_size));
        const offset = Number(meta.dictionary_page_offset ?? meta.data_page_offset);
        start = start === undefined ? offset : Math.min(start, offset);
      });
      if (start !== undefined) splitOffsets.push(start);
    }
    return { bytes: writer.getBytes(), rowCount, columnSizes, splitOffsets };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ParquetWriteError(`Could not encode Parquet for ${context}: ${reason}`, { cause: error });
  }
}
