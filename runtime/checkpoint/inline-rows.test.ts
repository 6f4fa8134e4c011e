/**
 * A commit's few rows ride in its manifest, and the publish round writes every epoch's it
 * publishes as one file per group and table (inline-rows.ts, stage.ts, publish.ts): the column
 * encoding, the files a run leaves, rounds that fail, race or crash midway, cleanup, and the
 * manifests an earlier Floe can still read.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { localCheckpointStores } from '../../adapters/local/run-directory.ts';
import {
  processorFor,
  runToEnd,
  tableNamesOf,
  tempRunDir,
  workload,
} from '../../test/support/checkpoint-runs.ts';
import { faultyStores, SimulatedCrash } from '../../test/support/faulty-stores.ts';
import { readTable } from '../../test/support/iceberg-tables.ts';
import { expectReference } from '../../test/support/protocol-scenarios.ts';
import { writePreparedDataFile } from '../iceberg/data-file.ts';
import { icebergSchema, parquetColumns } from '../iceberg/schema.ts';
import type { ColumnVector } from '../parquet/column-vectors.ts';
import { toColumnVectors } from '../parquet/column-vectors.ts';
import type { Columns, Table } from '../sink/table.ts';
import type { CheckpointStores } from '../stores/checkpoint-stores.ts';
import { decodeInlineRows, encodeInlineRows } from './inline-rows.ts';
import { decodeManifest, encodeManifest } from './manifest.ts';

const NAME = 'max-price';

const everyType = {
  name: 'floe_test.every_type',
  columns: {
    b: 'boolean',
    i: 'int',
    l: 'long',
    f: 'float',
    d: 'double',
    s: 'string',
    bin: 'binary',
    t: 'timestamptz',
    maybe: { type: 'long', nullable: true },
  },
} as unknown as Table<Columns>;

function vectorsOf(rows: readonly Record<string, unknown>[]): ColumnVector[] {
  return toColumnVectors(everyType.name, parquetColumns(icebergSchema(everyType.columns)), rows);
}

/** Every file in a table's data folder of a run directory. */
async function dataFolder(dir: string, table: string): Promise<string[]> {
  return (await readdir(join(dir, 'warehouse', ...table.split('.'), 'data'))).sort();
}

/** The files a table's snapshots name, by file name, sorted; none before a round made the table. */
async function tableFiles(dir: string, table: string): Promise<string[]> {
  const contents = await readTable(dir, table).catch(() => ({ files: [] as string[] }));
  return contents.files.map((key) => key.split('/').pop()!).sort();
}

/** A run of the example to its end on a run directory, its tables checked against the reference. */
async function runChecked(options: Parameters<typeof processorFor>[3]) {
  const w = workload();
  const dir = tempRunDir();
  const processor = processorFor(NAME, localCheckpointStores(dir), w, options);
  await runToEnd(processor, w.events);
  await expectReference(NAME, dir, w.bids);
  return { dir, processor, bids: w.bids };
}

/** The manifests a run left, decoded. */
async function manifestsOf(stores: CheckpointStores) {
  const keys = (await stores.checkpoints.list(`${NAME}/`)).filter((k) => k.includes('/manifests/'));
  return Promise.all(keys.map(async (k) => decodeManifest((await stores.checkpoints.get(k))!, k)));
}

