/**
 * Writes Iceberg tables with Floe's writer and reads them back with independent readers:
 * pyiceberg (StaticTable.from_metadata → scan().to_arrow()), DuckDB (read_parquet over the files
 * the manifests list) and pyarrow (the Parquet footers). The Python environment is set up by
 * scripts/setup-pyiceberg.sh; if that fails, every test here fails: a skipped reader would let a
 * broken table pass.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCatalog } from '../../adapters/local/local-catalog.ts';
import { LocalObjectStore } from '../../adapters/local/local-object-store.ts';
import {
  appendFiles,
  type DataFile,
  dataFileKey,
  loadTable,
  writeDataFile,
} from '../../runtime/iceberg/index.ts';
import { icebergSchema } from '../../runtime/iceberg/schema.ts';
import { type RowOf, table } from '../../runtime/sink/table.ts';
import { removeScratch, track } from '../support/cleanup.ts';
import { readTable as readWithFloeTestReader } from '../support/iceberg-tables.ts';
import { PYTHON, ROOT, setUpPyiceberg } from './python-readers.ts';

const READER = join(ROOT, 'test', 'iceberg', 'read_table.py');

const everything = table('floe_test.everything', {
  id: 'long',
  flag: 'boolean',
  small: 'int',
  ratio: 'float',
  score: 'double',
  label: 'string',
  payload: 'binary',
  at: 'timestamptz',
  maybe_long: { type: 'long', nullable: true },
  maybe_at: { type: 'timestamptz', nullable: true },
  maybe_label: { type: 'string', nullable: true },
});
type Row = RowOf<typeof everything.columns>;

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const YEAR_1900_MS = -2_208_988_800_000;

function rowsFor(batch: number): Row[] {
  const base = batch * 100;
  return [
    {
      id: base,
      flag: true,
      small: -2_147_483_648,
      ratio: 0.1,
      score: -0,
      label: '',
      payload: new Uint8Array(),
      at: -1, // one millisecond before the epoch
      maybe_long: null,
      maybe_at: null,
      maybe_label: null,
    },
    {
      id: base + 1,
      flag: false,
      small: 2_147_483_647,
      ratio: -3.5,
      score: 1e300,
      label: 'naïve café 🚀',
      payload: Uint8Array.of(0, 255, 16),
      at: YEAR_1900_MS + batch,
      maybe_long: MAX_SAFE,
      maybe_at: -1_500,
      maybe_label: 'x'.repeat(40),
    },
    {
      id: base + 2,
      flag: true,
      small: 0,
      ratio: 1,
      score: 2.5,
      label: 'z',
      payload: Uint8Array.of(1),
      at: 1_700_000_000_123 + batch,
      maybe_long: -MAX_SAFE,
      maybe_at: 0,
      maybe_label: null,
    },
  ];
}

/** A row as the readers print it: timestamps in µs, binaries as hex, floats rounded to 32 bits. */
function expected(row: Row): Record<string, unknown> {
  return {
    ...row,
    ratio: Math.fround(row.ratio),
    payload: Buffer.from(row.payload).toString('hex'),
    at: row.at * 1000,
    maybe_at: row.maybe_at === null ? null : row.maybe_at * 1000,
  };
}

const byId = (a: Record<string, unknown>, b: Record<string, unknown>) => Number(a.id) - Number(b.id);

