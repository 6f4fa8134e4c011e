import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDirectory } from '../adapters/local/run-directory.ts';
import { bidsPerAuction } from '../examples/bids-per-auction.ts';
import { generateBids } from '../examples/nexmark/generator.ts';
import { appendFiles, dataFileKey, icebergSchema, writeDataFile } from '../runtime/iceberg/index.ts';
import { metadataFileName, tableKeyPrefix } from '../runtime/iceberg/table-layout.ts';
import { newTableMetadata, serializeTableMetadata } from '../runtime/iceberg/table-metadata.ts';
import { scanTable } from '../runtime/iceberg/table-scan.ts';
import { table } from '../runtime/sink/table.ts';
import { floe, floeIn } from '../test/support/floe-cli.ts';
import { canonicalRows, readTable } from '../test/support/iceberg-tables.ts';
import { EXAMPLE_REFERENCES } from '../test/support/nexmark-reference.ts';

const PROJECT = join(import.meta.dirname, '..');
const JOB = join(PROJECT, 'examples', 'bids-per-auction.ts');
const ROWS = 'nexmark.bids_per_auction';

const scratch = mkdtempSync(join(tmpdir(), 'floe-query-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// 600 bids over 20 auctions and 60 s, 2 partitions, events of 100 records: windows fire in several
// batches, each published by its own round (--publish-interval 0): several snapshots.
const bids = generateBids({ seed: 11, count: 600, eventsPerSecond: 10, auctions: 20, bidders: 30 });
const INPUT = join(scratch, 'bids.jsonl');
writeFileSync(INPUT, bids.map((bid) => `${JSON.stringify(bid)}\n`).join(''));
/** Where `floe run` puts the run when started from `scratch` without --dir. */
const DIR = join(scratch, '.floe', 'run', 'bids-per-auction');

/** JSON lines of `floe query --json`, with ISO timestamps back to epoch milliseconds. */
function jsonRows(stdout: string): Record<string, unknown>[] {
  return stdout
    .trim()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const row = JSON.parse(line) as Record<string, unknown>;
      for (const column of ['window_start', 'window_end']) {
        if (typeof row[column] === 'string') row[column] = Date.parse(row[column] as string);
      }
      return row;
    });
}

function expectOneLineError(result: { code: number; stdout: string; stderr: string }): string {
  expect(result.code, result.stdout).toBe(2);
  const lines = result.stderr.trim().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  return lines[0]!;
}

describe('floe query', () => {
  beforeAll(async () => {
    const { code, stderr } = await floeIn(
      scratch,
      'run',
      JOB,
      '--input',
      INPUT,
      '--key',
      'auction',
      '--partitions',
      '2',
      '--batch-size',
      '100',
      // A snapshot per batch, so that the table has older snapshots than its current one.
      '--publish-interval',
      '0',
    );
    expect(code, stderr).toBe(0);
  });

  it('returns exactly the rows of the table and of a brute-force count, as JSON lines', async () => {
    const { code, stdout, stderr } = await floe('query', `select * from ${ROWS}`, '--dir', DIR, '--json');

    expect(code, stderr).toBe(0);
    const rows = jsonRows(stdout);
    expect(rows.length).toBeGreaterThan(0);
    expect(Object.keys(rows[0]!)).toEqual(['auction', 'window_start', 'window_end', 'bids']);
    expect(typeof rows[0]!.auction).toBe('number'); // BIGINT, safe: a number
    expect(stdout).toMatch(/"window_start":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"/);
    expect(canonicalRows(rows)).toEqual(canonicalRows((await readTable(DIR, ROWS)).rows));
    expect(canonicalRows(rows)).toEqual(canonicalRows(EXAMPLE_REFERENCES['bids-per-auction'](bids)));
  });

  it('reads only the current snapshot: no file of an older snapshot or an uncommitted one counts twice', async () => {
    const { catalog, warehouse } = runDirectory(DIR);
    const contents = await readTable(DIR, ROWS);
    expect(contents.snapshots).toBeGreaterThan(1);
    // A data file a crashed writer left behind: in data/, but in no manifest.
    await writeDataFile(
      warehouse,
      bidsPerAuction,
      [{ auction: 1, window_start: 0, window_end: 10_000, bids: 99 }],
      dataFileKey(ROWS, 'orphan.parquet'),
    );
    const scan = (await scanTable(catalog, warehouse, ROWS))!;
    expect(scan.files.length).toBeGreaterThan(1);

    const { stdout, stderr } = await floe(
      'query',
      `select count(*) as n, sum(bids) as bids, count(distinct (auction, window_start)) as windows from ${ROWS}`,
      '--dir',
      DIR,
      '--json',
    );

    const live = contents.rows.length;
    const bidsCounted = contents.rows.reduce((sum, row) => sum + Number(row.bids), 0);
    expect(jsonRows(stdout), stderr).toEqual([{ n: live, bids: bidsCounted, windows: live }]);
    expect(scan.files.reduce((sum, file) => sum + file.recordCount, 0)).toBe(live);
    // Every Parquet file under data/ would hold one row more: the orphan.
    const all = await floe(
      'query',
      `select count(*) as n from read_parquet('${join(DIR, 'warehouse', 'nexmark', 'bids_per_auction', 'data')}/*.parquet')`,
      '--dir',
      DIR,
      '--json',
    );
    expect(jsonRows(all.stdout)).toEqual([{ n: live + 1 }]);
  });

  it('prints a table with the row count on a terminal, and caps long results', async () => {
    const few = await floe(
      'query',
      `select auction, window_end, bids from ${ROWS} order by window_end, auction limit 3`,
      '--dir',
      DIR,
    );
    expect(few.code, few.stderr).toBe(0);
    const lines = few.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ {2}auction +window_end +bids$/);
    expect(lines.slice(2, 5).every((line) => / \d{4}-\d\d-\d\dT.*Z +\d+$/.test(line))).toBe(true);
    expect(lines.at(-1)).toBe('(3 rows)');

    const many = await floe('query', 'select * from range(120)', '--dir', DIR);
    expect(many.code, many.stderr).toBe(0);
    expect(many.stdout).toContain('  … 70 more rows (add LIMIT, or --json for all)\n(120 rows)\n');
  });

  it('uses the only run directory under .floe when --dir is omitted; several or none are one-line errors', async () => {
    const found = await floeIn(scratch, 'query', `select count(*) as n from ${ROWS}`, '--json');
    expect(found.code, found.stderr).toBe(0);
    expect(jsonRows(found.stdout)).toEqual([{ n: (await readTable(DIR, ROWS)).rows.length }]);

    const empty = join(scratch, 'elsewhere');
    mkdirSync(empty, { recursive: true });
    expect(expectOneLineError(await floeIn(empty, 'query', 'select 1'))).toContain(
      'run npm start or floe run first',
    );

    const several = join(scratch, 'several');
    for (const dir of ['demo', join('run', 'a')])
      mkdirSync(join(several, '.floe', dir, 'catalog'), { recursive: true });
    expect(expectOneLineError(await floeIn(several, 'query', 'select 1'))).toBe(
      `floe: Several run directories (${join('.floe', 'demo')}, ${join('.floe', 'run', 'a')}): pass --dir DIR to pick one.`,
    );

    // floe invoke's directory (.floe/<job>) counts too, rather than a floe run one being taken alone.
    const invoked = join(scratch, 'invoked');
    for (const dir of ['my-job', join('run', 'a')])
      mkdirSync(join(invoked, '.floe', dir, 'catalog'), { recursive: true });
    expect(expectOneLineError(await floeIn(invoked, 'query', 'select 1'))).toBe(
      `floe: Several run directories (${join('.floe', 'my-job')}, ${join('.floe', 'run', 'a')}): pass --dir DIR to pick one.`,
    );
  });

  it('reports a SQL error, an unknown table and a missing directory in one line, exit 2', async () => {
    expect(expectOneLineError(await floe('query', 'selec 1', '--dir', DIR))).toBe(
      'floe: Parser Error: syntax error at or near "selec"',
    );
    expect(expectOneLineError(await floe('query', 'select * from nexmark.nope', '--dir', DIR))).toBe(
      `floe: Catalog Error: Table with name nope does not exist! Tables: ${ROWS}.`,
    );
    const missing = join(scratch, 'nope');
    expect(expectOneLineError(await floe('query', 'select 1', '--dir', missing))).toBe(
      `floe: No run directory at ${missing}.`,
    );
    expect(expectOneLineError(await floe('query', '--dir', DIR))).toContain('query takes one SQL statement');
  });
});

