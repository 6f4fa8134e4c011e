/**
 * Cleanup of data files whose epoch is below the kept manifests: no manifest says which attempt
 * committed there any more, so the table decides. Orphans (a zombie's late file, one no cleanup
 * saw while its epoch was kept) go once past the grace period; committed files never do.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { localCheckpointStores } from '../../adapters/local/run-directory.ts';
import {
  expectedRowsTable,
  processorFor,
  runToEnd,
  tableNamesOf,
  tablesOf,
  tempRunDir,
  type Workload,
  workload,
} from '../../test/support/checkpoint-runs.ts';
import { readTable } from '../../test/support/iceberg-tables.ts';
import { dataFileKey } from '../iceberg/table-layout.ts';
import { mulberry32 } from '../seeded-random.ts';
import type { CheckpointStores } from '../stores/checkpoint-stores.ts';
import type { CheckpointedProcessorOptions } from './checkpointed-processor.ts';
import { RECENT_DATA_FILE_EPOCHS, recentDataFilePrefixes } from './cleanup.ts';
import { dataFileName, headKey, newAttemptId } from './layout.ts';

const NAME = 'bids-per-auction';
const GRACE = 60_000;

/** The name of a data file that an attempt of `group` at `epoch`, started at `startedAt`, staged in the rows table. */
async function dataFileOf(
  stores: CheckpointStores,
  group: string,
  epoch: number,
  startedAt: number,
): Promise<string> {
  const { lineage } = (await stores.heads.get(headKey(NAME, group)))!.value as { lineage: string };
  return dataFileKey(
    tableNamesOf(NAME).rows,
    dataFileName(NAME, group, lineage, epoch, newAttemptId(startedAt)),
  );
}

/** bids-per-auction over `w` on fresh local stores, at a processing time the test moves (`clock.now`). */
function clockedRun(w: Workload, options: Partial<CheckpointedProcessorOptions>) {
  const dir = tempRunDir();
  const stores = localCheckpointStores(dir);
  const clock = { now: 10_000_000 };
  const processor = processorFor(NAME, stores, w, { clock: () => clock.now, ...options });
  return { dir, stores, clock, processor };
}

describe('cleanup of data files below the kept manifests', () => {
  it('deletes orphans past the grace period, keeps younger ones until then, and never a committed file', async () => {
    const w = workload({ batchSize: 20 });
    // No cleanup during the run: the orphans below are what a leak leaves. Every commit writes
    // its rows as a file of its own (not in its manifest), as such a leak's would be.
    const { dir, stores, clock, processor } = clockedRun(w, {
      orphanGraceMs: GRACE,
      keepCheckpoints: 2,
      cleanupEvery: 1_000,
      maxInlineRowsChars: 0,
    });
    await runToEnd(processor, w.events);
    const { rows: table } = tableNamesOf(NAME);
    const { groups } = await processor.committed();
    const group = groups[0]!;
    expect(group.epoch).toBeGreaterThan(4);

    // Attempts of epoch 1, far below the kept window, that never committed: one long dead, one
    // whose writer might still be running (a zombie that cannot commit, but is young).
    const committedFile = (await readTable(dir, table)).files[0]!;
    const bytes = (await stores.warehouse.get(committedFile))!;
    const dead = await dataFileOf(stores, group.group, 1, clock.now - 2 * GRACE);
    const young = await dataFileOf(stores, group.group, 1, clock.now - 1_000);
    await stores.warehouse.put(dead, bytes);
    await stores.warehouse.put(young, bytes);
    const dataDir = join(dir, 'warehouse', ...table.split('.'), 'data');
    const fileNames = async () => (await readdir(dataDir)).sort();
    const base = (key: string) => key.split('/').pop()!;
    const tableFiles = async () => (await readTable(dir, table)).files.map(base);
    const committed = await tableFiles();
    expect(committed.length).toBeGreaterThan(3);

    await processor.cleanup();

    expect(await fileNames()).toEqual([...committed, base(young)].sort());

    clock.now += GRACE;
    await processor.cleanup();

    // Only the table's files are left, every one of them: the tables read fully and correctly.
    expect(await fileNames()).toEqual([...committed].sort());
    expect(await tableFiles()).toEqual(committed);
    const tables = await tablesOf(dir);
    expect(tables[table]).toEqual(expectedRowsTable(NAME, w.bids, tables));
  });
});

