/**
 * Appends of several publishers' backlogs as one snapshot (appendPlanned + aboveMarks), the way
 * the table committer publishes every commit group's unpublished epochs: what is above each mark
 * goes in, the marks move in the same commit, and a rebase, a retry or a racing append recomputes
 * it from the marks as they then are.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalCatalog } from '../../adapters/local/local-catalog.ts';
import { LocalObjectStore } from '../../adapters/local/local-object-store.ts';
import { removeScratch } from '../../test/support/cleanup.ts';
import { readTable } from '../../test/support/iceberg-tables.ts';
import { InterferingCatalog } from '../../test/support/interfering-catalog.ts';
import { table } from '../sink/table.ts';
import type { Catalog } from '../stores/catalog.ts';
import { appendFiles, appendPlanned, loadTable, TableCache } from './append-files.ts';
import { type DataFile, writeDataFile } from './data-file.ts';
import { IcebergError, IcebergMetadataError } from './errors.ts';
import { aboveMarks, type BacklogEpoch, markValue, type PublisherBacklog } from './publisher-marks.ts';
import { dataFileKey } from './table-layout.ts';

const bids = table('nexmark.bids', { auction: 'long', window_start: 'timestamptz', bids: 'long' });
const row = (auction: number) => ({ auction, window_start: auction * 1000, bids: 1 });

let dir: string;
let store: LocalObjectStore;
let catalog: LocalCatalog;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'floe-marks-'));
  store = new LocalObjectStore(join(dir, 'warehouse'));
  catalog = new LocalCatalog(join(dir, 'catalog'));
});

afterEach(async () => {
  await removeScratch(dir);
});

/** One data file per (publisher, epoch), its rows one auction each: `auction = group * 1000 + epoch`. */
async function epochFile(group: number, epoch: number): Promise<DataFile> {
  return writeDataFile(
    store,
    bids,
    [row(group * 1000 + epoch)],
    dataFileKey(bids.name, `g${group}-e${epoch}.parquet`),
  );
}

async function backlog(
  group: number,
  epochs: number[],
  through = Math.max(...epochs),
): Promise<PublisherBacklog> {
  return {
    mark: `floe.published.l.g${group}`,
    through,
    epochs: await Promise.all(
      epochs.map(async (epoch) => ({ epoch, files: [await epochFile(group, epoch)] })),
    ),
  };
}

/** The snapshot id a round derives from what it includes (any deterministic function will do). */
function idOf(included: readonly { backlog: PublisherBacklog; epochs: readonly BacklogEpoch[] }[]): bigint {
  let id = 17n;
  for (const { backlog, epochs } of included)
    for (const { epoch } of epochs)
      id = (id * 1_000_003n + BigInt(backlog.mark.length * 7919 + epoch)) % 2n ** 62n;
  return id + 1n;
}

/** Appends the backlogs' positions above the table's marks as one snapshot, setting the marks. */
function appendBacklogs(
  backlogs: readonly PublisherBacklog[],
  options: { catalog?: Catalog; cache?: TableCache } = {},
) {
  return appendPlanned(
    options.catalog ?? catalog,
    store,
    bids.name,
    bids,
    (current) => {
      const selection = aboveMarks(current.properties, backlogs, current.name);
      if (selection.files.length === 0) return undefined;
      return { snapshotId: idOf(selection.included), files: selection.files, properties: selection.marks };
    },
    options.cache === undefined ? {} : { cache: options.cache },
  );
}

async function auctions(): Promise<number[]> {
  return (await readTable(dir, bids.name)).rows.map((r) => Number(r.auction)).sort((a, b) => a - b);
}

async function properties(): Promise<Record<string, string>> {
  return { ...(await loadTable(catalog, store, bids.name))!.metadata.properties };
}

