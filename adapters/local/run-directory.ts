import { join } from 'node:path';
import type { CheckpointStores } from '../../runtime/stores/checkpoint-stores.ts';
import { type SweepOptions, sweepTemporaryFiles } from './durable-file.ts';
import { LocalCatalog } from './local-catalog.ts';
import { LocalObjectStore } from './local-object-store.ts';
import { LocalStateStore } from './local-state-store.ts';

/**
 * The layout of a local run directory, the embedded default for everything a run keeps:
 * - `catalog/`: Iceberg table pointers (LocalCatalog);
 * - `warehouse/`: table data and metadata (LocalObjectStore), so a table `ns.t` lives in
 *   `warehouse/ns/t/`;
 * - `state/`: the commit protocol's heads (LocalStateStore, DynamoDB's stand-in);
 * - `checkpoints/`: checkpoint manifests and engine state objects (LocalObjectStore, S3's stand-in).
 * Defined once here so that the runner, `floe invoke`, `floe tables` and the tests agree.
 */
export interface RunDirectory {
  readonly dir: string;
  readonly catalog: LocalCatalog;
  readonly warehouse: LocalObjectStore;
  readonly heads: LocalStateStore;
  readonly checkpoints: LocalObjectStore;
}

/** The folder of each store in a run directory. */
export const RUN_DIRECTORY_FOLDERS = {
  catalog: 'catalog',
  warehouse: 'warehouse',
  heads: 'state',
  checkpoints: 'checkpoints',
} as const;

export function runDirectory(dir: string): RunDirectory {
  const folders = RUN_DIRECTORY_FOLDERS;
  return {
    dir,
    catalog: new LocalCatalog(join(dir, folders.catalog)),
    warehouse: new LocalObjectStore(join(dir, folders.warehouse)),
    heads: new LocalStateStore(join(dir, folders.heads)),
    checkpoints: new LocalObjectStore(join(dir, folders.checkpoints)),
  };
}

/**
 * Removes the temporary files (`.floe-tmp-*`) a killed writer left in the run directory's stores
 * (see sweepTemporaryFiles for when one is stale), and those of `folders` the caller writes there
 * too; returns how many. `floe run` and `floe invoke`
 * call it when they open a run directory, and `floe run` again when it stops (`own: true`).
 */
export async function sweepRunDirectory(
  dir: string,
  options: SweepOptions & { readonly folders?: readonly string[] } = {},
): Promise<number> {
  // The directory itself, not recursively (it may hold the user's own files), then each folder.
  let removed = await sweepTemporaryFiles(dir, { ...options, recursive: false });
  for (const folder of [...Object.values(RUN_DIRECTORY_FOLDERS), ...(options.folders ?? [])]) {
    removed += await sweepTemporaryFiles(join(dir, folder), options);
  }
  return removed;
}

/** The embedded default stores: everything under one local run directory (see runDirectory). */
export function localCheckpointStores(dir: string): CheckpointStores {
  const run = runDirectory(dir);
  return { heads: run.heads, checkpoints: run.checkpoints, warehouse: run.warehouse, catalog: run.catalog };
}
