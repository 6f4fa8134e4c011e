/**
 * A commit writes its checkpoint manifest beside the data files it names (stage.ts), not after
 * them, so a manifest can land while a data file it names never does: its put fails, or the
 * process dies first. No head names such a manifest, so no reader follows it. These tests make
 * exactly that happen (the manifest lands, then the data file put fails or the process dies),
 * and check that the retry or the restart writes every row exactly once and that cleanup deletes
 * the orphan manifest.
 *
 * The fault sweeps (fault-injection.test.ts) do not cover the crash case: their stores run one
 * call at a time in call order, so the data file always lands before the manifest that follows
 * it, and their checks look at the tables, not at what cleanup leaves.
 */
import { describe, expect, it } from 'vitest';
import { localCheckpointStores } from '../../adapters/local/run-directory.ts';
import { processorFor, runToEnd, tempRunDir, workload } from '../../test/support/checkpoint-runs.ts';
import { SimulatedCrash } from '../../test/support/faulty-stores.ts';
import { eventsWithRows, expectReference } from '../../test/support/protocol-scenarios.ts';
import type { Catalog } from '../stores/catalog.ts';
import type { CheckpointStores } from '../stores/checkpoint-stores.ts';
import type { ObjectStore, PutOptions } from '../stores/object-store.ts';
import type { StateStore } from '../stores/state-store.ts';
import { parseEpochAttempt } from './layout.ts';

const NAME = 'channel-revenue';

/**
 * Stores whose first data file put waits until the manifest of the same attempt has landed, then
 * fails: `fail` with a transient error (the process lives on and retries), `crash` by killing
 * the process (this and every later call throw, nothing more is performed).
 */
function manifestFirst(inner: CheckpointStores, mode: 'fail' | 'crash') {
  const landed = new Map<string, () => void>();
  const waits = new Map<string, Promise<void>>();
  const arrival = (id: string) => {
    if (!waits.has(id)) waits.set(id, new Promise<void>((resolve) => landed.set(id, resolve)));
    return waits.get(id)!;
  };
  const state = {
    dead: false,
    /** The attempt whose data file put was failed, once it was: `<epoch>-<attempt>`. */
    failed: undefined as string | undefined,
    manifest: undefined as string | undefined,
    dataFile: undefined as string | undefined,
  };
  const alive = () => {
    if (state.dead) throw new SimulatedCrash('the process is dead');
  };
  /** `fn` after the liveness check: a dead process performs nothing. */
  const live =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      alive();
      return fn(...args);
    };
  const wrap = (store: ObjectStore, onPut: (key: string) => Promise<void>, after: (key: string) => void) => {
    const wrapped: ObjectStore = {
      put: live(async (key: string, bytes: Uint8Array, options?: PutOptions) => {
        await onPut(key);
        await store.put(key, bytes, options);
        after(key);
      }),
      get: live((key: string) => store.get(key)),
      list: live((prefix: string) => store.list(prefix)),
      delete: live((key: string) => store.delete(key)),
      uri: (key) => store.uri(key),
      keyOf: (uri) => store.keyOf(uri),
    };
    return wrapped;
  };
  const idOf = (key: string) => {
    const parsed = parseEpochAttempt(key);
    return parsed === undefined ? undefined : `${parsed.epoch}-${parsed.attempt}`;
  };
  const checkpoints = wrap(
    inner.checkpoints,
    async () => undefined,
    (key) => {
      const id = idOf(key);
      if (key.includes('/manifests/') && id !== undefined) {
        arrival(id);
        landed.get(id)!();
        if (id === state.failed) state.manifest = key;
      }
    },
  );
  const warehouse = wrap(
    inner.warehouse,
    async (key) => {
      const id = idOf(key);
      if (state.failed !== undefined || !key.endsWith('.parquet') || id === undefined) return;
      state.failed = id;
      state.dataFile = key;
      // Written after the data files (as before the change), the manifest never comes: give up
      // after a while, so that the test fails on its expectations instead of hanging.
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 5_000);
      });
      await Promise.race([arrival(id), timeout]);
      clearTimeout(timer);
      if (mode === 'crash') {
        state.dead = true;
        throw new SimulatedCrash(`killed before the put of ${key}`);
      }
      throw new Error(`503 Slow Down: ${key} was not written`);
    },
    () => undefined,
  );
  const heads: StateStore = {
    get: live((key) => inner.heads.get(key)),
    put: live((key, value, condition) => inner.heads.put(key, value, condition)),
    delete: live((key, condition) => inner.heads.delete(key, condition)),
    list: live((prefix) => inner.heads.list(prefix)),
  };
  const catalog: Catalog = {
    currentMetadataLocation: live((name) => inner.catalog.currentMetadataLocation(name)),
    compareAndSwap: live((name, expected, next) => inner.catalog.compareAndSwap(name, expected, next)),
    listTables: live(() => inner.catalog.listTables()),
  };
  const stores: CheckpointStores = { heads, checkpoints, warehouse, catalog };
  return { stores, state };
}

