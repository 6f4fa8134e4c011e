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
import { appendFiles, loadTable, TableCache } from './append-files.ts';
import { type DataFile, writeDataFile } from './data-file.ts';
import {
  CommitConflictError,
  DataFileConflictError,
  IcebergError,
  IcebergMetadataError,
  SchemaMismatchError,
} from './errors.ts';
import { decodeManifest } from './manifest.ts';
import { decodeManifestList } from './manifest-list.ts';
import { dataFileKey } from './table-layout.ts';

const bids = table('nexmark.bids', { auction: 'long', window_start: 'timestamptz', bids: 'long' });
const row = (auction: number) => ({ auction, window_start: auction * 1000, bids: 1 });

let dir: string;
let store: LocalObjectStore;
let catalog: LocalCatalog;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'floe-append-'));
  store = new LocalObjectStore(join(dir, 'warehouse'));
  catalog = new LocalCatalog(join(dir, 'catalog'));
});

afterEach(async () => {
  await removeScratch(dir);
});

async function dataFile(name: string, auctions: number[]): Promise<DataFile> {
  return writeDataFile(store, bids, auctions.map(row), dataFileKey(bids.name, `${name}.parquet`));
}

async function snapshotIds(): Promise<bigint[]> {
  const loaded = await loadTable(catalog, store, bids.name);
  return loaded?.metadata.snapshots.map((s) => s.snapshotId) ?? [];
}