describe('aboveMarks', () => {
  const file = { filePath: 'x' } as DataFile;
  const entry = (epoch: number) => ({ epoch, files: [file] });

  it('keeps the positions above each mark, and moves every mark its backlog passes', () => {
    const selection = aboveMarks(
      { 'm.a': '3', 'm.c': '9' },
      [
        { mark: 'm.a', through: 6, epochs: [entry(2), entry(3), entry(5)] },
        { mark: 'm.b', through: 4, epochs: [entry(1), entry(4)] },
        { mark: 'm.c', through: 9, epochs: [entry(8)] },
        { mark: 'm.d', through: 7, epochs: [] },
      ],
      'ns.t',
    );
    expect(selection.included.map((i) => [i.backlog.mark, i.epochs.map((e) => e.epoch)])).toEqual([
      ['m.a', [5]],
      ['m.b', [1, 4]],
    ]);
    expect(selection.files).toHaveLength(3);
    // m.c is at 9 already: it stays. m.d has nothing for this table but its position moves.
    expect(selection.marks).toEqual({ 'm.a': '6', 'm.b': '4', 'm.d': '7' });
  });

  it('refuses backlogs out of order, above their position, or two of one mark', () => {
    expect(() => aboveMarks({}, [{ mark: 'm', through: 5, epochs: [entry(3), entry(2)] }], 'ns.t')).toThrow(
      IcebergError,
    );
    expect(() => aboveMarks({}, [{ mark: 'm', through: 2, epochs: [entry(3)] }], 'ns.t')).toThrow(
      /up to 2, got 3/,
    );
    const one = { mark: 'm', through: 1, epochs: [entry(1)] };
    expect(() => aboveMarks({}, [one, one], 'ns.t')).toThrow(/two backlogs of one publisher mark m/);
  });

  it('refuses a mark that does not hold a number rather than guessing', () => {
    expect(markValue({ m: ' 12 ' }, 'm', 'ns.t')).toBe(12);
    expect(markValue({}, 'm', 'ns.t')).toBeUndefined();
    expect(() =>
      aboveMarks({ m: 'twelve' }, [{ mark: 'm', through: 1, epochs: [entry(1)] }], 'ns.t'),
    ).toThrow(IcebergMetadataError);
  });
});