interface ReaderOutput {
  pyiceberg: {
    format_version: number;
    current_snapshot_id: string | null;
    snapshots: {
      snapshot_id: string;
      parent_snapshot_id: string | null;
      sequence_number: number;
      summary: Record<string, string>;
    }[];
    schema: { id: number; name: string; type: string; required: boolean }[];
    rows: Record<string, unknown>[];
    files: {
      file_path: string;
      file_format: string;
      record_count: number;
      file_size_in_bytes: number;
      column_sizes: Record<string, number>;
      value_counts: Record<string, number>;
      null_value_counts: Record<string, number>;
      nan_value_counts: Record<string, number>;
      lower_bounds: Record<string, string>;
      upper_bounds: Record<string, string>;
      split_offsets: number[];
    }[];
  };
  duckdb: { rows: Record<string, unknown>[] };
  parquet: {
    path: string;
    num_rows: number;
    fields: {
      name: string;
      field_id: number;
      physical_type: string;
      logical_type: string;
      converted_type: string;
      required: boolean;
      statistics: ({ has_min_max: boolean; min: unknown; max: unknown; null_count: number } | null)[];
    }[];
  }[];
  filtered?: { rows: Record<string, unknown>[]; files: string[] };
  manifests: {
    path: string;
    content: number;
    added_snapshot_id: string;
    sequence_number: number;
    min_sequence_number: number;
    added_files_count: number;
    existing_files_count: number;
    deleted_files_count: number;
    added_rows_count: number;
    existing_rows_count: number;
    entries: {
      status: number;
      snapshot_id: string;
      sequence_number: number;
      file_sequence_number: number;
      file_path: string;
    }[];
  }[];
}

function readTable(metadataLocation: string, rowFilter?: string): ReaderOutput {
  const args = [READER, metadataLocation, ...(rowFilter === undefined ? [] : [rowFilter])];
  const result = spawnSync(PYTHON, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) {
    throw new Error(
      `read_table.py failed for ${metadataLocation} (exit ${result.status}):\n${result.stderr}`,
    );
  }
  return JSON.parse(result.stdout) as ReaderOutput;
}

let dir: string;
let store: LocalObjectStore;
let catalog: LocalCatalog;

beforeAll(async () => {
  setUpPyiceberg();
  dir = await mkdtemp(join(tmpdir(), 'floe-pyiceberg-'));
  store = new LocalObjectStore(join(dir, 'warehouse'));
  catalog = new LocalCatalog(join(dir, 'catalog'));
}, 600_000);

afterAll(async () => {
  await removeScratch(dir);
});

