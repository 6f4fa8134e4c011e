import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { IcebergMetadataError } from './errors.ts';
import { parseJson, stringifyJson } from './json-bigint.ts';
import { icebergSchema } from './schema.ts';
import {
  findSnapshot,
  newTableMetadata,
  parseTableMetadata,
  serializeTableMetadata,
  withSnapshot,
} from './table-metadata.ts';

const schema = icebergSchema({
  auction: 'long',
  window_start: 'timestamptz',
  note: { type: 'string', nullable: true },
});
const fresh = () => newTableMetadata({ location: 'file:///w/ns/t', schema, timestampMs: 1_000 });
const parse = (json: unknown) =>
  parseTableMetadata(new TextEncoder().encode(stringifyJson(json)), 'test.metadata.json');

describe('newTableMetadata', () => {
  it('writes every field format v2 requires, for an unpartitioned, unsorted table', () => {
    const json = fresh();

    for (const field of [
      'format-version',
      'table-uuid',
      'location',
      'last-sequence-number',
      'last-updated-ms',
      'last-column-id',
      'schemas',
      'current-schema-id',
      'partition-specs',
      'default-spec-id',
      'last-partition-id',
      'sort-orders',
      'default-sort-order-id',
    ]) {
      expect(json, field).toHaveProperty([field]);
    }
    expect(json).toMatchObject({
      'format-version': 2,
      'last-column-id': 3,
      'partition-specs': [{ 'spec-id': 0, fields: [] }],
      'sort-orders': [{ 'order-id': 0, fields: [] }],
      snapshots: [],
    });
    expect(json['current-snapshot-id']).toBeUndefined();
  });

  it('maps columns to field ids 1..n in declaration order, required unless nullable', () => {
    expect(schema.fields).toEqual([
      { id: 1, name: 'auction', required: true, type: 'long' },
      { id: 2, name: 'window_start', required: true, type: 'timestamptz' },
      { id: 3, name: 'note', required: false, type: 'string' },
    ]);
  });
});

describe('withSnapshot', () => {
  const BIG = 2n ** 63n - 1n;

  it('adds the snapshot, moves main and current-snapshot-id, and extends both logs', () => {
    const first = parse(
      withSnapshot(parse(fresh()), {
        currentLocation: 'file:///m/1',
        snapshotId: 10n,
        manifestList: 'file:///l/10',
        summary: { operation: 'append' },
        timestampMs: 2_000,
      }),
    );
    const second = parse(
      withSnapshot(first, {
        currentLocation: 'file:///m/2',
        snapshotId: BIG,
        manifestList: 'file:///l/big',
        summary: { operation: 'append' },
        timestampMs: 3_000,
      }),
    );

    expect(second.currentSnapshotId).toBe(BIG);
    expect(second.lastSequenceNumber).toBe(2);
    expect(findSnapshot(second, BIG)).toEqual({
      snapshotId: BIG,
      parentSnapshotId: 10n,
      sequenceNumber: 2,
      timestampMs: 3_000,
      manifestList: 'file:///l/big',
      summary: { operation: 'append' },
    });
    expect(second.json.refs).toEqual({ main: { 'snapshot-id': BIG, type: 'branch' } });
    expect(second.json['snapshot-log']).toEqual([
      { 'timestamp-ms': 2_000, 'snapshot-id': 10 },
      { 'timestamp-ms': 3_000, 'snapshot-id': BIG },
    ]);
    expect(second.json['metadata-log']).toEqual([
      { 'timestamp-ms': 1_000, 'metadata-file': 'file:///m/1' },
      { 'timestamp-ms': 2_000, 'metadata-file': 'file:///m/2' },
    ]);
  });

  it('keeps fields it does not know, such as statistics from another engine', () => {
    const json = {
      ...fresh(),
      statistics: [{ 'snapshot-id': 1, 'statistics-path': 'x' }],
      'x-vendor': { a: 1 },
    };

    const next = withSnapshot(parse(json), {
      currentLocation: 'file:///m/1',
      snapshotId: 5n,
      manifestList: 'l',
      summary: { operation: 'append' },
      timestampMs: 2_000,
    });

    expect(next.statistics).toEqual(json.statistics);
    expect(next['x-vendor']).toEqual({ a: 1 });
  });

  it('keeps at most write.metadata.previous-versions-max entries in the metadata log', () => {
    let metadata = parse({ ...fresh(), properties: { 'write.metadata.previous-versions-max': '2' } });
    for (let i = 1; i <= 4; i++) {
      metadata = parse(
        withSnapshot(metadata, {
          currentLocation: `file:///m/${i}`,
          snapshotId: BigInt(i),
          manifestList: 'l',
          summary: { operation: 'append' },
          timestampMs: 1_000 + i,
        }),
      );
    }

    expect(metadata.json['metadata-log']).toEqual([
      { 'timestamp-ms': 1_002, 'metadata-file': 'file:///m/3' },
      { 'timestamp-ms': 1_003, 'metadata-file': 'file:///m/4' },
    ]);
  });
});

