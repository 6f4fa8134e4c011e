/**
 * Floe's local stores: everything in one run directory on a local file system, with the same
 * guarantees as the AWS stores (atomic conditional creates and compare-and-swap, durable writes).
 * The embedded default for `floe run`, `floe invoke` and tests.
 */
export { LocalCatalog } from './local-catalog.ts';
export { LocalObjectStore } from './local-object-store.ts';
export { LocalStateStore } from './local-state-store.ts';
export { localCheckpointStores, type RunDirectory, runDirectory } from './run-directory.ts';