describe('appendFiles', () => {
  it('creates the table on first append and commits a snapshot with exactly the given id', async () => {
    const file = await dataFile('a', [1, 2]);

    const result = await appendFiles(catalog, store, bids.name, bids, [file], {
      snapshotId: 2n ** 62n + 3n,
      summary: { 'floe.intent': 'p0-e1' },
    });

    expect(result).toMatchObject({
      alreadyCommitted: false,
      snapshotId: 2n ** 62n + 3n,
      sequenceNumber: 1,
      attempts: 1,
    });
    const loaded = (await loadTable(catalog, store, bids.name))!;
    expect(loaded.metadataLocation).toBe(result.metadataLocation);
    expect(loaded.metadataLocation).toMatch(
      /\/nexmark\/bids\/metadata\/00002-[0-9a-f-]{36}\.metadata\.json$/,
    );
    expect(loaded.metadata.snapshots[0]?.summary).toEqual({
      operation: 'append',
      'added-data-files': '1',
      'added-records': '2',
      'added-files-size': String(file.fileSizeInBytes),
      'total-data-files': '1',
      'total-records': '2',
      'total-files-size': String(file.fileSizeInBytes),
      'total-delete-files': '0',
      'total-position-deletes': '0',
      'total-equality-deletes': '0',
      'floe.intent': 'p0-e1',
    });
  });

  it('is idempotent: a second call with the same snapshot id writes nothing', async () => {
    const file = await dataFile('a', [1]);
    const first = await appendFiles(catalog, store, bids.name, bids, [file], { snapshotId: 7n });
    const objectsBefore = await store.list('');

    const again = await appendFiles(catalog, store, bids.name, bids, [file], { snapshotId: 7n });

    expect(again).toEqual({
      alreadyCommitted: true,
      snapshotId: 7n,
      metadataLocation: first.metadataLocation,
    });
    expect(await store.list('')).toEqual(objectsBefore);
    expect(await snapshotIds()).toEqual([7n]);
  });

  it('finds an earlier snapshot with the id anywhere in the table, not only at the head', async () => {
    await appendFiles(catalog, store, bids.name, bids, [await dataFile('a', [1])], { snapshotId: 1n });
    await appendFiles(catalog, store, bids.name, bids, [await dataFile('b', [2])], { snapshotId: 2n });

    const retry = await appendFiles(catalog, store, bids.name, bids, [await dataFile('a', [1])], {
      snapshotId: 1n,
    });

    expect(retry.alreadyCommitted).toBe(true);
    expect(await snapshotIds()).toEqual([1n, 2n]);
  });

  it('rebases on a lost race: keeps the snapshot id, reuses the manifest, and removes its orphans', async () => {
    await appendFiles(catalog, store, bids.name, bids, [await dataFile('a', [1])], { snapshotId: 1n });
    const racing = new InterferingCatalog(catalog);
    const other = await dataFile('other', [2]);
    racing.interfere = async () => {
      await appendFiles(catalog, store, bids.name, bids, [other], { snapshotId: 2n });
    };

    const result = await appendFiles(racing, store, bids.name, bids, [await dataFile('mine', [3])], {
      snapshotId: 3n,
    });

    expect(result).toMatchObject({ alreadyCommitted: false, snapshotId: 3n, sequenceNumber: 3, attempts: 2 });
    const { metadata } = (await loadTable(catalog, store, bids.name))!;
    expect(metadata.snapshots.map((s) => [s.snapshotId, s.parentSnapshotId, s.sequenceNumber])).toEqual([
      [1n, undefined, 1],
      [2n, 1n, 2],
      [3n, 2n, 3],
    ]);
    // One manifest per snapshot: the rebase reused ours; one list and one metadata file per commit.
    const metadataKeys = await store.list('nexmark/bids/metadata/');
    expect(metadataKeys.filter((k) => k.endsWith('-m0.avro'))).toHaveLength(3);
    expect(metadataKeys.filter((k) => /\/snap-/.test(k))).toHaveLength(3);
    expect(metadataKeys.filter((k) => k.endsWith('.metadata.json'))).toHaveLength(4);
    // The head's manifest list names all three manifests, ours with the rebased sequence number.
    const list = decodeManifestList((await store.get(store.keyOf(metadata.snapshots[2]!.manifestList)!))!);
    expect(list.map((m) => [m.addedSnapshotId, m.sequenceNumber])).toEqual([
      [3n, 3n],
      [2n, 2n],
      [1n, 1n],
    ]);
  });

  it('stops rebasing when the snapshot landed during the race, and reports it as committed', async () => {
    const file = await dataFile('a', [1]);
    const racing = new InterferingCatalog(catalog);
    await appendFiles(catalog, store, bids.name, bids, [await dataFile('z', [0])], { snapshotId: 1n });
    // Another process (e.g. a retry of the same intent) commits snapshot 9 while this call is in flight.
    racing.interfere = async () => {
      await appendFiles(catalog, store, bids.name, bids, [file], { snapshotId: 9n });
    };

    const result = await appendFiles(racing, store, bids.name, bids, [file], { snapshotId: 9n });

    expect(result.alreadyCommitted).toBe(true);
    expect(await snapshotIds()).toEqual([1n, 9n]);
  });

  it('answers "did my commit land?" after a lost response by finding the snapshot on retry', async () => {
    const file = await dataFile('a', [1]);
    const lossy: Catalog = {
      currentMetadataLocation: (name) => catalog.currentMetadataLocation(name),
      compareAndSwap: async (name, expected, next) => {
        const swapped = await catalog.compareAndSwap(name, expected, next);
        if (swapped && expected !== undefined) throw new Error('socket hang up'); // applied, answer lost
        return swapped;
      },
      listTables: () => catalog.listTables(),
    };

    await expect(appendFiles(lossy, store, bids.name, bids, [file], { snapshotId: 5n })).rejects.toThrow(
      'socket hang up',
    );
    const retry = await appendFiles(catalog, store, bids.name, bids, [file], { snapshotId: 5n });

    expect(retry.alreadyCommitted).toBe(true);
    expect(await snapshotIds()).toEqual([5n]);
  });

  it('gives up with CommitConflictError after maxAttempts lost races, naming the table', async () => {
    await appendFiles(catalog, store, bids.name, bids, [await dataFile('a', [1])], { snapshotId: 1n });
    const hopeless: Catalog = {
      currentMetadataLocation: (name) => catalog.currentMetadataLocation(name),
      compareAndSwap: async () => false,
      listTables: () => catalog.listTables(),
    };

    const attempt = appendFiles(hopeless, store, bids.name, bids, [await dataFile('b', [2])], {
      snapshotId: 2n,
      maxAttempts: 3,
    });

    await expect(attempt).rejects.toThrow(CommitConflictError);
    await expect(attempt).rejects.toThrow(/Table nexmark\.bids: snapshot 2 lost the commit race 3 times/);
    // Lost attempts leave no metadata or manifest list behind (the reusable manifest stays).
    const keys = await store.list('nexmark/bids/metadata/');
    expect(keys.filter((k) => k.endsWith('.metadata.json'))).toHaveLength(2);
    expect(keys.filter((k) => /\/snap-2-/.test(k))).toEqual([]);
  });

  it('lets two concurrent creators of a new table both commit', async () => {
    const [a, b] = [await dataFile('a', [1]), await dataFile('b', [2])];

    const results = await Promise.all([
      appendFiles(catalog, store, bids.name, bids, [a], { snapshotId: 1n }),
      appendFiles(catalog, store, bids.name, bids, [b], { snapshotId: 2n }),
    ]);

    expect(results.every((r) => !r.alreadyCommitted)).toBe(true);
    expect((await snapshotIds()).sort()).toEqual([1n, 2n]);
    const versionOnes = (await store.list('nexmark/bids/metadata/00001-')).filter((k) =>
      k.endsWith('.metadata.json'),
    );
    expect(versionOnes).toHaveLength(1);
  });

  it('commits an empty append as a snapshot without a new manifest', async () => {
    await appendFiles(catalog, store, bids.name, bids, [await dataFile('a', [1])], { snapshotId: 1n });

    const result = await appendFiles(catalog, store, bids.name, bids, [], { snapshotId: 2n });

    expect(result.alreadyCommitted).toBe(false);
    const { metadata } = (await loadTable(catalog, store, bids.name))!;
    expect(metadata.snapshots[1]?.summary).toMatchObject({ 'added-data-files': '0', 'total-records': '1' });
  });

  it('writes manifests whose entries carry the snapshot id and inherit sequence numbers', async () => {
    const file = await dataFile('a', [1, 2, 3]);
    await appendFiles(catalog, store, bids.name, bids, [file], { snapshotId: 2n ** 63n - 1n });

    const { metadata } = (await loadTable(catalog, store, bids.name))!;
    const [manifest] = decodeManifestList(
      (await store.get(store.keyOf(metadata.snapshots[0]!.manifestList)!))!,
    );
    const entries = decodeManifest((await store.get(store.keyOf(manifest!.manifestPath)!))!).entries;

    expect(entries).toEqual([
      {
        status: 1,
        snapshotId: 2n ** 63n - 1n,
        sequenceNumber: null,
        fileSequenceNumber: null,
        dataFile: file,
      },
    ]);
  });

  it('refuses a table whose schema differs from the job, naming the column', async () => {
    await appendFiles(catalog, store, bids.name, bids, [await dataFile('a', [1])], { snapshotId: 1n });
    const changed = table('nexmark.bids', { auction: 'long', window_start: 'timestamptz', bids: 'int' });

    const attempt = appendFiles(catalog, store, bids.name, changed, [], { snapshotId: 2n });

    await expect(attempt).rejects.toThrow(SchemaMismatchError);
    await expect(attempt).rejects.toThrow(
      /column 3 is bids \(id 3, long, required\) in the table but bids \(id 3, int, required\) in the job/,
    );
  });

  it.each([
    [{ snapshotId: 0n }, /snapshotId must be from 1 to 2\^63 - 1, got 0/],
    [{ snapshotId: 2n ** 63n }, /snapshotId must be from 1 to 2\^63 - 1/],
    [
      { snapshotId: 1n, summary: { operation: 'overwrite' } },
      /summary key "operation" is computed by the append/,
    ],
    [{ snapshotId: 1n, summary: { 'total-records': '5' } }, /summary key "total-records"/],
    [{ snapshotId: 1n, maxAttempts: 0 }, /maxAttempts must be a positive integer, got 0/],
    [{ snapshotId: 1n, mark: { key: '', value: 1 } }, /mark\.key must be a non-empty table property name/],
    [
      { snapshotId: 1n, mark: { key: 'k', value: Number.NaN } },
      /mark\.value must be a finite number, got NaN/,
    ],
    [{ snapshotId: 1n, summary: { 'manifests-kept': '1' } }, /summary key "manifests-kept"/],
  ])('rejects invalid options %o before writing anything', async (options, message) => {
    await expect(appendFiles(catalog, store, bids.name, bids, [], options)).rejects.toThrow(message);
    await expect(appendFiles(catalog, store, bids.name, bids, [], options)).rejects.toThrow(IcebergError);
    expect(await store.list('')).toEqual([]);
  });
});

