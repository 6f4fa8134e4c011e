/**
 * Where a protocol test's stores live, so that one test body runs on the local stores and on the
 * AWS ones: a {@link StoreFactory} makes a fresh, empty location per run, and the location opens
 * stores over it as often as a test needs (each `open()` is what a new process would open: the
 * same heads, checkpoints, tables and catalog, no cache shared with earlier stores).
 *
 * The tables of a location are `tablesOf(location.open())` (test/support/checkpoint-runs.ts).
 */
import { localCheckpointStores } from '../../adapters/local/run-directory.ts';
import type { CheckpointStores } from '../../runtime/stores/checkpoint-stores.ts';
import { tempRunDir } from './checkpoint-runs.ts';

export interface StoreLocation {
  /** Stores over this location, as a new process opens them. */
  open(): CheckpointStores;
  /** Where it is, for failure messages: a run directory, or the AWS tables and prefix. */
  readonly label: string;
}

/** A fresh, empty location for each call. */
export type StoreFactory = () => Promise<StoreLocation>;

/** A location in a run directory. */
export function localLocation(dir: string): StoreLocation {
  return { open: () => localCheckpointStores(dir), label: dir };
}

/** Each location a new run directory (in /dev/shm when there is one). */
export const localStoreFactory: StoreFactory = async () => localLocation(tempRunDir());