describe('withSnapshot: snapshot expiry', () => {
  type Metadata = ReturnType<typeof parse>;
  const append = (metadata: Metadata, id: number, properties?: Record<string, string>) =>
    parse(
      withSnapshot(metadata, {
        currentLocation: `file:///m/${id}`,
        snapshotId: BigInt(id),
        manifestList: `file:///l/${id}`,
        summary: { operation: 'append' },
        timestampMs: 1_000 + id,
        ...(properties === undefined ? {} : { properties }),
      }),
    );
  const withRetain = (retain: number) =>
    parse({ ...fresh(), properties: { 'floe.snapshots.retain': String(retain) } });

  it('keeps the new snapshot and the floe.snapshots.retain - 1 newest, and trims the snapshot log', () => {
    let metadata = withRetain(3);
    for (let id = 1; id <= 5; id++) metadata = append(metadata, id);

    expect(metadata.snapshots.map((s) => s.snapshotId)).toEqual([3n, 4n, 5n]);
    expect(metadata.json['snapshot-log']).toEqual([
      { 'timestamp-ms': 1_003, 'snapshot-id': 3 },
      { 'timestamp-ms': 1_004, 'snapshot-id': 4 },
      { 'timestamp-ms': 1_005, 'snapshot-id': 5 },
    ]);
    expect(metadata.json.refs).toEqual({ main: { 'snapshot-id': 5, type: 'branch' } });
    expect(metadata.snapshots[0]?.parentSnapshotId).toBe(2n); // a parent may have expired
  });

  it('keeps 100 snapshots by default', () => {
    let metadata = parse(fresh());
    for (let id = 1; id <= 105; id++) metadata = append(metadata, id);

    expect(metadata.snapshots).toHaveLength(100);
    expect(metadata.snapshots[0]?.snapshotId).toBe(6n);
  });

  it('never expires a snapshot that a tag or another branch names', () => {
    let metadata = withRetain(2);
    for (let id = 1; id <= 3; id++) metadata = append(metadata, id);
    metadata = parse({
      ...metadata.json,
      refs: {
        ...(metadata.json.refs as object),
        audit: { 'snapshot-id': 2, type: 'tag' },
        dev: { 'snapshot-id': 3, type: 'branch' },
      },
    });
    for (let id = 4; id <= 6; id++) metadata = append(metadata, id);

    expect(metadata.snapshots.map((s) => s.snapshotId)).toEqual([2n, 3n, 5n, 6n]);
    expect(metadata.json.refs).toMatchObject({
      main: { 'snapshot-id': 6 },
      audit: { 'snapshot-id': 2 },
      dev: { 'snapshot-id': 3 },
    });
  });

  it('drops every snapshot log entry before an expired snapshot, as the spec asks', () => {
    let metadata = withRetain(3);
    for (let id = 1; id <= 3; id++) metadata = append(metadata, id);
    // A rollback to 1 and back to 3 logged by another engine; 1 expires with the next append.
    metadata = parse({
      ...metadata.json,
      'snapshot-log': [
        ...(metadata.json['snapshot-log'] as object[]),
        { 'timestamp-ms': 1_010, 'snapshot-id': 1 },
        { 'timestamp-ms': 1_011, 'snapshot-id': 3 },
      ],
    });

    metadata = append(metadata, 4);

    expect(metadata.snapshots.map((s) => s.snapshotId)).toEqual([2n, 3n, 4n]);
    expect(metadata.json['snapshot-log']).toEqual([
      { 'timestamp-ms': 1_011, 'snapshot-id': 3 },
      { 'timestamp-ms': 1_004, 'snapshot-id': 4 },
    ]);
  });

  it('drops the statistics of expired snapshots and keeps the others', () => {
    let metadata = withRetain(2);
    for (let id = 1; id <= 2; id++) metadata = append(metadata, id);
    const statistics = [1, 2, 77].map((id) => ({ 'snapshot-id': id, 'statistics-path': `s${id}` }));
    metadata = parse({ ...metadata.json, statistics, 'partition-statistics': [statistics[0]] });

    const next = withSnapshot(metadata, {
      currentLocation: 'file:///m/3',
      snapshotId: 3n,
      manifestList: 'l',
      summary: { operation: 'append' },
      timestampMs: 2_000,
    });

    expect(next.statistics).toEqual([statistics[1], statistics[2]]);
    expect(next['partition-statistics']).toEqual([]);
  });

  it('sets the given table properties in the same document, keeping the others', () => {
    const metadata = append(parse({ ...fresh(), properties: { a: '1', k: 'old' } }), 1, { k: '42' });

    expect(metadata.properties).toEqual({ a: '1', k: '42' });
  });
});

describe('parseTableMetadata', () => {
  it('reads gzip-compressed metadata files', () => {
    const bytes = gzipSync(serializeTableMetadata(fresh()));

    expect(parseTableMetadata(bytes, 'x.gz.metadata.json').location).toBe('file:///w/ns/t');
  });

  it('reads -1 as "no current snapshot", as older Java writers store it', () => {
    expect(parse({ ...fresh(), 'current-snapshot-id': -1 }).currentSnapshotId).toBeUndefined();
  });

  it.each([
    [{ 'format-version': 1 }, /format-version 1.*upgrade the table to v2/],
    [{ 'format-version': 3 }, /format-version 3; Floe writes format v2 tables only/],
    [{ schemas: undefined }, /no valid "schemas"/],
    [{ 'current-schema-id': 7 }, /no schema with the current-schema-id 7/],
    [{ 'table-uuid': undefined }, /no valid "table-uuid"/],
    [{ snapshots: [{ 'snapshot-id': 1 }] }, /invalid snapshot at index 0: snapshot 1 has no manifest-list/],
  ])('rejects metadata with %j, naming the problem and the file', (change, message) => {
    const attempt = () => parse({ ...fresh(), ...change });

    expect(attempt).toThrow(IcebergMetadataError);
    expect(attempt).toThrow(message);
    expect(attempt).toThrow(/test\.metadata\.json/);
  });

  it('rejects a file that is not JSON', () => {
    expect(() => parseTableMetadata(new TextEncoder().encode('{oops'), 'bad.json')).toThrow(
      /bad\.json is not valid JSON/,
    );
  });

  it('round-trips through serialize and parse unchanged', () => {
    const json = fresh();

    expect(parseJson(new TextDecoder().decode(serializeTableMetadata(json)))).toEqual(json);
  });
});
