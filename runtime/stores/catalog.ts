/**
 * A Catalog maps table names to the location of their current metadata file, and moves that
 * pointer with a compare-and-swap: the only operation through which an Iceberg commit becomes
 * visible. Implementations: LocalCatalog (a directory), DynamoDBCatalog (Iceberg's DynamoDB
 * catalog layout); Glue later.
 */

export interface CatalogTable {
  /** `namespace.name`. */
  readonly name: string;
  /** URI of the current metadata file, e.g. `s3://bucket/ns/t/metadata/00003-….metadata.json`. */
  readonly metadataLocation: string;
}

export interface Catalog {
  /** The current metadata location of `name`, or `undefined` when the table does not exist. */
  currentMetadataLocation(name: string): Promise<string | undefined>;
  /**
   * Points `name` at `next` if it currently points at `expected` (`undefined`: the table does
   * not exist yet, so this creates it). Returns false, changing nothing, when another writer
   * moved the pointer first. Throws when the outcome is unknown (the caller re-reads and checks).
   */
  compareAndSwap(name: string, expected: string | undefined, next: string): Promise<boolean>;
  /** Every table with its current metadata location, sorted by name. */
  listTables(): Promise<CatalogTable[]>;
}
