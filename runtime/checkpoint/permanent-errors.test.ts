/** A store failure that retrying cannot heal is not retried: the first one ends the batch. */
import { describe, expect, it } from 'vitest';
import { localCheckpointStores } from '../../adapters/local/run-directory.ts';
import { processorFor, tempRunDir, workload } from '../../test/support/checkpoint-runs.ts';
import type { CheckpointStores } from '../stores/checkpoint-stores.ts';
import { type ObjectStore, PermanentStorageError, StorageError } from '../stores/object-store.ts';

/** The commit writes its state to the (failing) checkpoint store rather than into its manifest. */
const STATE_OBJECTS = { maxInlineStateChars: 0 };

/** The local stores, with every checkpoint-store put (state objects, manifests) failing by `fail`; counts the puts. */
function failingCheckpoints(dir: string, fail: (key: string) => Error) {
  const stores = localCheckpointStores(dir);
  let puts = 0;
  const inner = stores.checkpoints;
  const checkpoints: ObjectStore = {
    put: async (key) => {
      puts++;
      throw fail(key);
    },
    get: (key) => inner.get(key),
    list: (prefix) => inner.list(prefix),
    delete: (key) => inner.delete(key),
    uri: (key) => inner.uri(key),
    keyOf: (uri) => inner.keyOf(uri),
  };
  return { stores: { ...stores, checkpoints } as CheckpointStores, puts: () => puts };
}

describe('permanent storage errors', () => {
  it('are thrown at the first failure, not retried, and nothing commits', async () => {
    const w = workload({ count: 60, partitions: 1 });
    const dir = tempRunDir();
    const { stores, puts } = failingCheckpoints(
      dir,
      (key) => new PermanentStorageError(`Cannot use /ro/${key}: permission denied (EACCES).`, `/ro/${key}`),
    );
    const processor = processorFor('bids-per-auction', stores, w, { maxAttempts: 8, ...STATE_OBJECTS });

    const error = await processor.process(w.events[0]!).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PermanentStorageError);
    expect((error as Error).message).toMatch(/^Cannot use \/ro\/.*permission denied \(EACCES\)\.$/);
    // One attempt, one state object put (a transient error would be tried 8 times).
    expect(puts()).toBe(1);
    expect((await processor.committed()).offsets.size).toBe(0);

    // The corrected run (writable stores) commits the event.
    const fixed = processorFor('bids-per-auction', localCheckpointStores(dir), w);
    await fixed.process(w.events[0]!);
    expect((await fixed.committed()).offsets.size).toBe(1);
  });

  it('leaves transient storage errors retried as before', async () => {
    const w = workload({ count: 60, partitions: 1 });
    const { stores, puts } = failingCheckpoints(tempRunDir(), () => new StorageError('throttled'));
    const processor = processorFor('bids-per-auction', stores, w, { maxAttempts: 3, ...STATE_OBJECTS });
    await expect(processor.process(w.events[0]!)).rejects.toThrow(/did not complete after 3 tries/);
    expect(puts()).toBe(3);
  });
});
