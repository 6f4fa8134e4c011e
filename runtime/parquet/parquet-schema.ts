/**
 * The Parquet schema of a flat Floe table, as Iceberg's Parquet mapping wants it: every leaf
 * carries its Iceberg field id, timestamptz is INT64 TIMESTAMP(MICROS, isAdjustedToUTC=true),
 * strings are UTF-8 byte arrays, and nullable columns are OPTIONAL.
 *
 * Both the logical type and the legacy converted type are written, so that old readers (Hive,
 * parquet-mr before 1.11) still see a string or a timestamp.
 */
import type { SchemaElement } from 'hyparquet-writer';
import type { ColumnType } from '../sink/table.ts';
import type { ParquetColumn } from './parquet-column.ts';

type Leaf = Omit<SchemaElement, 'name' | 'repetition_type' | 'field_id'>;

const LEAVES: Readonly<Record<ColumnType, Leaf>> = {
  boolean: { type: 'BOOLEAN' },
  int: { type: 'INT32' },
  long: { type: 'INT64' },
  float: { type: 'FLOAT' },
  double: { type: 'DOUBLE' },
  string: { type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' } },
  binary: { type: 'BYTE_ARRAY' },
  timestamptz: {
    type: 'INT64',
    converted_type: 'TIMESTAMP_MICROS',
    logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' },
  },
};

/** The flattened schema elements: a root group, then one leaf per column in order. */
export function parquetSchema(columns: readonly ParquetColumn[]): SchemaElement[] {
  return [
    { name: 'table', num_children: columns.length },
    ...columns.map(
      (column): SchemaElement => ({
        name: column.name,
        ...LEAVES[column.type],
        repetition_type: column.required ? 'REQUIRED' : 'OPTIONAL',
        field_id: column.fieldId,
      }),
    ),
  ];
}
