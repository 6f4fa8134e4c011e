import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runDirectory } from '../adapters/local/run-directory.ts';
import { bidsPerAuction } from '../examples/bids-per-auction.ts';
import { maxPrice } from '../examples/max-price.ts';
import { appendFiles, dataFileKey, writeDataFile } from '../runtime/iceberg/index.ts';
import { removeScratch } from '../test/support/cleanup.ts';
import { floe } from '../test/support/floe-cli.ts';

describe('floe tables', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'floe-tables-'));
  });
  afterEach(async () => {
    await removeScratch(dir);
  });

  it('lists each table of a run directory with its current metadata file, as JSON', async () => {
    const { catalog, warehouse } = runDirectory(dir);
    const row = { auction: 1000, window_start: 0, window_end: 10_000, bids: 3 };
    const file = await writeDataFile(
      warehouse,
      bidsPerAuction,
      [row],
      dataFileKey(bidsPerAuction.name, 'a.parquet'),
    );
    const first = await appendFiles(catalog, warehouse, bidsPerAuction.name, bidsPerAuction, [file], {
      snapshotId: 1n,
    });
    const maxFile = await writeDataFile(
      warehouse,
      maxPrice,
      [{ window_start: 0, window_end: 10_000, max_price: 9 }],
      dataFileKey(maxPrice.name, 'b.parquet'),
    );
    const second = await appendFiles(catalog, warehouse, maxPrice.name, maxPrice, [maxFile], {
      snapshotId: 2n,
    });

    const { code, stdout } = await floe('tables', '--dir', dir, '--json');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual([
      { name: 'nexmark.bids_per_auction', metadataLocation: first.metadataLocation },
      { name: 'nexmark.max_price', metadataLocation: second.metadataLocation },
    ]);
    expect(first.metadataLocation).toMatch(
      /^file:\/\/.*\/warehouse\/nexmark\/bids_per_auction\/metadata\/.*\.metadata\.json$/,
    );

    const human = await floe('tables', '--dir', dir);
    expect(human.stdout).toContain('Tables in');
    expect(human.stdout).toContain('nexmark.max_price');
  });

  it('prints an empty list for a run directory without tables', async () => {
    const { stdout } = await floe('tables', '--dir', dir, '--json');
    expect(JSON.parse(stdout)).toEqual([]);
  });

  it('reports a missing run directory in one line and exits with 2', async () => {
    const { code, stderr } = await floe('tables', '--dir', join(dir, 'nope'), '--json');
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(`floe: No run directory at ${join(dir, 'nope')}.`);
  });
});