describe('a long stream of appends', () => {
  /** Small limits so that a few hundred commits expire and merge many times. */
  const SMALL = {
    'floe.snapshots.retain': '10',
    'commit.manifest.min-count-to-merge': '8',
  };
  const mark = (epoch: number) => ({ key: 'floe.published.lineage-1.group-a', value: epoch });

  async function manifestList(snapshot: { manifestList: string }) {
    return decodeManifestList((await store.get(store.keyOf(snapshot.manifestList)!))!);
  }

  async function head() {
    const { metadata } = (await loadTable(catalog, store, bids.name))!;
    const snapshot = metadata.snapshots.find((s) => s.snapshotId === metadata.currentSnapshotId)!;
    return { metadata, snapshot, manifests: await manifestList(snapshot) };
  }

  /** Appends one one-row file per commit; snapshot id = epoch = commit number (1-based). */
  async function stream(
    commits: number,
    properties: Record<string, string> | undefined,
    onCommit?: (epoch: number) => Promise<void>,
  ) {
    for (let epoch = 1; epoch <= commits; epoch++) {
      const file = await dataFile(`e${epoch}`, [epoch]);
      const result = await appendFiles(catalog, store, bids.name, bids, [file], {
        snapshotId: BigInt(epoch),
        mark: mark(epoch),
        ...(properties === undefined ? {} : { properties }),
      });
      expect(result).toMatchObject({ alreadyCommitted: false, sequenceNumber: epoch });
      await onCommit?.(epoch);
    }
  }

  it('keeps at most floe.snapshots.retain snapshots and a bounded manifest list over 250 commits', async () => {
    let longestList = 0;
    let merges = 0;
    await stream(250, SMALL, async () => {
      const { metadata, snapshot, manifests } = await head();
      expect(metadata.snapshots.length).toBeLessThanOrEqual(10);
      longestList = Math.max(longestList, manifests.length);
      if (snapshot.summary['manifests-replaced'] !== undefined) merges++;
    });

    const { metadata, snapshot, manifests } = await head();
    expect(metadata.snapshots.map((s) => s.snapshotId)).toEqual(
      Array.from({ length: 10 }, (_, i) => BigInt(241 + i)),
    );
    expect(metadata.json['snapshot-log']).toEqual(
      metadata.snapshots.map((s) => ({ 'timestamp-ms': s.timestampMs, 'snapshot-id': Number(s.snapshotId) })),
    );
    expect(metadata.json.refs).toEqual({ main: { 'snapshot-id': 250, type: 'branch' } });
    expect(metadata.properties['floe.published.lineage-1.group-a']).toBe('250');
    expect(snapshot.summary).toMatchObject({ 'total-records': '250', 'total-data-files': '250' });
    // One merge every 7 commits once 8 small manifests pile up; never more than 8 in a list.
    expect(longestList).toBe(8);
    expect(merges).toBeGreaterThan(30);
    expect(manifests.length).toBeLessThanOrEqual(8);

    // Every row exactly once, in commit order, with the project's independent reader.
    const contents = await readTable(dir, bids.name);
    expect(contents.snapshots).toBe(10);
    expect(contents.rows.map((r) => r.auction)).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
    expect(contents.files).toEqual(
      Array.from({ length: 250 }, (_, i) => `nexmark/bids/data/e${i + 1}.parquet`),
    );
  });

  it('writes the merged manifest as EXISTING entries with their original snapshot ids and sequence numbers', async () => {
    await stream(20, SMALL);

    const { snapshot, manifests } = await head();
    const merged = manifests.find((m) => m.existingFilesCount > 0)!;
    const entries = decodeManifest((await store.get(store.keyOf(merged.manifestPath)!))!).entries;
    const mergedAt = Number(merged.sequenceNumber);
    // Files of commits 1 .. mergedAt - 1, each with the id and sequence number of its commit.
    expect(entries.map((e) => [e.status, e.snapshotId, e.sequenceNumber, e.fileSequenceNumber])).toEqual(
      Array.from({ length: mergedAt - 1 }, (_, i) => [0, BigInt(i + 1), BigInt(i + 1), BigInt(i + 1)]),
    );
    expect(merged).toMatchObject({
      content: 0,
      addedSnapshotId: BigInt(mergedAt),
      minSequenceNumber: 1n,
      addedFilesCount: 0,
      existingFilesCount: mergedAt - 1,
      deletedFilesCount: 0,
      addedRowsCount: 0n,
      existingRowsCount: BigInt(mergedAt - 1),
      deletedRowsCount: 0n,
    });
    expect(merged.manifestLength).toBe(
      BigInt((await store.get(store.keyOf(merged.manifestPath)!))!.byteLength),
    );
    // The metrics survive the merge unchanged.
    expect(entries[4]?.dataFile).toEqual(await dataFile('e5', [5]));
    // Nothing is deleted: 20 added manifests plus the merged ones, every data file.
    expect(snapshot.sequenceNumber).toBe(20);
    const keys = await store.list('nexmark/bids/');
    expect(keys.filter((k) => k.endsWith('-m0.avro'))).toHaveLength(20);
    expect(keys.filter((k) => k.endsWith('-m1.avro')).length).toBeGreaterThanOrEqual(2);
    expect(keys.filter((k) => k.endsWith('.parquet'))).toHaveLength(20);
  });

  it('keeps the defaults: 100 snapshots, merges at 100 manifests', async () => {
    await stream(120, undefined);

    const { metadata, manifests } = await head();
    expect(metadata.snapshots).toHaveLength(100);
    expect(metadata.snapshots[0]?.snapshotId).toBe(21n);
    // Merged at commit 101 (100 inherited manifests; the merged one listed before 101's own),
    // then one more per commit.
    expect(manifests.map((m) => [m.addedSnapshotId, m.existingFilesCount])).toEqual([
      ...Array.from({ length: 19 }, (_, i) => [BigInt(120 - i), 0]),
      [101n, 100],
      [101n, 0],
    ]);
  });

  it('does not merge when commit.manifest-merge.enabled is false', async () => {
    await stream(12, { ...SMALL, 'commit.manifest-merge.enabled': 'false' });

    expect((await head()).manifests).toHaveLength(12);
  });

  it('never expires a snapshot another ref names', async () => {
    await stream(3, SMALL);
    // Another engine tags snapshot 2.
    const { metadataLocation, metadata } = (await loadTable(catalog, store, bids.name))!;
    const tagged = {
      ...metadata.json,
      refs: { ...(metadata.json.refs as object), v1: { 'snapshot-id': 2, type: 'tag' } },
    };
    const key = 'nexmark/bids/metadata/00005-tagged.metadata.json';
    await store.put(key, new TextEncoder().encode(JSON.stringify(tagged)));
    expect(await catalog.compareAndSwap(bids.name, metadataLocation, store.uri(key))).toBe(true);

    for (let epoch = 4; epoch <= 30; epoch++) {
      await appendFiles(catalog, store, bids.name, bids, [await dataFile(`e${epoch}`, [epoch])], {
        snapshotId: BigInt(epoch),
      });
    }

    const ids = (await head()).metadata.snapshots.map((s) => s.snapshotId);
    // The tagged snapshot is kept on top of the 10 newest.
    expect(ids).toEqual([2n, ...Array.from({ length: 10 }, (_, i) => BigInt(21 + i))]);
    expect((await head()).metadata.json.refs).toMatchObject({ v1: { 'snapshot-id': 2, type: 'tag' } });
  });

  it('recognises an expired commit by its mark and writes nothing', async () => {
    await stream(30, SMALL);
    expect(await snapshotIds()).not.toContain(3n);
    const objectsBefore = await store.list('');
    const { metadataLocation } = (await loadTable(catalog, store, bids.name))!;

    const retry = await appendFiles(catalog, store, bids.name, bids, [await dataFile('e3', [3])], {
      snapshotId: 3n,
      mark: mark(3),
    });

    expect(retry).toEqual({ alreadyCommitted: true, snapshotId: 3n, metadataLocation });
    expect(await store.list('')).toEqual(objectsBefore);
  });

  it('without a mark, cannot recognise an expired commit: the retry appends the files again', async () => {
    // The documented limitation: callers that may retry after expiry must pass a mark.
    await stream(30, SMALL);

    const retry = await appendFiles(catalog, store, bids.name, bids, [await dataFile('e3', [3])], {
      snapshotId: 3n,
    });

    expect(retry.alreadyCommitted).toBe(false);
    expect((await head()).snapshot.summary['total-records']).toBe('31');
  });

  it('sets the mark in the commit of the snapshot, and counts any value at or below it as committed', async () => {
    const first = await appendFiles(catalog, store, bids.name, bids, [await dataFile('a', [1])], {
      snapshotId: 1n,
      mark: mark(5),
    });
    const { metadata } = (await loadTable(catalog, store, bids.name))!;
    expect(metadata.properties).toEqual({ 'floe.published.lineage-1.group-a': '5' });

    for (const [snapshotId, epoch] of [
      [2n, 5],
      [3n, 4],
    ] as const) {
      const result = await appendFiles(catalog, store, bids.name, bids, [await dataFile('b', [2])], {
        snapshotId,
        mark: mark(epoch),
      });
      expect(result).toEqual({
        alreadyCommitted: true,
        snapshotId,
        metadataLocation: first.metadataLocation,
      });
    }
    const next = await appendFiles(catalog, store, bids.name, bids, [await dataFile('c', [3])], {
      snapshotId: 4n,
      mark: mark(6),
    });
    expect(next.alreadyCommitted).toBe(false);
    expect(await snapshotIds()).toEqual([1n, 4n]);
  });

  it('checks the mark again when it rebases, and sets it in the rebased commit', async () => {
    await appendFiles(catalog, store, bids.name, bids, [await dataFile('a', [1])], { snapshotId: 1n });
    const racing = new InterferingCatalog(catalog);
    // A zombie of the same publisher lands epoch 7 (under another snapshot id) while this call is in flight.
    racing.interfere = async () => {
      await appendFiles(catalog, store, bids.name, bids, [await dataFile('zombie', [7])], {
        snapshotId: 70n,
        mark: mark(7),
      });
    };

    const raced = await appendFiles(racing, store, bids.name, bids, [await dataFile('mine', [7])], {
      snapshotId: 7n,
      mark: mark(7),
    });

    expect(raced.alreadyCommitted).toBe(true);
    expect(await snapshotIds()).toEqual([1n, 70n]);

    // Another publisher interferes: the rebased commit lands and carries our mark and theirs.
    racing.interfere = async () => {
      await appendFiles(catalog, store, bids.name, bids, [await dataFile('other', [8])], {
        snapshotId: 80n,
        mark: { key: 'floe.published.lineage-1.group-b', value: 1 },
      });
    };
    const rebased = await appendFiles(racing, store, bids.name, bids, [await dataFile('mine-8', [8])], {
      snapshotId: 8n,
      mark: mark(8),
    });

    expect(rebased).toMatchObject({ alreadyCommitted: false, attempts: 2 });
    const { metadata } = (await loadTable(catalog, store, bids.name))!;
    expect(metadata.properties).toEqual({
      'floe.published.lineage-1.group-a': '8',
      'floe.published.lineage-1.group-b': '1',
    });
  });

  it('merges again after a rebase, against the new parent, and removes the lost merge', async () => {
    await stream(8, SMALL);
    const racing = new InterferingCatalog(catalog);
    racing.interfere = async () => {
      await appendFiles(catalog, store, bids.name, bids, [await dataFile('e9', [9])], { snapshotId: 9n });
    };

    await appendFiles(racing, store, bids.name, bids, [await dataFile('e10', [10])], { snapshotId: 10n });

    // Commit 9 merged 8 manifests; the lost attempt of 10 had merged the same 8 and was removed.
    const { manifests } = await head();
    expect(manifests.map((m) => [m.addedSnapshotId, m.existingFilesCount])).toEqual([
      [10n, 0],
      [9n, 8],
      [9n, 0],
    ]);
    const keys = await store.list('nexmark/bids/metadata/');
    expect(keys.filter((k) => k.endsWith('-m1.avro'))).toHaveLength(1);
  });

  it('refuses a mark property that does not hold a number', async () => {
    await appendFiles(catalog, store, bids.name, bids, [await dataFile('a', [1])], {
      snapshotId: 1n,
      properties: { 'floe.published.lineage-1.group-a': 'oops' },
    });

    const attempt = appendFiles(catalog, store, bids.name, bids, [await dataFile('b', [2])], {
      snapshotId: 2n,
      mark: mark(2),
    });

    await expect(attempt).rejects.toThrow(IcebergMetadataError);
    await expect(attempt).rejects.toThrow(/floe\.published\.lineage-1\.group-a is "oops", not a number/);
  });

  it.each([
    [{ 'floe.snapshots.retain': '0' }, /floe\.snapshots\.retain is "0"; expected an integer >= 1/],
    [{ 'commit.manifest.min-count-to-merge': 'x' }, /commit\.manifest\.min-count-to-merge is "x"/],
    [
      { 'commit.manifest-merge.enabled': 'yes' },
      /commit\.manifest-merge\.enabled is "yes"; expected true or false/,
    ],
  ])('refuses an invalid table property %o, naming the table', async (properties, message) => {
    const attempt = appendFiles(catalog, store, bids.name, bids, [await dataFile('a', [1])], {
      snapshotId: 1n,
      properties,
    });

    await expect(attempt).rejects.toThrow(message);
    await expect(attempt).rejects.toThrow(/Table nexmark\.bids: table property/);
  });
});