describe('a table written by Floe, read by pyiceberg and DuckDB', () => {
  const snapshotIds = [2n ** 62n + 11n, 42n, 2n ** 63n - 1n];
  const written: Row[] = [];
  const files: DataFile[] = [];
  let reader: ReaderOutput;

  beforeAll(async () => {
    for (const [batch, snapshotId] of snapshotIds.entries()) {
      const rows = rowsFor(batch);
      const file = await writeDataFile(
        store,
        everything,
        rows,
        dataFileKey(everything.name, `batch-${batch}.parquet`),
      );
      await appendFiles(catalog, store, everything.name, everything, [file], {
        snapshotId,
        summary: { 'floe.batch': String(batch) },
      });
      written.push(...rows);
      files.push(file);
    }
    reader = readTable((await catalog.currentMetadataLocation(everything.name))!);
  });

  it('reads every row of every append with pyiceberg, including negative timestamps, nulls and 53-bit longs', () => {
    expect(reader.pyiceberg.rows.sort(byId)).toEqual(written.map(expected));
  });

  it('reads the same rows with DuckDB from the files the manifests list', () => {
    expect(reader.duckdb.rows.sort(byId)).toEqual(written.map(expected));
  });

  it('has one snapshot per append, with the caller-chosen ids, linked by parent, with the extra summary', () => {
    const { snapshots, current_snapshot_id, format_version } = reader.pyiceberg;

    expect(format_version).toBe(2);
    expect(current_snapshot_id).toBe(String(snapshotIds[2]));
    expect(snapshots.map((s) => [s.snapshot_id, s.parent_snapshot_id, s.sequence_number])).toEqual([
      [String(snapshotIds[0]), null, 1],
      [String(snapshotIds[1]), String(snapshotIds[0]), 2],
      [String(snapshotIds[2]), String(snapshotIds[1]), 3],
    ]);
    expect(snapshots[2]?.summary).toMatchObject({
      operation: 'append',
      'added-data-files': '1',
      'added-records': '3',
      'total-records': '9',
      'total-data-files': '3',
      'floe.batch': '2',
    });
  });

  it('exposes the declared schema with field ids 1..n in declaration order', () => {
    expect(reader.pyiceberg.schema).toEqual(
      icebergSchema(everything.columns).fields.map((f) => ({
        id: f.id,
        name: f.name,
        type: f.type,
        required: f.required,
      })),
    );
  });

  it('stores the metrics Floe computed in the manifests, as pyiceberg reads them', () => {
    const byPath = new Map(reader.pyiceberg.files.map((f) => [f.file_path, f]));
    for (const file of files) {
      const read = byPath.get(file.filePath)!;
      const perColumn = (pick: (c: DataFile['columns'][number]) => number | string | undefined) =>
        Object.fromEntries(
          file.columns.flatMap((c) => (pick(c) === undefined ? [] : [[String(c.fieldId), pick(c)]])),
        );

      expect(read).toEqual({
        file_path: file.filePath,
        file_format: 'FileFormat.PARQUET',
        record_count: file.recordCount,
        file_size_in_bytes: file.fileSizeInBytes,
        column_sizes: perColumn((c) => c.sizeInBytes),
        value_counts: perColumn((c) => c.valueCount),
        null_value_counts: perColumn((c) => c.nullCount),
        nan_value_counts: perColumn((c) => c.nanCount),
        lower_bounds: perColumn((c) => c.lowerBound),
        upper_bounds: perColumn((c) => c.upperBound),
        split_offsets: [...file.splitOffsets],
      });
    }
    // Bounds as Iceberg encodes them: timestamptz as little-endian int64 microseconds.
    const micros = (ms: number) =>
      Buffer.from(new BigInt64Array([BigInt(ms) * 1000n]).buffer).toString('hex');
    const first = byPath.get(files[0]!.filePath)!;
    expect(first.lower_bounds['8']).toBe(micros(YEAR_1900_MS));
    expect(first.upper_bounds['8']).toBe(micros(1_700_000_000_123));
    // The 40-character string is truncated to 16 characters, the upper bound incremented.
    expect(Buffer.from(files[0]!.columns[10]!.upperBound!, 'hex').toString()).toBe(`${'x'.repeat(15)}y`);
  });

  it('writes Parquet field ids equal to the Iceberg field ids, with Iceberg types and statistics', () => {
    const schema = icebergSchema(everything.columns);
    const types: Record<string, [string, string]> = {
      long: ['INT64', 'None'],
      boolean: ['BOOLEAN', 'None'],
      int: ['INT32', 'None'],
      float: ['FLOAT', 'None'],
      double: ['DOUBLE', 'None'],
      string: ['BYTE_ARRAY', 'String'],
      binary: ['BYTE_ARRAY', 'None'],
      timestamptz: [
        'INT64',
        'Timestamp(isAdjustedToUTC=true, timeUnit=microseconds, is_from_converted_type=false, force_set_converted_type=false)',
      ],
    };
    expect(reader.parquet).toHaveLength(3);
    for (const footer of reader.parquet) {
      expect(footer.num_rows).toBe(3);
      expect(
        footer.fields.map((f) => [f.name, f.field_id, f.physical_type, f.logical_type, f.required]),
      ).toEqual(schema.fields.map((f) => [f.name, f.id, ...types[f.type]!, f.required]));
      for (const field of footer.fields) {
        expect(field.statistics[0], field.name).toMatchObject({ has_min_max: true });
      }
      expect(footer.fields.find((f) => f.name === 'maybe_label')?.statistics[0]?.null_count).toBe(2);
      expect(footer.fields.find((f) => f.name === 'at')?.converted_type).toBe('TIMESTAMP_MICROS');
    }
  });

  it('created the table as metadata version 1 without a snapshot, which pyiceberg reads as empty', async () => {
    const { metadata } = (await loadTable(catalog, store, everything.name))!;
    const log = metadata.json['metadata-log'] as { 'metadata-file': string }[];
    expect(log[0]?.['metadata-file']).toMatch(/\/metadata\/00001-[0-9a-f-]{36}\.metadata\.json$/);

    const created = readTable(log[0]!['metadata-file']);

    expect(created.pyiceberg).toMatchObject({
      current_snapshot_id: null,
      snapshots: [],
      rows: [],
      files: [],
    });
    expect(created.pyiceberg.schema).toEqual(reader.pyiceberg.schema);
  });

  it('adds nothing when an append is repeated with a committed snapshot id', async () => {
    const retry = await writeDataFile(
      store,
      everything,
      rowsFor(0),
      dataFileKey(everything.name, 'batch-0.parquet'),
    );

    const result = await appendFiles(catalog, store, everything.name, everything, [retry], {
      snapshotId: snapshotIds[0]!,
    });

    expect(result.alreadyCommitted).toBe(true);
    const again = readTable((await catalog.currentMetadataLocation(everything.name))!);
    expect(again.pyiceberg.snapshots).toHaveLength(3);
    expect(again.pyiceberg.rows).toHaveLength(9);
  });
});