describe('floe query on tables without data', () => {
  const dir = join(scratch, 'empty');
  const sensors = table('lab.sensors', {
    id: 'long',
    at: 'timestamptz',
    label: { type: 'string', nullable: true },
  });

  beforeAll(async () => {
    const { catalog, warehouse } = runDirectory(dir);
    // lab.sensors: created, never committed (no snapshot).
    const prefix = tableKeyPrefix(sensors.name);
    const key = `${prefix}/metadata/${metadataFileName(1)}`;
    await warehouse.put(
      key,
      serializeTableMetadata(
        newTableMetadata({
          location: warehouse.uri(prefix),
          schema: icebergSchema(sensors.columns),
          timestampMs: 0,
        }),
      ),
    );
    expect(await catalog.compareAndSwap(sensors.name, undefined, warehouse.uri(key))).toBe(true);
    // nexmark.bids_per_auction: one snapshot that adds no file.
    await appendFiles(catalog, warehouse, bidsPerAuction.name, bidsPerAuction, [], { snapshotId: 7n });
  });

  it('keeps the columns and their types, with zero rows', async () => {
    const { code, stdout, stderr } = await floe(
      'query',
      "select table_schema || '.' || table_name as t, column_name, data_type from information_schema.columns order by t, ordinal_position",
      '--dir',
      dir,
      '--json',
    );
    expect(code, stderr).toBe(0);
    expect(jsonRows(stdout)).toEqual([
      { t: 'lab.sensors', column_name: 'id', data_type: 'BIGINT' },
      { t: 'lab.sensors', column_name: 'at', data_type: 'TIMESTAMP WITH TIME ZONE' },
      { t: 'lab.sensors', column_name: 'label', data_type: 'VARCHAR' },
      { t: ROWS, column_name: 'auction', data_type: 'BIGINT' },
      { t: ROWS, column_name: 'window_start', data_type: 'TIMESTAMP WITH TIME ZONE' },
      { t: ROWS, column_name: 'window_end', data_type: 'TIMESTAMP WITH TIME ZONE' },
      { t: ROWS, column_name: 'bids', data_type: 'BIGINT' },
    ]);

    for (const name of [sensors.name, ROWS]) {
      const json = await floe('query', `select * from ${name}`, '--dir', dir, '--json');
      expect(json.code, json.stderr).toBe(0);
      expect(json.stdout).toBe('');
    }
    const human = await floe('query', `select * from ${sensors.name}`, '--dir', dir);
    expect(human.stdout).toBe('  id  at  label\n  --  --  -----\n(0 rows)\n');
  });
});