describe('a manifest written beside its data files', () => {
  it.each(['fail', 'crash'] as const)(
    'lands while its data file put does not (%s): every row exactly once, and cleanup deletes the orphan manifest',
    async (mode) => {
      const w = workload();
      const dir = tempRunDir();
      const inner = localCheckpointStores(dir);
      const now = 5_000_000;
      // Cleanup only when the test asks (cleanupEvery far above the epochs of the run); rows in
      // data files beside the manifest, not in it.
      const options = {
        clock: () => now,
        orphanGraceMs: 60_000,
        keepCheckpoints: 2,
        cleanupEvery: 10_000,
        maxInlineRowsChars: 0,
      };
      const firstWithRows = (await eventsWithRows(NAME, w))[0]!;

      const faulty = manifestFirst(inner, mode);
      const processor = processorFor(
        NAME,
        faulty.stores,
        w,
        mode === 'crash' ? { ...options, maxAttempts: 1 } : options,
      );
      for (const event of w.events.slice(0, firstWithRows)) await processor.process(event);
      const outcome = processor.process(w.events[firstWithRows]!);
      if (mode === 'crash') await expect(outcome).rejects.toThrow();
      else expect((await outcome).commits).toHaveLength(1);

      // The failed attempt's manifest landed; the data file it names did not.
      expect(faulty.state.failed).toBeDefined();
      expect(faulty.state.manifest, 'the manifest of the failed attempt landed').toBeDefined();
      const orphan = faulty.state.manifest!;
      expect(await inner.checkpoints.get(orphan)).toBeDefined();
      expect(await inner.warehouse.get(faulty.state.dataFile!)).toBeUndefined();

      // The retry (in process) or a restart (cold, every event again) goes on to the end.
      const rest = mode === 'crash' ? processorFor(NAME, localCheckpointStores(dir), w, options) : processor;
      await runToEnd(rest, mode === 'crash' ? w.events : w.events.slice(firstWithRows + 1));
      const committed = await rest.committed();
      expect(committed.drained).toBe(true);
      expect(committed.totals.records).toBe(w.bids.length);
      await expectReference(NAME, dir, w.bids);

      // The orphan's epoch is at or below the head's: it can never commit, and cleanup deletes it
      // at once (no grace period), leaving no object of the failed attempt.
      expect(await inner.checkpoints.get(orphan), 'no cleanup ran yet').toBeDefined();
      const report = await rest.cleanup();
      expect(report.manifests).toBeGreaterThan(0);
      expect(await inner.checkpoints.get(orphan)).toBeUndefined();
      const [, attempt] = faulty.state.failed!.split('-');
      const leftovers = [
        ...(await inner.checkpoints.list(`${NAME}/`)),
        ...(await inner.warehouse.list('')),
      ].filter((key) => key.includes(attempt!));
      expect(leftovers).toEqual([]);
      await expectReference(NAME, dir, w.bids);
    },
  );
});
