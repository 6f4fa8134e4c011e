import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runDirectory } from '../../adapters/local/run-directory.ts';
import { appendFiles } from '../../runtime/iceberg/append-files.ts';
import { writeDataFile } from '../../runtime/iceberg/data-file.ts';
import { dataFileKey } from '../../runtime/iceberg/table-layout.ts';
import { type Columns, type RowOf, type Table, table } from '../../runtime/sink/table.ts';
import { removeScratch } from './cleanup.ts';
import { canonicalRows, readRunTables, readTable } from './iceberg-tables.ts';

const bids = table('nexmark.bids', {
  auction: 'long',
  window_start: 'timestamptz',
  channel: 'string',
  price: { type: 'double', nullable: true },
  tag: { type: 'binary', nullable: true },
});
const counts = table('nexmark.counts', { n: 'int', at: { type: 'timestamptz', nullable: true } });

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'floe-iceberg-tables-'));
});

afterEach(async () => {
  await removeScratch(dir);
});

async function append<C extends Columns>(
  target: Table<C>,
  file: string,
  rows: RowOf<C>[],
  snapshotId: bigint,
): Promise<void> {
  const { catalog, warehouse } = runDirectory(dir);
  const dataFile = await writeDataFile(warehouse, target, rows, dataFileKey(target.name, file));
  await appendFiles(catalog, warehouse, target.name, target, [dataFile], { snapshotId });
}

const first = [
  { auction: 1, window_start: 1_700_000_000_123, channel: 'web', price: 2.5, tag: new Uint8Array([0, 255]) },
  { auction: 2 ** 53 - 1, window_start: -1_000, channel: 'ünïcode', price: null, tag: null },
];
const second = [{ auction: -7, window_start: 0, channel: '', price: -0.25, tag: new Uint8Array([104, 105]) }];

describe('readTable', () => {
  it('returns exactly the rows of both appends, timestamps in epoch ms, in commit order', async () => {
    await append(bids, 'a.parquet', first, 2n ** 62n + 1n);
    await append(bids, 'b.parquet', second, 5n);

    const contents = await readTable(dir, bids.name);

    expect(contents).toEqual({
      name: 'nexmark.bids',
      snapshots: 2,
      rows: [...first, ...second],
      files: ['nexmark/bids/data/a.parquet', 'nexmark/bids/data/b.parquet'],
    });
    expect(typeof contents.rows[1]?.auction).toBe('number');
    expect(contents.rows[0]?.tag).toBeInstanceOf(Uint8Array);
  });

  it('counts snapshots, so an idempotent re-append shows as no new snapshot', async () => {
    await append(bids, 'a.parquet', first, 11n);
    await append(bids, 'a.parquet', first, 11n);

    const contents = await readTable(dir, bids.name);

    expect(contents.snapshots).toBe(1);
    expect(contents.rows).toHaveLength(2);
  });

  it('fails clearly for a missing table', async () => {
    await append(counts, 'c.parquet', [{ n: 1, at: null }], 1n);

    await expect(readTable(dir, 'nexmark.missing')).rejects.toThrow(
      `Table nexmark.missing does not exist in run directory ${dir} (tables: nexmark.counts).`,
    );
  });
});

describe('readRunTables', () => {
  it('reads every table of the run directory', async () => {
    await append(bids, 'a.parquet', second, 1n);
    await append(counts, 'c.parquet', [{ n: 3, at: 42 }], 2n);

    const tables = await readRunTables(dir);

    expect([...tables.keys()]).toEqual(['nexmark.bids', 'nexmark.counts']);
    expect(tables.get('nexmark.bids')?.rows).toEqual(second);
    expect(tables.get('nexmark.counts')).toEqual({
      name: 'nexmark.counts',
      snapshots: 1,
      rows: [{ n: 3, at: 42 }],
      files: ['nexmark/counts/data/c.parquet'],
    });
  });

  it('is empty for a run directory without tables', async () => {
    expect(await readRunTables(dir)).toEqual(new Map());
  });
});

describe('canonicalRows', () => {
  it('sorts keys and lines and makes bigints comparable', () => {
    const lines = canonicalRows([
      { b: 2n ** 60n, a: 'x' },
      { b: 1, a: 'w' },
      { a: 'w', b: 1n },
    ]);

    expect(lines).toEqual(['{"a":"w","b":1}', '{"a":"w","b":1}', '{"a":"x","b":"1152921504606846976"}']);
  });

  it('compares tables as multisets regardless of file order', async () => {
    await append(bids, 'a.parquet', first, 1n);
    await append(bids, 'b.parquet', second, 2n);
    const { rows } = await readTable(dir, bids.name);

    expect(canonicalRows(rows)).toEqual(canonicalRows([...second, ...first].reverse()));
  });
});