describe('the recent data-file sweep', () => {
  it('lists the files of every epoch from `window` below the head to one above it, in at most 3 LISTs', () => {
    const random = mulberry32(9);
    const prefix = 'ns/t/data/job-p0-lineage-';
    const name = (epoch: number) => dataFileName('job', 'p0', 'lineage', epoch, newAttemptId(0));
    for (let i = 0; i < 3_000; i++) {
      const head = i < 40 ? i * 50 : Math.floor(random() * 1e7);
      const window = i % 3 === 0 ? RECENT_DATA_FILE_EPOCHS : 1 + Math.floor(random() * 200_000);
      const prefixes = recentDataFilePrefixes(prefix, head, window);
      expect(prefixes.length).toBeLessThanOrEqual(3);
      const listed = (epoch: number) => prefixes.some((p) => `ns/t/data/${name(epoch)}`.startsWith(p));
      const inside = [head - window, head - Math.floor(window / 2), head - 1, head, head + 1];
      for (const epoch of inside)
        if (epoch >= 0) expect(listed(epoch), `head ${head}, window ${window}, epoch ${epoch}`).toBe(true);
      // Far below the window: left to the sweep of all files.
      const far = head - 11 * Math.max(window, 10);
      if (far >= 0) expect(listed(far)).toBe(false);
    }
  });

  it('still lists an orphan once its grace period is over, however many epochs the group committed meanwhile', async () => {
    const w = workload({ count: 400, batchSize: 1, partitions: 1 });
    const grace = 15 * 60_000;
    // A commit every 5 s, a sweep every 8 (cleanupEvery 1): about 180 epochs pass within the
    // grace period, ten times the sweeps' own margin (2 periods, 16 epochs).
    const { stores, clock, processor } = clockedRun(w, { orphanGraceMs: grace, cleanupEvery: 1 });
    const events = [...w.events];
    const epoch = async () => Math.max(0, ...(await processor.committed()).groups.map((g) => g.epoch));
    const step = async () => {
      clock.now += 5_000;
      await processor.process(events.shift()!);
    };
    while ((await epoch()) < 60) await step();
    const group = (await processor.committed()).groups[0]!;
    // A file a zombie staged late for an epoch long committed (no kept manifest says which attempt
    // committed it): only the grace period, and the table, judge it.
    const orphan = await dataFileOf(stores, group.group, group.epoch - 30, clock.now);
    await stores.warehouse.put(orphan, new Uint8Array([1]));
    const staged = clock.now;
    // Within the grace period it stays (it may be a zombie that is still running)…
    while (clock.now + 5_000 - staged < grace && events.length > 0) {
      await step();
      expect(await stores.warehouse.get(orphan)).toBeDefined();
    }
    // …and the first sweep past it finds it, 200 epochs below the head: the window grows with the
    // commit rate.
    while (clock.now - staged < grace + 9 * 5_000 && events.length > 0) await step();
    expect(await epoch()).toBeGreaterThan(group.epoch + 180);
    expect(await stores.warehouse.get(orphan)).toBeUndefined();
  });

  it('deletes the file of a dead attempt at the next sweep (every 8th cleanup), never a committed one', async () => {
    const w = workload({ count: 600, batchSize: 10 });
    const { dir, stores, clock, processor } = clockedRun(w, { orphanGraceMs: GRACE, cleanupEvery: 1 });
    const { rows: table } = tableNamesOf(NAME);
    const events = [...w.events];
    // Up to a group's epoch 9: past the first sweep (epoch 8), before the next (16).
    const epochOf = async () => Math.max(...(await processor.committed()).groups.map((g) => g.epoch), 0);
    while ((await epochOf()) < 9) await processor.process(events.shift()!);
    const { groups } = await processor.committed();
    const group = groups.find((g) => g.epoch >= 9)!;
    // A crashed attempt of the group's next epoch: it staged a file and never committed.
    const orphan = await dataFileOf(stores, group.group, group.epoch + 1, clock.now);
    await stores.warehouse.put(orphan, new Uint8Array([1]));
    clock.now += GRACE;
    const epochs = () =>
      processor.committed().then((c) => c.groups.find((g) => g.group === group.group)!.epoch);
    // Cleanups after every commit, but data files only at epochs divisible by 8.
    while ((await epochs()) < 15 && events.length > 0) {
      await processor.process(events.shift()!);
      expect(await stores.warehouse.get(orphan)).toBeDefined();
    }
    while ((await epochs()) < 16 && events.length > 0) await processor.process(events.shift()!);
    expect(await epochs()).toBeGreaterThanOrEqual(16);
    expect(await stores.warehouse.get(orphan)).toBeUndefined();
    await runToEnd(processor, events);
    const tables = await tablesOf(dir);
    expect(tables[table]).toEqual(expectedRowsTable(NAME, w.bids, tables));
  });
});
