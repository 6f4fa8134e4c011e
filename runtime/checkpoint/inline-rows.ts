/**
 * A commit's rows for one table kept in its checkpoint manifest instead of a Parquet file of
 * their own ("Small outputs in the manifest" in docs/design.md): the column vectors the commit
 * checked (`prepareRows`), as JSON. The publish round decodes the rows of every epoch it
 * publishes and writes them as ONE file per commit group and table.
 *
 * Each column is an array of its values, in the table's column order; null is null. JSON cannot
 * hold every value a column stores, so some are text: 64-bit integers (long, timestamptz
 * microseconds) as decimal strings, binary as base64, and the floating-point values JSON has no
 * number for (NaN, the infinities, -0) as `String(value)`.
 */
import { FloeError } from '../errors.ts';
import { type IcebergSchema, icebergSchema, parquetColumns } from '../iceberg/schema.ts';
import type { ColumnVector, PhysicalValue } from '../parquet/column-vectors.ts';
import type { Columns, ColumnType, Table } from '../sink/table.ts';

/** A table's rows of one commit, as a manifest holds them. */
export interface InlineRows {
  /** One array per column, in the table's column order. */
  readonly columns: readonly (readonly JsonCell[])[];
}

type JsonCell = boolean | number | string | null;

/**
 * The rows as a manifest holds them, or undefined when their JSON would take more than about
 * `maxChars` characters (counted as they are encoded, so a large output stops early; a string's
 * escapes are not counted).
 */
export function encodeInlineRows(
  vectors: readonly ColumnVector[],
  maxChars = Number.POSITIVE_INFINITY,
): InlineRows | undefined {
  // `{"columns":[` … `]}`, each column's brackets, the commas between columns and between cells.
  let chars = 14 + 2 * vectors.length + Math.max(0, vectors.length - 1);
  const columns: JsonCell[][] = [];
  for (const vector of vectors) {
    const cells: JsonCell[] = new Array(vector.values.length);
    chars += Math.max(0, vector.values.length - 1);
    for (let i = 0; i < vector.values.length; i++) {
      const cell = toCell(vector.values[i]!, vector.column.type);
      cells[i] = cell;
      chars += typeof cell === 'string' ? cell.length + 2 : cell === null ? 4 : String(cell).length;
    }
    if (chars > maxChars) return undefined;
    columns.push(cells);
  }
  return { columns };
}

/**
 * The rows of several commits of one table as one set of column vectors, in the order given:
 * what the publish round writes as one file. Throws when the rows do not fit the table's columns
 * (a manifest written for another version of the table).
 */
export function decodeInlineRows(
  table: Table<Columns>,
  commits: readonly InlineRows[],
): { readonly schema: IcebergSchema; readonly vectors: ColumnVector[] } {
  const schema = icebergSchema(table.columns);
  const columns = parquetColumns(schema);
  const vectors = columns.map((column, c) => {
    const values: (PhysicalValue | null)[] = [];
    let nullCount = 0;
    for (const rows of commits) {
      const cells = rows.columns[c];
      if (
        rows.columns.length !== columns.length ||
        cells === undefined ||
        cells.length !== rows.columns[0]!.length
      )
        throw new FloeError(
          `Table ${table.name}: rows kept in a checkpoint manifest have ${rows.columns.length} columns of ${rows.columns.map((col) => col.length).join('/')} values, and the table has ${columns.length} columns; was the table's schema changed? Publish with the job version that committed them.`,
        );
      for (const cell of cells) {
        const value = fromCell(column.type, cell);
        if (value === null) nullCount++;
        values.push(value);
      }
    }
    return { column, values, nullCount } satisfies ColumnVector;
  });
  return { schema, vectors };
}

function toCell(value: PhysicalValue | null, type: ColumnType): JsonCell {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') {
    // String(-0) is "0"; an int column stores -0 as 0 (Parquet's int32 has no -0).
    if (Object.is(value, -0)) return type === 'float' || type === 'double' ? '-0' : 0;
    return Number.isFinite(value) ? value : String(value);
  }
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
}

function fromCell(type: ColumnType, cell: JsonCell): PhysicalValue | null {
  if (cell === null) return null;
  switch (type) {
    case 'long':
    case 'timestamptz':
      return BigInt(cell as string);
    case 'float':
    case 'double':
      return typeof cell === 'string' ? Number(cell) : (cell as number);
    case 'binary':
      return new Uint8Array(Buffer.from(cell as string, 'base64'));
    default:
      return cell;
  }
}
