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
  workload,
} from '../../test/support/checkpoint-runs.ts';
import { readTable } from '../../test/support/iceberg-tables.ts';
import { dataFileKey } from '../iceberg/table-layout.ts';
import { dataFileName, headKey, newAttemptId } from './layout.ts';

const NAME = 'bids-per-auction';
const GRACE = 60_000;

describe('cleanup of data files below the kept manifests', () => {
  it('deletes orphans past the grace period, keeps younger ones until then, and never a committed file', async () => {
    const w = workload({ batchSize: 20 });
    const dir = tempRunDir();
    const stores = localCheckpointStores(dir);
    let now = 10_000_000;
    // No cleanup during the run: the orphans below are what a leak leaves.
    const processor = processorFor(NAME, stores, w, {
      clock: () => now,
      orphanGraceMs: GRACE,
      keepCheckpoints: 2,
      cleanupEvery: 1_000,
    });
    await runToEnd(processor, w.events);
    const { rows: table } = tableNamesOf(NAME);
    const { groups } = await processor.committed();
    const group = groups[0]!;
    expect(group.epoch).toBeGreaterThan(4);
    const head = await stores.heads.get(headKey(NAME, group.group));
    const { lineage } = head!.value as { lineage: string };

    // Attempts of epoch 1, far below the kept window, that never committed: one long dead, one
    // whose writer might still be running (a zombie that cannot commit, but is young).
    const committedFile = (await readTable(dir, table)).files[0]!;
    const bytes = (await stores.warehouse.get(committedFile))!;
    const orphan = (startedAt: number) =>
      dataFileKey(table, dataFileName(NAME, group.group, lineage, 1, newAttemptId(startedAt)));
    const dead = orphan(now - 2 * GRACE);
    const young = orphan(now - 1_000);
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

    now += GRACE;
    await processor.cleanup();

    // Only the table's files are left, every one of them: the tables read fully and correctly.
    expect(await fileNames()).toEqual([...committed].sort());
    expect(await tableFiles()).toEqual(committed);
    const tables = await tablesOf(dir);
    expect(tables[table]).toEqual(expectedRowsTable(NAME, w.bids, tables));
  });
});