describe('rows in the manifest: the encoding', () => {
  it('gives back every value a column stores, nulls and the values JSON has no number for included', () => {
    const rows = [
      {
        b: true,
        i: -2147483648,
        l: 9007199254740991,
        f: Number.NaN,
        d: -0,
        s: 'naïve "quoted" \\ text',
        bin: new Uint8Array([0, 255, 10]),
        t: -1.5,
        maybe: null,
      },
      {
        b: false,
        i: 7,
        l: -9007199254740991,
        f: Number.POSITIVE_INFINITY,
        d: Number.NEGATIVE_INFINITY,
        s: '',
        bin: new Uint8Array([]),
        t: 1_700_000_000_123,
        maybe: 42,
      },
    ];
    const vectors = vectorsOf(rows);
    const stored = JSON.parse(JSON.stringify(encodeInlineRows(vectors)));
    const second = JSON.parse(JSON.stringify(encodeInlineRows(vectorsOf([rows[1]!]))));
    const decoded = decodeInlineRows(everyType, [stored, second]).vectors;

    const expected = vectorsOf([...rows, rows[1]!]);
    for (const [c, vector] of decoded.entries()) {
      expect(vector.column).toEqual(expected[c]!.column);
      expect(vector.nullCount).toBe(expected[c]!.nullCount);
      // Object.is: NaN equals NaN, -0 differs from 0.
      const got = Array.from(vector.values);
      const want = Array.from(expected[c]!.values);
      expect(got.length).toBe(want.length);
      for (const [r, value] of got.entries())
        expect(value, `column ${vector.column.name}, row ${r}`).toEqual(want[r]);
    }
    expect(Object.is(Array.from(decoded[4]!.values)[0], -0)).toBe(true);
  });

  it('writes a -0 in an int column as the 0 Parquet stores, where a double keeps its sign', async () => {
    const table = {
      name: 'floe_test.zeros',
      columns: { i: { type: 'int', nullable: true }, d: 'double' },
    } as unknown as Table<Columns>;
    const vectors = toColumnVectors(table.name, parquetColumns(icebergSchema(table.columns)), [
      { i: Math.round(-0.3), d: -0 },
    ]);
    const stored = JSON.parse(JSON.stringify(encodeInlineRows(vectors)));
    const decoded = decodeInlineRows(table, [stored]);
    expect(Object.is(Array.from(decoded.vectors[0]!.values)[0], 0)).toBe(true);
    expect(Object.is(Array.from(decoded.vectors[1]!.values)[0], -0)).toBe(true);
    // And the round's file of them is written.
    const dir = tempRunDir();
    await writePreparedDataFile(
      localCheckpointStores(dir).warehouse,
      { table, ...decoded },
      'zeros/data/z.parquet',
    );
  });

  it('refuses rows whose columns are not the table’s, naming the table', () => {
    const stored = encodeInlineRows(
      vectorsOf([{ b: true, i: 1, l: 1, f: 1, d: 1, s: '', bin: new Uint8Array(), t: 0, maybe: null }]),
    );
    const narrower = { name: 'floe_test.narrow', columns: { b: 'boolean' } } as unknown as Table<Columns>;
    expect(() => decodeInlineRows(narrower, [stored!])).toThrow(/floe_test\.narrow.*9 columns.*1 columns/);
  });

  it('gives up on rows whose JSON would pass the limit, and counts them as JSON does (escapes aside)', () => {
    const rows = Array.from({ length: 50 }, (_, i) => ({
      b: i % 2 === 0,
      i,
      l: i * 1_000_003,
      f: i / 3,
      d: -i / 7,
      s: `row ${i}`,
      bin: new Uint8Array([i]),
      t: 1_700_000_000_000 + i,
      maybe: i % 3 === 0 ? null : i,
    }));
    const chars = JSON.stringify(encodeInlineRows(vectorsOf(rows))).length;
    expect(encodeInlineRows(vectorsOf(rows), chars)).toBeDefined();
    expect(encodeInlineRows(vectorsOf(rows), chars - 1)).toBeUndefined();
  });

  it('is refused in a manifest of format 1, which an earlier Floe would read without them', () => {
    const manifest = {
      format: 1,
      job: NAME,
      group: 'job',
      lineage: 'l',
      epoch: 1,
      attempt: 'a',
      partitions: {},
      publishes: [
        { table: 't', output: 'rows', snapshotId: '1', files: [], rows: { columns: [] }, records: 0 },
      ],
    };
    expect(() => decodeManifest(encodeManifest(manifest as never), 'k')).toThrow(/corrupt/);
  });
});

