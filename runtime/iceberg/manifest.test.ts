import { describe, expect, it } from 'vitest';
import { decodeAvroFile, encodeAvroFile } from './avro-container.ts';
import type { DataFile } from './data-file.ts';
import { decodeManifest, encodeManifest } from './manifest.ts';
import { decodeManifestList, encodeManifestList, type ManifestFile } from './manifest-list.ts';
import { icebergSchema } from './schema.ts';

const BIG_ID = 2n ** 63n - 7n; // far beyond 2^53

const file: DataFile = {
  content: 'data',
  filePath: 'file:///w/ns/t/data/a.parquet',
  fileFormat: 'parquet',
  recordCount: 3,
  fileSizeInBytes: 1234,
  columns: [
    {
      fieldId: 1,
      sizeInBytes: 40,
      valueCount: 3,
      nullCount: 0,
      lowerBound: '0100000000000000',
      upperBound: '0900000000000000',
    },
    { fieldId: 2, sizeInBytes: 30, valueCount: 3, nullCount: 3 },
    {
      fieldId: 3,
      sizeInBytes: 20,
      valueCount: 3,
      nullCount: 0,
      nanCount: 1,
      lowerBound: '0000803f',
      upperBound: '00000040',
    },
  ],
  splitOffsets: [4],
};
const schema = icebergSchema({ id: 'long', note: { type: 'string', nullable: true }, score: 'float' });

describe('manifest', () => {
  it('round-trips entries with 64-bit snapshot ids and inherited sequence numbers', () => {
    const manifest = decodeManifest(encodeManifest({ schema, snapshotId: BIG_ID, files: [file] }));

    expect(manifest.entries).toEqual([
      { status: 1, snapshotId: BIG_ID, sequenceNumber: null, fileSequenceNumber: null, dataFile: file },
    ]);
  });

  it('carries the key-value metadata a v2 manifest requires', () => {
    const { metadata } = decodeManifest(encodeManifest({ schema, snapshotId: 1n, files: [file] }));

    expect(metadata).toEqual({
      schema: JSON.stringify(schema),
      'schema-id': '0',
      'partition-spec': '[]',
      'partition-spec-id': '0',
      'format-version': '2',
      content: 'data',
    });
  });

  it('writes the spec field ids into the Avro schema', () => {
    const { schema: avroSchema } = decodeAvroFile(encodeManifest({ schema, snapshotId: 1n, files: [file] }));
    const ids = JSON.stringify(avroSchema).match(/"(field|element)-id":\d+/g) ?? [];

    for (const id of [
      0, 1, 2, 3, 4, 100, 101, 102, 103, 104, 108, 117, 118, 125, 126, 127, 128, 134, 137, 140,
    ]) {
      expect(ids).toContain(`"field-id":${id}`);
    }
    expect(ids).toContain('"element-id":133');
    expect(JSON.stringify(avroSchema)).toContain('"logicalType":"map"');
  });
});

describe('manifest list', () => {
  const manifest: ManifestFile = {
    manifestPath: 'file:///w/ns/t/metadata/m0.avro',
    manifestLength: 999n,
    partitionSpecId: 0,
    content: 0,
    sequenceNumber: 7n,
    minSequenceNumber: 7n,
    addedSnapshotId: BIG_ID,
    addedFilesCount: 1,
    existingFilesCount: 0,
    deletedFilesCount: 0,
    addedRowsCount: 3n,
    existingRowsCount: 0n,
    deletedRowsCount: 0n,
    partitions: [],
    keyMetadata: null,
  };

  it('round-trips manifests with 64-bit ids', () => {
    const bytes = encodeManifestList({
      snapshotId: BIG_ID,
      parentSnapshotId: 5n,
      sequenceNumber: 7,
      manifests: [manifest],
    });

    expect(decodeManifestList(bytes)).toEqual([manifest]);
    expect(decodeAvroFile(bytes).metadata).toEqual({
      'snapshot-id': BIG_ID.toString(),
      'parent-snapshot-id': '5',
      'sequence-number': '7',
      'format-version': '2',
    });
  });

  it('reads a v1 list (no content or sequence numbers, old count names) with the defaults the spec gives', () => {
    const v1 = encodeAvroFile(V1_MANIFEST_FILE, [v1Record(manifest, true)], {});

    expect(decodeManifestList(v1)).toEqual([{ ...manifest, sequenceNumber: 0n, minSequenceNumber: 0n }]);
  });

  it('names the missing field when a list lacks the counts a v2 list must carry', () => {
    const withoutCounts = encodeAvroFile(V1_MANIFEST_FILE, [v1Record(manifest, false)], {});

    expect(() => decodeManifestList(withoutCounts)).toThrow(/manifest 0 has no added_files_count/);
  });
});

const optionalLong = ['null', 'long'];
const optionalInt = ['null', 'int'];
/** The v1 manifest_file schema as Java wrote it: optional counts named added_data_files_count. */
const V1_MANIFEST_FILE = {
  type: 'record',
  name: 'manifest_file',
  fields: [
    { name: 'manifest_path', type: 'string', 'field-id': 500 },
    { name: 'manifest_length', type: 'long', 'field-id': 501 },
    { name: 'partition_spec_id', type: 'int', 'field-id': 502 },
    { name: 'added_snapshot_id', type: 'long', 'field-id': 503 },
    { name: 'added_data_files_count', type: optionalInt, default: null, 'field-id': 504 },
    { name: 'existing_data_files_count', type: optionalInt, default: null, 'field-id': 505 },
    { name: 'deleted_data_files_count', type: optionalInt, default: null, 'field-id': 506 },
    { name: 'added_rows_count', type: optionalLong, default: null, 'field-id': 512 },
    { name: 'existing_rows_count', type: optionalLong, default: null, 'field-id': 513 },
    { name: 'deleted_rows_count', type: optionalLong, default: null, 'field-id': 514 },
    {
      name: 'partitions',
      type: [
        'null',
        {
          type: 'array',
          items: { type: 'record', name: 'r508', fields: [{ name: 'contains_null', type: 'boolean' }] },
        },
      ],
      default: null,
    },
  ],
};

function v1Record(manifest: ManifestFile, withCounts: boolean) {
  const count = <T>(value: T) => (withCounts ? value : null);
  return {
    manifest_path: manifest.manifestPath,
    manifest_length: manifest.manifestLength,
    partition_spec_id: manifest.partitionSpecId,
    added_snapshot_id: manifest.addedSnapshotId,
    added_data_files_count: count(manifest.addedFilesCount),
    existing_data_files_count: count(manifest.existingFilesCount),
    deleted_data_files_count: count(manifest.deletedFilesCount),
    added_rows_count: count(manifest.addedRowsCount),
    existing_rows_count: count(manifest.existingRowsCount),
    deleted_rows_count: count(manifest.deletedRowsCount),
    partitions: [],
  };
}