describe('concurrent appenders', () => {
  it('lands every snapshot of two processes racing on one table, in one linear history', async () => {
    const counters = table('floe_test.race', { writer: 'long', seq: 'long', at: 'timestamptz' });
    const perWriter = 6;
    const worker = (writer: number) => `
      const { LocalObjectStore } = await import(${JSON.stringify(new URL('../../adapters/local/local-object-store.ts', import.meta.url).href)});
      const { LocalCatalog } = await import(${JSON.stringify(new URL('../../adapters/local/local-catalog.ts', import.meta.url).href)});
      const iceberg = await import(${JSON.stringify(new URL('../../runtime/iceberg/index.ts', import.meta.url).href)});
      const { table } = await import(${JSON.stringify(new URL('../../runtime/sink/table.ts', import.meta.url).href)});
      const store = new LocalObjectStore(${JSON.stringify(join(dir, 'warehouse'))});
      const catalog = new LocalCatalog(${JSON.stringify(join(dir, 'catalog'))});
      const counters = table('floe_test.race', { writer: 'long', seq: 'long', at: 'timestamptz' });
      let attempts = 0;
      for (let seq = 0; seq < ${perWriter}; seq++) {
        const rows = [{ writer: ${writer}, seq, at: -seq * 1000 }];
        const file = await iceberg.writeDataFile(store, counters, rows, iceberg.dataFileKey(counters.name, 'w${writer}-' + seq + '.parquet'));
        const result = await iceberg.appendFiles(catalog, store, counters.name, counters, [file], {
          snapshotId: (1n << 60n) + BigInt(${writer} * 1000 + seq),
        });
        attempts += result.attempts;
      }
      process.stdout.write(String(attempts));
    `;
    const run = (writer: number) =>
      new Promise<number>((resolve, reject) => {
        const child = track(
          spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', worker(writer)], {
            stdio: ['ignore', 'pipe', 'inherit'],
          }),
        );
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
        });
        child.once('exit', (code) =>
          code === 0 ? resolve(Number(out)) : reject(new Error(`writer ${writer} exited ${code}`)),
        );
      });

    // Both start on a missing table: they also race to create it.
    const attempts = await Promise.all([run(1), run(2)]);

    const reader = readTable((await catalog.currentMetadataLocation(counters.name))!);
    const ids = (writer: number) =>
      Array.from({ length: perWriter }, (_, seq) => String((1n << 60n) + BigInt(writer * 1000 + seq)));
    expect(reader.pyiceberg.snapshots.map((s) => s.snapshot_id).sort()).toEqual(
      [...ids(1), ...ids(2)].sort(),
    );
    // Linear: walking parents from the head visits every snapshot.
    const parents = new Map(reader.pyiceberg.snapshots.map((s) => [s.snapshot_id, s.parent_snapshot_id]));
    const chain: string[] = [];
    for (let id: string | null | undefined = reader.pyiceberg.current_snapshot_id; id; id = parents.get(id))
      chain.push(id);
    expect(chain).toHaveLength(2 * perWriter);
    expect(reader.pyiceberg.snapshots.map((s) => s.sequence_number)).toEqual(
      Array.from({ length: 2 * perWriter }, (_, i) => i + 1),
    );
    const rows = reader.pyiceberg.rows.map((r) => `${r.writer}-${r.seq}`).sort();
    expect(rows).toEqual(
      [1, 2].flatMap((w) => Array.from({ length: perWriter }, (_, s) => `${w}-${s}`)).sort(),
    );
    expect(attempts.reduce((a, b) => a + b)).toBeGreaterThanOrEqual(2 * perWriter);
  });
});

