import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { toColumnVectors } from './column-vectors.ts';
import type { ParquetColumn } from './parquet-column.ts';
import { parquetSchema } from './parquet-schema.ts';
import { writeParquet } from './parquet-writer.ts';

const columns: ParquetColumn[] = [
  { name: 'auction', type: 'long', required: true, fieldId: 1 },
  { name: 'window_start', type: 'timestamptz', required: true, fieldId: 2 },
  { name: 'note', type: 'string', required: false, fieldId: 3 },
];
const rows = Array.from({ length: 2500 }, (_, i) => ({
  auction: i,
  window_start: i * 1000,
  note: i % 3 ? `n${i}` : null,
}));

describe('parquetSchema', () => {
  it('carries field ids, repetition and the Iceberg type annotations', () => {
    expect(parquetSchema(columns)).toEqual([
      { name: 'table', num_children: 3 },
      { name: 'auction', type: 'INT64', repetition_type: 'REQUIRED', field_id: 1 },
      {
        name: 'window_start',
        type: 'INT64',
        converted_type: 'TIMESTAMP_MICROS',
        logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' },
        repetition_type: 'REQUIRED',
        field_id: 2,
      },
      {
        name: 'note',
        type: 'BYTE_ARRAY',
        converted_type: 'UTF8',
        logical_type: { type: 'STRING' },
        repetition_type: 'OPTIONAL',
        field_id: 3,
      },
    ]);
  });
});

describe('writeParquet', () => {
  it('writes a Parquet file and reports column sizes by field id and row group offsets', async () => {
    const file = await writeParquet(toColumnVectors('ns.t', columns, rows), 'test', { rowGroupSize: 1000 });

    const magic = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    expect(magic(file.bytes.subarray(0, 4))).toBe('PAR1');
    expect(magic(file.bytes.subarray(file.bytes.length - 4))).toBe('PAR1');
    expect(file.rowCount).toBe(2500);
    expect([...file.columnSizes.keys()]).toEqual([1, 2, 3]);
    expect([...file.columnSizes.values()].every((size) => size > 0)).toBe(true);
    expect(file.splitOffsets).toHaveLength(3);
    expect(file.splitOffsets[0]).toBe(4);
    expect([...file.splitOffsets].sort((a, b) => a - b)).toEqual(file.splitOffsets);
  });

  it('writes smaller files with delta encoding for integer columns', async () => {
    const vectors = toColumnVectors('ns.t', columns, rows);

    const plain = await writeParquet(vectors, 'test');
    const delta = await writeParquet(vectors, 'test', { integerEncoding: 'delta' });

    expect(delta.bytes.length).toBeLessThan(plain.bytes.length);
  });

  it('rejects a row group size that is not a positive integer, naming the file', async () => {
    await expect(
      writeParquet(toColumnVectors('ns.t', columns, rows), 'table ns.t, file x', { rowGroupSize: 0 }),
    ).rejects.toThrow('rowGroupSize must be a positive integer, got 0 (table ns.t, file x).');
  });

  it('loads the encoder lazily: runtime code imports hyparquet-writer for types only', async () => {
    // A static import would load the library at cold start for every job, Parquet or not.
    const runtime = fileURLToPath(new URL('..', import.meta.url));
    const offenders: string[] = [];
    for (const dir of ['parquet', 'iceberg', 'stores']) {
      for (const name of await readdir(join(runtime, dir))) {
        if (!name.endsWith('.ts') || name.endsWith('.test.ts')) continue;
        const source = await readFile(join(runtime, dir, name), 'utf8');
        for (const match of source.matchAll(/^import\s+(type\s+)?[^;]*?from\s+'hyparquet-writer';/gms)) {
          if (match[1] === undefined) offenders.push(`${dir}/${name}`);
        }
      }
    }
    expect(offenders).toEqual([]);
  });
});