describe('an append of several publishers as one snapshot', () => {
  it('commits every backlog in one snapshot and sets every mark in the same metadata commit', async () => {
    const result = await appendBacklogs([await backlog(1, [1, 2, 3]), await backlog(2, [1, 4], 5)]);
    expect(result).toMatchObject({ committed: true, attempts: 1 });
    const loaded = (await loadTable(catalog, store, bids.name))!;
    expect(loaded.metadata.snapshots).toHaveLength(1);
    expect(loaded.metadata.snapshots[0]!.summary).toMatchObject({ 'added-data-files': '5' });
    expect(await properties()).toMatchObject({ 'floe.published.l.g1': '3', 'floe.published.l.g2': '5' });
    expect(await auctions()).toEqual([1001, 1002, 1003, 2001, 2004]);
  });

  it('a retry, or a later append of an overlapping backlog, adds only what is above the marks', async () => {
    await appendBacklogs([await backlog(1, [1, 2])]);
    const again = await appendBacklogs([await backlog(1, [1, 2])]);
    expect(again.committed).toBe(false);
    // A later round walked further: positions 1-2 are dropped by the mark, 3-4 go in.
    const later = await appendBacklogs([await backlog(1, [1, 2, 3, 4]), await backlog(2, [1])]);
    expect(later.committed && later.plan.files.length).toBe(3);
    expect(await auctions()).toEqual([1001, 1002, 1003, 1004, 2001]);
    expect((await loadTable(catalog, store, bids.name))!.metadata.snapshots).toHaveLength(2);
  });

  it('a zombie append (an older backlog, after a newer one landed) adds nothing and leaves the marks', async () => {
    const older = [await backlog(1, [1, 2]), await backlog(2, [1])];
    await appendBacklogs([await backlog(1, [1, 2, 3]), await backlog(2, [1, 2])]);
    const marks = await properties();
    expect((await appendBacklogs(older)).committed).toBe(false);
    expect(await properties()).toEqual(marks);
    expect(await auctions()).toEqual([1001, 1002, 1003, 2001, 2002]);
  });

  it('on a lost race, re-reads the marks and commits only what the other writer did not (a new manifest, the old one removed)', async () => {
    const interfering = new InterferingCatalog(catalog);
    await appendBacklogs([await backlog(9, [1])]); // the table exists
    const mine = [await backlog(1, [1, 2, 3]), await backlog(2, [1, 2])];
    // Another round publishes group 1 through 2 and group 2 through 1 first.
    interfering.interfere = async () => {
      await appendBacklogs([await backlog(1, [1, 2]), await backlog(2, [1])]);
    };
    const result = await appendBacklogs(mine, { catalog: interfering });
    expect(result).toMatchObject({ committed: true, attempts: 2 });
    expect(result.committed && result.plan.files.map((f) => f.filePath.split('/').at(-1))).toEqual([
      'g1-e3.parquet',
      'g2-e2.parquet',
    ]);
    expect(await auctions()).toEqual([1001, 1002, 1003, 2001, 2002, 9001]);
    expect(await properties()).toMatchObject({ 'floe.published.l.g1': '3', 'floe.published.l.g2': '2' });
    // Every manifest left in the metadata folder is referenced by the table.
    const stored = (await store.list('nexmark/bids/metadata/')).filter((k) => k.endsWith('-m0.avro'));
    expect(stored).toHaveLength(3);
  });

  it('a lost race after which everything is published returns "nothing to do" and removes its manifest', async () => {
    const interfering = new InterferingCatalog(catalog);
    await appendBacklogs([await backlog(9, [1])]);
    const mine = [await backlog(1, [1, 2])];
    interfering.interfere = async () => {
      await appendBacklogs([await backlog(1, [1, 2, 3])]);
    };
    expect((await appendBacklogs(mine, { catalog: interfering })).committed).toBe(false);
    expect(await auctions()).toEqual([1001, 1002, 1003, 9001]);
    const stored = (await store.list('nexmark/bids/metadata/')).filter((k) => k.endsWith('-m0.avro'));
    expect(stored).toHaveLength(2);
  });

  it('two appends racing with overlapping backlogs: every position once, the marks at the furthest', async () => {
    const one = [await backlog(1, [1, 2, 3]), await backlog(2, [1])];
    const two = [await backlog(1, [1, 2, 3, 4]), await backlog(3, [2], 2)];
    const results = await Promise.all([
      appendBacklogs(one),
      appendBacklogs(two),
      appendBacklogs(one),
      appendBacklogs(two),
    ]);
    expect(results.filter((r) => r.committed).length).toBeGreaterThanOrEqual(1);
    expect(await auctions()).toEqual([1001, 1002, 1003, 1004, 2001, 3002]);
    expect(await properties()).toMatchObject({
      'floe.published.l.g1': '4',
      'floe.published.l.g2': '1',
      'floe.published.l.g3': '2',
    });
  });

  it('recognises marks set by single-publisher appends (appendFiles with a mark), and the other way round', async () => {
    const single = await epochFile(1, 1);
    await appendFiles(catalog, store, bids.name, bids, [single], {
      snapshotId: 77n,
      mark: { key: 'floe.published.l.g1', value: 1 },
    });
    await appendBacklogs([await backlog(1, [1, 2])]);
    expect(await auctions()).toEqual([1001, 1002]);
    const retried = await appendFiles(catalog, store, bids.name, bids, [await epochFile(1, 2)], {
      snapshotId: 78n,
      mark: { key: 'floe.published.l.g1', value: 2 },
    });
    expect(retried.alreadyCommitted).toBe(true);
  });

  it('a writer cache that a hint says is stale is forgotten before the append, not after a lost swap', async () => {
    const cache = new TableCache();
    await appendBacklogs([await backlog(1, [1])], { cache });
    expect(cache.location).toBeDefined();
    await appendBacklogs([await backlog(2, [1])]); // another writer
    const now = (await loadTable(catalog, store, bids.name))!.metadataLocation;
    cache.forgetUnlessAt(now);
    expect(cache.location).toBeUndefined();
    const interfering = new InterferingCatalog(catalog);
    const result = await appendBacklogs([await backlog(1, [1, 2])], { catalog: interfering, cache });
    expect(result).toMatchObject({ committed: true, attempts: 1 });
    expect(cache.location).toBe(result.metadataLocation);
    cache.forgetUnlessAt(result.metadataLocation);
    expect(cache.location).toBe(result.metadataLocation);
  });
});
