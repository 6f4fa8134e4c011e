import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { table } from '../sink/table.ts';
import { LocalObjectStore } from '../storage/local-object-store.ts';
import { appendFiles, loadTable } from './append-files.ts';
import type { Catalog } from './catalog.ts';
import { type DataFile, writeDataFile } from './data-file.ts';
import { CommitConflictError, DataFileConflictError, IcebergError, SchemaMismatchError } from './errors.ts';
import { LocalCatalog } from './local-catalog.ts';
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
  await rm(dir, { recursive: true, force: true });
});

async function dataFile(name: string, auctions: number[]): Promise<DataFile> {
  return writeDataFile(store, bids, auctions.map(row), dataFileKey(bids.name, `${name}.parquet`));
}

async function snapshotIds(): Promise<bigint[]> {
  const loaded = await loadTable(catalog, store, bids.name);
  return loaded?.metadata.snapshots.map((s) => s.snapshotId) ?? [];
}

/** A catalog whose next swap first lets `interfere` commit, so that the swap loses the race. */
class InterferingCatalog implements Catalog {
  interfere: (() => Promise<void>) | undefined;
  swaps = 0;

  constructor(private readonly inner: Catalog) {}

  currentMetadataLocation(name: string) {
    return this.inner.currentMetadataLocation(name);
  }

  async compareAndSwap(name: string, expected: string | undefined, next: string) {
    this.swaps++;
    const interfere = this.interfere;
    this.interfere = undefined;
    await interfere?.();
    return this.inner.compareAndSwap(name, expected, next);
  }

  listTables() {
    return this.inner.listTables();
  }
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
  ])('rejects invalid options %o before writing anything', async (options, message) => {
    await expect(appendFiles(catalog, store, bids.name, bids, [], options)).rejects.toThrow(message);
    await expect(appendFiles(catalog, store, bids.name, bids, [], options)).rejects.toThrow(IcebergError);
    expect(await store.list('')).toEqual([]);
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
