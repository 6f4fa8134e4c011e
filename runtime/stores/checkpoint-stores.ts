import type { Catalog } from './catalog.ts';
import type { ObjectStore } from './object-store.ts';
import type { StateStore } from './state-store.ts';

/**
 * The four stores the commit protocol uses. Each is an interface with a local implementation
 * (one run directory, nothing but Node) and an AWS one (DynamoDB, S3, and a catalog).
 */
export interface CheckpointStores {
  /** Small versioned items with conditional writes: one head per commit group. DynamoDB in AWS. */
  readonly heads: StateStore;
  /** Immutable checkpoint manifests and engine state objects. S3 in AWS. */
  readonly checkpoints: ObjectStore;
  /** Table data and metadata files. S3 in AWS. */
  readonly warehouse: ObjectStore;
  /** Current-metadata pointers of the Iceberg tables. */
  readonly catalog: Catalog;
}
