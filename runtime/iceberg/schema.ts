/**
 * The Iceberg schema of a Floe table: one top-level field per column, with field ids 1..n in
 * column declaration order, `required` unless the column is declared nullable, and the column
 * type's Iceberg name (Floe names its column types as Iceberg does).
 *
 * Field ids are the identity of a column for every Iceberg reader, so the declaration order is
 * part of a table's contract: append new columns at the end, never reorder.
 */
import type { ParquetColumn } from '../parquet/parquet-column.ts';
import { type Columns, type ColumnType, columnType, isNullable } from '../sink/table.ts';

export interface IcebergField {
  readonly id: number;
  readonly name: string;
  readonly required: boolean;
  readonly type: ColumnType;
}

export interface IcebergSchema {
  readonly type: 'struct';
  readonly 'schema-id': number;
  readonly fields: readonly IcebergField[];
}

/** Maps declared columns to an Iceberg schema (ids 1..n in declaration order). */
export function icebergSchema(columns: Columns, schemaId = 0): IcebergSchema {
  return {
    type: 'struct',
    'schema-id': schemaId,
    fields: Object.entries(columns).map(([name, spec], index) => ({
      id: index + 1,
      name,
      required: !isNullable(spec),
      type: columnType(spec),
    })),
  };
}

/** The Parquet columns of a schema, carrying its field ids. */
export function parquetColumns(schema: IcebergSchema): ParquetColumn[] {
  return schema.fields.map((field) => ({
    name: field.name,
    type: field.type,
    required: field.required,
    fieldId: field.id,
  }));
}

/** The highest field id in the schema (the table's last-column-id). */
export function lastColumnId(schema: IcebergSchema): number {
  return schema.fields.reduce((max, field) => Math.max(max, field.id), 0);
}

/**
 * Compares a table's schema (as stored in its metadata, any JSON shape) with the declared one.
 * Returns `undefined` when they match field by field (id, name, type, required), or a sentence
 * naming the first difference.
 */
export function describeSchemaDifference(actual: unknown, expected: IcebergSchema): string | undefined {
  const fields = isRecord(actual) && Array.isArray(actual.fields) ? actual.fields : undefined;
  if (fields === undefined) return 'the table schema has no field list';
  const describe = (field: unknown): string => {
    if (!isRecord(field)) return 'a malformed field';
    const type = typeof field.type === 'string' ? field.type : JSON.stringify(field.type);
    return `${String(field.name)} (id ${String(field.id)}, ${type}, ${field.required ? 'required' : 'optional'})`;
  };
  const count = Math.max(fields.length, expected.fields.length);
  for (let i = 0; i < count; i++) {
    const have = fields[i];
    const want = expected.fields[i];
    if (want === undefined) return `the table has an extra column ${describe(have)}`;
    if (have === undefined) return `the table lacks column ${describe(want)}`;
    const same =
      isRecord(have) &&
      have.id === want.id &&
      have.name === want.name &&
      have.type === want.type &&
      have.required === want.required;
    if (!same) return `column ${i + 1} is ${describe(have)} in the table but ${describe(want)} in the job`;
  }
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