describe('scan planning with the bounds Floe wrote', () => {
  it('prunes files by long and negative timestamp bounds', async () => {
    const events = table('floe_test.events', { id: 'long', at: 'timestamptz' });
    const ranges = [
      { name: 'before-epoch', ids: [100, 101], at: [-86_400_000, -1] },
      { name: 'after-epoch', ids: [200, 201], at: [0, 86_400_000] },
    ];
    for (const [i, range] of ranges.entries()) {
      const rows = range.ids.map((id, j) => ({ id, at: range.at[j]! }));
      const file = await writeDataFile(
        store,
        events,
        rows,
        dataFileKey(events.name, `${range.name}.parquet`),
      );
      await appendFiles(catalog, store, events.name, events, [file], { snapshotId: BigInt(i + 1) });
    }
    const location = (await catalog.currentMetadataLocation(events.name))!;

    const beforeEpoch = readTable(location, "at < '1970-01-01T00:00:00+00:00'").filtered!;
    const highIds = readTable(location, 'id >= 150').filtered!;

    expect(beforeEpoch.files.map((f) => f.split('/').pop())).toEqual(['before-epoch.parquet']);
    expect(beforeEpoch.rows.map((r) => r.id).sort()).toEqual([100, 101]);
    expect(highIds.files.map((f) => f.split('/').pop())).toEqual(['after-epoch.parquet']);
  });
});

describe('delta-encoded integer columns', () => {
  it('reads back through pyiceberg and DuckDB', async () => {
    const compact = table('floe_test.compact', {
      id: 'long',
      at: 'timestamptz',
      n: { type: 'int', nullable: true },
    });
    const rows = Array.from({ length: 500 }, (_, i) => ({
      id: i * 7,
      at: 1_700_000_000_000 + i * 10_000,
      n: i % 5 ? i : null,
    }));
    const file = await writeDataFile(store, compact, rows, dataFileKey(compact.name, 'delta.parquet'), {
      integerEncoding: 'delta',
    });
    await appendFiles(catalog, store, compact.name, compact, [file], { snapshotId: 1n });

    const reader = readTable((await loadTable(catalog, store, compact.name))!.metadataLocation);

    const want = rows.map((r) => ({ ...r, at: r.at * 1000 }));
    expect(reader.pyiceberg.rows.sort(byId)).toEqual(want);
    expect(reader.duckdb.rows.sort(byId)).toEqual(want);
  });
});

