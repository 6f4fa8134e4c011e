/**
 * A Table names an output and its columns. Window results become rows of it, and the column
 * types become the Iceberg schema, so a row's shape is checked by the compiler.
 */

/** Column types a Floe row may hold, named as in Iceberg. */
export type ColumnType =
  | 'boolean'
  | 'int'
  | 'long'
  | 'float'
  | 'double'
  | 'string'
  | 'binary'
  /** Epoch milliseconds; stored as Iceberg timestamptz (microseconds, UTC). */
  | 'timestamptz';

/** The TypeScript value each column type holds in a row. */
export interface ColumnValue {
  boolean: boolean;
  int: number;
  long: number;
  float: number;
  double: number;
  string: string;
  binary: Uint8Array;
  timestamptz: number;
}

export type ColumnSpec = ColumnType | { readonly type: ColumnType; readonly nullable: true };

export type Columns = Readonly<Record<string, ColumnSpec>>;

type ValueOf<S extends ColumnSpec> = S extends ColumnType
  ? ColumnValue[S]
  : S extends { readonly type: infer T extends ColumnType }
    ? ColumnValue[T] | null
    : never;

/** The row type a set of columns describes. */
export type RowOf<C extends Columns> = { [K in keyof C]: ValueOf<C[K]> };

export interface Table<C extends Columns = Columns> {
  /** `namespace.name`, e.g. `nexmark.bids_per_auction`. */
  readonly name: string;
  readonly columns: C;
}

const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$/;
const COLUMN_TYPES: ReadonlySet<string> = new Set<ColumnType>([
  'boolean',
  'int',
  'long',
  'float',
  'double',
  'string',
  'binary',
  'timestamptz',
]);

/**
 * Declares an output table.
 *
 * @example
 * const bidsPerAuction = table('nexmark.bids_per_auction', {
 *   auction: 'long', window_start: 'timestamptz', window_end: 'timestamptz', bids: 'long',
 * });
 */
export function table<const C extends Columns>(name: string, columns: C): Table<C> {
  if (!TABLE_NAME.test(name)) {
    throw new TypeError(
      `Invalid table name "${name}". Use namespace.name with letters, digits and underscores, e.g. nexmark.bids_per_auction.`,
    );
  }
  const names = Object.keys(columns);
  if (names.length === 0) throw new TypeError(`Table ${name} needs at least one column.`);
  for (const column of names) {
    const spec = columns[column]!;
    const type = typeof spec === 'string' ? spec : spec.type;
    if (!COLUMN_TYPES.has(type)) {
      throw new TypeError(
        `Table ${name}, column ${column}: unsupported type "${type}". Supported types are: ${[...COLUMN_TYPES].join(', ')}.`,
      );
    }
  }
  return { name, columns };
}

export function columnType(spec: ColumnSpec): ColumnType {
  return typeof spec === 'string' ? spec : spec.type;
}

export function isNullable(spec: ColumnSpec): boolean {
  return typeof spec !== 'string';
}