describe('rows in the manifest: a run', () => {
  it('writes no data file at a commit, and one file per table and publish round, with every row once', async () => {
    const w = workload();
    const dir = tempRunDir();
    const faulty = faultyStores(localCheckpointStores(dir));
    // The clock stands still: a round after the first commit, then the drain's.
    const processor = processorFor(NAME, faulty.stores, w);
    let roundsWithRows = 0;
    for (const event of w.events) {
      const before = faulty.log.length;
      const outcome = await processor.process(event);
      const puts = faulty.log.slice(before).filter((c) => c.store === 'warehouse' && c.op === 'put');
      if (outcome.round?.ran !== true) expect(puts, 'a commit without a round').toEqual([]);
      if ((outcome.round?.snapshots.length ?? 0) > 0) roundsWithRows++;
    }
    const drained = await processor.drain();
    if (drained.round!.snapshots.length > 0) roundsWithRows++;

    await expectReference(NAME, dir, w.bids);
    const { rows } = tableNamesOf(NAME);
    const table = await readTable(dir, rows);
    const commits = (await processor.committed()).groups[0]!.epoch;
    expect(commits).toBeGreaterThan(5);
    expect(table.files).toHaveLength(roundsWithRows);
    expect(roundsWithRows).toBeLessThanOrEqual(2);
    expect((await dataFolder(dir, rows)).every((f) => f.startsWith('round-'))).toBe(true);
    // The manifests that hold rows say so in their format, so an earlier Floe refuses them.
    const manifests = await manifestsOf(localCheckpointStores(dir));
    expect(
      manifests.filter((m) => m.publishes.some((p) => p.rows !== undefined)).every((m) => m.format === 2),
    ).toBe(true);
  });

  it('writes rows over maxInlineRowsChars as a commit’s own file, beside the round’s file of the others', async () => {
    // Long enough for a commit's one row (about 70 characters), too short for two.
    const { dir } = await runChecked({ maxInlineRowsChars: 90 });
    const manifests = await manifestsOf(localCheckpointStores(dir));
    const publishes = manifests.flatMap((m) => m.publishes);
    expect(publishes.filter((p) => p.rows !== undefined).map((p) => p.records)).toContain(1);
    expect(publishes.filter((p) => p.files.length > 0).map((p) => p.records)).toContain(2);
  });

  it('with maxInlineRowsChars 0 writes a file per commit and only manifests an earlier Floe reads (format 1)', async () => {
    const { dir } = await runChecked({ maxInlineRowsChars: 0 });
    const manifests = await manifestsOf(localCheckpointStores(dir));
    expect(manifests.length).toBeGreaterThan(0);
    expect(manifests.every((m) => m.format === 1 && m.publishes.every((p) => p.rows === undefined))).toBe(
      true,
    );
    const { rows } = tableNamesOf(NAME);
    expect((await dataFolder(dir, rows)).some((f) => f.startsWith('round-'))).toBe(false);
  });

  it('a round whose swap fails after its file landed tries again with the same file: one file, every row once', async () => {
    const w = workload();
    const dir = tempRunDir();
    let failed = 0;
    const faulty = faultyStores(localCheckpointStores(dir), {
      beforeCall: (call) => {
        // The first swap of the drain's round: its round file is written by then.
        if (call.store === 'catalog' && call.op === 'swap' && draining && failed === 0) {
          failed++;
          throw new Error('Glue unavailable');
        }
      },
    });
    let draining = false;
    const processor = processorFor(NAME, faulty.stores, w);
    for (const event of w.events) await processor.process(event);
    draining = true;
    await processor.drain();
    expect(failed).toBe(1);

    await expectReference(NAME, dir, w.bids);
    const { rows } = tableNamesOf(NAME);
    const inTable = await tableFiles(dir, rows);
    expect(await dataFolder(dir, rows)).toEqual(inTable);
  });

  it('a process killed between its round’s file and its swap: the restart publishes every row once, over the same file', async () => {
    const w = workload();
    const dir = tempRunDir();
    const { rows } = tableNamesOf(NAME);
    let roundFileWritten = false;
    const dying = faultyStores(localCheckpointStores(dir), {
      beforeCall: (call) => {
        if (call.store === 'warehouse' && call.op === 'put' && call.key.includes('/data/round-'))
          roundFileWritten = true;
        else if (call.store === 'catalog' && call.op === 'swap' && roundFileWritten && draining)
          throw new SimulatedCrash('killed');
      },
    });
    let draining = false;
    const first = processorFor(NAME, dying.stores, w, { maxAttempts: 1 });
    for (const event of w.events) await first.process(event);
    draining = true;
    await expect(first.drain()).rejects.toThrow();
    const left = await dataFolder(dir, rows);

    const restarted = processorFor(NAME, localCheckpointStores(dir), w);
    await runToEnd(restarted, w.events);
    await expectReference(NAME, dir, w.bids);
    const inTable = await tableFiles(dir, rows);
    // The killed round's file is the one the restart's round published: nothing is left over.
    expect(inTable.filter((f) => !left.includes(f))).toEqual([]);
    expect(await dataFolder(dir, rows)).toEqual(inTable);
  });

  it('a round that failed after its file, then more commits: its file, never named, goes at a sweep of every data file', async () => {
    const w = workload();
    const dir = tempRunDir();
    const { rows } = tableNamesOf(NAME);
    // While failing, every swap after the round's file is written fails.
    let failing = false;
    let fileWritten = false;
    const faulty = faultyStores(localCheckpointStores(dir), {
      beforeCall: (call) => {
        if (failing && call.store === 'warehouse' && call.key.includes('/data/round-')) fileWritten = true;
        if (failing && fileWritten && call.store === 'catalog' && call.op === 'swap')
          throw new Error('Glue unavailable');
      },
    });
    const processor = processorFor(NAME, faulty.stores, w, { maxAttempts: 1 });
    const half = Math.floor(w.events.length / 2);
    for (const event of w.events.slice(0, half)) await processor.process(event);
    failing = true;
    await expect(processor.publish()).rejects.toThrow();
    failing = false;
    const inTable = () => tableFiles(dir, rows);
    const tableThen = await inTable();
    const orphan = (await dataFolder(dir, rows)).filter((f) => !tableThen.includes(f));
    expect(orphan).toHaveLength(1);

    // More commits with rows: the next round publishes the failed one's epochs and theirs, in a
    // file of another name.
    for (const event of w.events.slice(half)) await processor.process(event);
    await processor.drain();
    await expectReference(NAME, dir, w.bids);
    expect(await inTable()).not.toContain(orphan[0]);
    expect(await dataFolder(dir, rows)).toContain(orphan[0]);

    // A routine cleanup does not read the table for it; a sweep of every data file does.
    await processor.cleanup({ dataFiles: 'recent' });
    expect(await dataFolder(dir, rows)).toContain(orphan[0]);
    await processor.cleanup({ dataFiles: 'all' });
    expect(await dataFolder(dir, rows)).toEqual(await inTable());
    await expectReference(NAME, dir, w.bids);
  });

  it('cleanup, even a sweep of every data file, keeps the rounds’ files', async () => {
    const { dir, processor, bids } = await runChecked({ keepCheckpoints: 1 });
    await processor.cleanup({ dataFiles: 'all' });
    await expectReference(NAME, dir, bids);
    const { rows } = tableNamesOf(NAME);
    const inTable = await tableFiles(dir, rows);
    expect(inTable.length).toBeGreaterThan(0);
    expect(await dataFolder(dir, rows)).toEqual(inTable);
  });
});