describe('writeDataFile', () => {
  it('accepts a retry that writes the same rows to the same key', async () => {
    const first = await dataFile('a', [1, 2]);

    expect(await dataFile('a', [1, 2])).toEqual(first);
  });

  it('refuses different rows under a key that already holds a file', async () => {
    await dataFile('a', [1, 2]);

    await expect(dataFile('a', [1, 3])).rejects.toThrow(DataFileConflictError);
    await expect(dataFile('a', [1, 3])).rejects.toThrow(
      /Table nexmark\.bids: file:\/\/.*a\.parquet already exists/,
    );
  });

  it('refuses to write a file without rows', async () => {
    await expect(dataFile('empty', [])).rejects.toThrow(/no rows to write/);
  });

  it('records the file URI, size and per-column metrics', async () => {
    const file = await dataFile('a', [3, -1, 2]);

    expect(file).toMatchObject({
      content: 'data',
      filePath: store.uri('nexmark/bids/data/a.parquet'),
      fileFormat: 'parquet',
      recordCount: 3,
      fileSizeInBytes: (await store.get('nexmark/bids/data/a.parquet'))!.byteLength,
    });
    expect(
      file.columns.map((c) => [c.fieldId, c.valueCount, c.nullCount, c.lowerBound, c.upperBound]),
    ).toEqual([
      [1, 3, 0, 'ffffffffffffffff', '0300000000000000'],
      [2, 3, 0, 'c0bdf0ffffffffff', 'c0c62d0000000000'], // -1 s and 3 s in µs, little-endian
      [3, 3, 0, '0100000000000000', '0100000000000000'],
    ]);
    expect(file.columns.every((c) => c.sizeInBytes > 0)).toBe(true);
  });
});

