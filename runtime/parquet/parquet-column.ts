/**
 * A ParquetColumn is one leaf column of a flat Parquet file: its name, Floe column type,
 * whether it may hold nulls, and the Iceberg field id that readers use to match it.
 */
import type { ColumnType } from '../sink/table.ts';

export interface ParquetColumn {
  readonly name: string;
  readonly type: ColumnType;
  /** Required columns are written REQUIRED and reject nulls; the others are OPTIONAL. */
  readonly required: boolean;
  /** Written as the Parquet field_id; Iceberg readers match columns by it, not by name. */
  readonly fieldId: number;
}