describe('a long stream: snapshot expiry and manifest merging', () => {
  const stream = table('floe_test.stream', {
    id: 'long',
    at: 'timestamptz',
    note: { type: 'string', nullable: true },
  });
  const COMMITS = 250;
  const mark = (epoch: number) => ({ key: 'floe.published.lineage-1.group-a', value: epoch });
  let reader: ReaderOutput;
  let appendMs: number;

  beforeAll(async () => {
    const started = performance.now();
    for (let epoch = 1; epoch <= COMMITS; epoch++) {
      const rows = [{ id: epoch, at: epoch * 1000, note: epoch % 3 === 0 ? null : `n${epoch}` }];
      const file = await writeDataFile(store, stream, rows, dataFileKey(stream.name, `e${epoch}.parquet`));
      await appendFiles(catalog, store, stream.name, stream, [file], {
        snapshotId: (1n << 61n) + BigInt(epoch),
        mark: mark(epoch),
        properties: { 'floe.snapshots.retain': '10', 'commit.manifest.min-count-to-merge': '8' },
      });
    }
    appendMs = performance.now() - started;
    reader = readTable((await catalog.currentMetadataLocation(stream.name))!, 'id >= 245');
  });

  const expectedRows = Array.from({ length: COMMITS }, (_, i) => ({
    id: i + 1,
    at: (i + 1) * 1_000_000,
    note: (i + 1) % 3 === 0 ? null : `n${i + 1}`,
  }));

  it('reads every row exactly once with pyiceberg and with DuckDB', () => {
    expect(appendMs).toBeLessThan(60_000);
    expect(reader.pyiceberg.rows.sort(byId)).toEqual(expectedRows);
    expect(reader.duckdb.rows.sort(byId)).toEqual(expectedRows);
    expect(reader.pyiceberg.files).toHaveLength(COMMITS);
  });

  it('reads every row exactly once, in commit order, with the project reader (test/support)', async () => {
    const contents = await readWithFloeTestReader(dir, stream.name);

    expect(contents.rows.map((r) => r.id)).toEqual(expectedRows.map((r) => r.id));
  });

  it('lists the 10 newest snapshots and a short manifest list', () => {
    expect(reader.pyiceberg.snapshots.map((s) => s.sequence_number)).toEqual(
      Array.from({ length: 10 }, (_, i) => COMMITS - 9 + i),
    );
    expect(reader.manifests.length).toBeLessThanOrEqual(8);
  });

  it('has merged manifests whose EXISTING entries pyiceberg reads with the ids and sequence numbers of their commits', () => {
    const merged = reader.manifests.filter((m) => m.existing_files_count > 0);
    expect(merged.length).toBeGreaterThan(0);
    let entries = 0;
    for (const manifest of reader.manifests) {
      for (const entry of manifest.entries) {
        const epoch = Number(/e(\d+)\.parquet$/.exec(entry.file_path)![1]);
        entries++;
        expect(entry).toMatchObject({
          snapshot_id: String((1n << 61n) + BigInt(epoch)),
          sequence_number: epoch,
          file_sequence_number: epoch,
        });
        expect(entry.status).toBe(manifest.existing_files_count > 0 ? 0 : 1);
      }
      expect(manifest.content).toBe(0);
      expect(manifest.min_sequence_number).toBe(Math.min(...manifest.entries.map((e) => e.sequence_number)));
      expect(manifest.existing_files_count + manifest.added_files_count).toBe(manifest.entries.length);
      expect(manifest.existing_rows_count + manifest.added_rows_count).toBe(manifest.entries.length);
    }
    expect(entries).toBe(COMMITS);
    const head = reader.pyiceberg.current_snapshot_id!;
    expect(merged.every((m) => BigInt(m.added_snapshot_id) <= BigInt(head))).toBe(true);
  });

  it('still prunes files with the metrics carried into merged manifests', () => {
    expect(reader.filtered!.files.map((f) => f.split('/').pop()).sort()).toEqual(
      [245, 246, 247, 248, 249, 250].map((e) => `e${e}.parquet`),
    );
    expect(reader.filtered!.rows.map((r) => r.id).sort()).toEqual([245, 246, 247, 248, 249, 250]);
  });

  it('recognises a retry of an expired commit by its mark and adds nothing', async () => {
    const file = await writeDataFile(
      store,
      stream,
      [{ id: 3, at: 3000, note: null }],
      dataFileKey(stream.name, 'e3.parquet'),
    );

    const retry = await appendFiles(catalog, store, stream.name, stream, [file], {
      snapshotId: (1n << 61n) + 3n,
      mark: mark(3),
    });

    expect(retry.alreadyCommitted).toBe(true);
    const again = readTable((await catalog.currentMetadataLocation(stream.name))!);
    expect(again.pyiceberg.rows).toHaveLength(COMMITS);
  });
});