describe('appendFiles with a TableCache', () => {
  /** Counts the reads of the table's objects and pointer. */
  function countingReads() {
    const counts = { gets: 0, pointer: 0 };
    const countingStore = Object.create(store) as LocalObjectStore;
    countingStore.get = async (key) => {
      counts.gets++;
      return store.get(key);
    };
    const countingCatalog: Catalog = {
      currentMetadataLocation: async (name) => {
        counts.pointer++;
        return catalog.currentMetadataLocation(name);
      },
      compareAndSwap: (name, expected, next) => catalog.compareAndSwap(name, expected, next),
      listTables: () => catalog.listTables(),
    };
    return { counts, countingStore, countingCatalog };
  }

  it("skips reading the pointer, metadata and manifest list after the writer's own commit", async () => {
    const cache = new TableCache();
    const { counts, countingStore, countingCatalog } = countingReads();
    for (let i = 1; i <= 5; i++) {
      const file = await dataFile(`c${i}`, [i]);
      await appendFiles(countingCatalog, countingStore, bids.name, bids, [file], {
        snapshotId: BigInt(i),
        cache,
      });
    }
    // The first append reads (and creates) the table; the next four read nothing.
    expect(counts.pointer).toBe(2);
    expect(counts.gets).toBe(1);
    expect((await readTable(dir, bids.name)).rows.map((r) => r.auction)).toEqual([1, 2, 3, 4, 5]);
  });

  it('a cache made stale by another writer loses the swap, reads the table afresh and commits once', async () => {
    const cache = new TableCache();
    await appendFiles(catalog, store, bids.name, bids, [await dataFile('s1', [1])], {
      snapshotId: 1n,
      cache,
    });
    // Another writer commits, then publishes our next snapshot itself (a re-publish after a crash).
    await appendFiles(catalog, store, bids.name, bids, [await dataFile('s2', [2])], { snapshotId: 2n });
    const ours = await dataFile('s3', [3]);
    await appendFiles(catalog, store, bids.name, bids, [ours], { snapshotId: 3n });

    const result = await appendFiles(catalog, store, bids.name, bids, [ours], { snapshotId: 3n, cache });
    expect(result.alreadyCommitted).toBe(true);
    await appendFiles(catalog, store, bids.name, bids, [await dataFile('s4', [4])], {
      snapshotId: 4n,
      cache,
    });
    expect(await snapshotIds()).toEqual([1n, 2n, 3n, 4n]);
    expect((await readTable(dir, bids.name)).rows.map((r) => r.auction)).toEqual([1, 2, 3, 4]);
  });
});
