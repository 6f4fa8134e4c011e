import { runDirectory } from '../batch/run-directory.ts';
import type { Catalog } from '../iceberg/catalog.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import type { StateStore } from '../storage/state-store.ts';

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

/** The embedded default: everything under one local run directory (see runDirectory). */
export function localCheckpointStores(dir: string): CheckpointStores {
  const run = runDirectory(dir);
  return { heads: run.heads, checkpoints: run.checkpoints, warehouse: run.warehouse, catalog: run.catalog };
}
