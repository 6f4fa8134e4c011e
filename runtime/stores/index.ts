/**
 * The store contracts of Floe's commit protocol, and their errors. Implement these to run Floe on
 * another backend; every implementation must pass the same contract suites (test/contracts/).
 * Floe ships local implementations (`floe/local`) and AWS ones (`floe/aws`).
 */
export type { Catalog, CatalogTable } from './catalog.ts';
export type { CheckpointStores } from './checkpoint-stores.ts';
export {
  CHECKPOINT_COMPRESSIONS,
  type CheckpointCompression,
  CompressingObjectStore,
  withCheckpointCompression,
} from './compressing-object-store.ts';
export {
  assertValidKey,
  deleteObjects,
  type ObjectStore,
  PermanentStorageError,
  PreconditionFailedError,
  type PutOptions,
  permanentStorageError,
  StorageError,
} from './object-store.ts';
export {
  ConditionFailedError,
  type DeleteCondition,
  type JsonValue,
  MAX_STATE_VALUE_BYTES,
  type PutCondition,
  type StateStore,
  StateValueTooLargeError,
  type VersionedItem,
} from './state-store.ts';
