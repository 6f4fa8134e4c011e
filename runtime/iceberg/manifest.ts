/**
 * A manifest is an Avro file listing data files with their metrics (spec "Manifests"). Floe
 * writes format v2 data manifests for unpartitioned tables, one per appended snapshot, with
 * every entry ADDED, the snapshot id set, and the sequence numbers left null: readers inherit
 * them from the manifest list, so a manifest written once stays valid when a commit is retried
 * with a new sequence number.
 *
 * A merged manifest (see manifest-merge.ts) instead carries files of earlier snapshots as
 * EXISTING entries, whose snapshot id and both sequence numbers the spec requires explicitly.
 */

import { decodeAvroFile, encodeAvroFile } from './avro-container.ts';
import type { DataFile, DataFileColumn } from './data-file.ts';
import { fromHex, toHex } from './data-file.ts';
import { stringifyJson } from './json-bigint.ts';
import type { IcebergSchema } from './schema.ts';

/** Entry status: 0 existing, 1 added, 2 deleted. */
export type EntryStatus = 0 | 1 | 2;

export interface ManifestEntry {
  readonly status: EntryStatus;
  readonly snapshotId: bigint | null;
  readonly sequenceNumber: bigint | null;
  readonly fileSequenceNumber: bigint | null;
  readonly dataFile: DataFile;
}

export interface Manifest {
  /** The manifest's key-value metadata: schema, schema-id, partition-spec, partition-spec-id, format-version, content. */
  readonly metadata: Readonly<Record<string, string>>;
  readonly entries: readonly ManifestEntry[];
}

export interface ManifestInput {
  /** The table schema the files were written with. */
  readonly schema: IcebergSchema;
  /** The snapshot that adds the files. */
  readonly snapshotId: bigint;
  readonly files: readonly DataFile[];
}

/** Unpartitioned: spec 0 with no fields. */
const PARTITION_SPEC_ID = 0;

const optional = (type: unknown) => ['null', type];

function intKeyMap(
  fieldId: number,
  name: string,
  keyId: number,
  valueId: number,
  valueType: 'long' | 'bytes',
) {
  return {
    name,
    type: optional({
      type: 'array',
      logicalType: 'map',
      items: {
        type: 'record',
        name: `k${keyId}_v${valueId}`,
        fields: [
          { name: 'key', type: 'int', 'field-id': keyId },
          { name: 'value', type: valueType, 'field-id': valueId },
        ],
      },
    }),
    default: null,
    'field-id': fieldId,
  };
}

/** The v2 `manifest_entry` Avro schema, with the spec's field ids, for an unpartitioned table. */
export const MANIFEST_ENTRY_SCHEMA = {
  type: 'record',
  name: 'manifest_entry',
  fields: [
    { name: 'status', type: 'int', 'field-id': 0 },
    { name: 'snapshot_id', type: optional('long'), default: null, 'field-id': 1 },
    { name: 'sequence_number', type: optional('long'), default: null, 'field-id': 3 },
    { name: 'file_sequence_number', type: optional('long'), default: null, 'field-id': 4 },
    {
      name: 'data_file',
      'field-id': 2,
      type: {
        type: 'record',
        name: 'r2',
        fields: [
          { name: 'content', type: 'int', 'field-id': 134 },
          { name: 'file_path', type: 'string', 'field-id': 100 },
          { name: 'file_format', type: 'string', 'field-id': 101 },
          { name: 'partition', type: { type: 'record', name: 'r102', fields: [] }, 'field-id': 102 },
          { name: 'record_count', type: 'long', 'field-id': 103 },
          { name: 'file_size_in_bytes', type: 'long', 'field-id': 104 },
          intKeyMap(108, 'column_sizes', 117, 118, 'long'),
          intKeyMap(109, 'value_counts', 119, 120, 'long'),
          intKeyMap(110, 'null_value_counts', 121, 122, 'long'),
          intKeyMap(137, 'nan_value_counts', 138, 139, 'long'),
          intKeyMap(125, 'lower_bounds', 126, 127, 'bytes'),
          intKeyMap(128, 'upper_bounds', 129, 130, 'bytes'),
          { name: 'key_metadata', type: optional('bytes'), default: null, 'field-id': 131 },
          {
            name: 'split_offsets',
            type: optional({ type: 'array', items: 'long', 'element-id': 133 }),
            default: null,
            'field-id': 132,
          },
          {
            name: 'equality_ids',
            type: optional({ type: 'array', items: 'int', 'element-id': 136 }),
            default: null,
            'field-id': 135,
          },
          { name: 'sort_order_id', type: optional('int'), default: null, 'field-id': 140 },
        ],
      },
    },
  ],
} as const;

/** Encodes the manifest that adds `files` in snapshot `snapshotId`. */
export function encodeManifest(input: ManifestInput): Uint8Array {
  const metadata = manifestMetadata(input.schema);
  const entries = input.files.map((file) => ({
    status: 1,
    snapshot_id: input.snapshotId,
    sequence_number: null,
    file_sequence_number: null,
    data_file: {
      content: 0,
      file_path: file.filePath,
      file_format: 'PARQUET',
      partition: {},
      record_count: BigInt(file.recordCount),
      file_size_in_bytes: BigInt(file.fileSizeInBytes),
      column_sizes: countMap(file.columns, (column) => column.sizeInBytes),
      value_counts: countMap(file.columns, (column) => column.valueCount),
      null_value_counts: countMap(file.columns, (column) => column.nullCount),
      nan_value_counts: optionalMap(file.columns, (column) =>
        column.nanCount === undefined ? undefined : BigInt(column.nanCount),
      ),
      lower_bounds: optionalMap(file.columns, (column) => hexBuffer(column.lowerBound)),
      upper_bounds: optionalMap(file.columns, (column) => hexBuffer(column.upperBound)),
      key_metadata: null,
      split_offsets: file.splitOffsets.length > 0 ? file.splitOffsets.map((offset) => BigInt(offset)) : null,
      equality_ids: null,
      // 0 is the unsorted order: Floe writes rows in the order windows fire.
      sort_order_id: 0,
    },
  }));
  return encodeAvroFile(MANIFEST_ENTRY_SCHEMA, entries, metadata);
}

/** A manifest entry as stored, its `data_file` record exactly as the writer's schema reads it. */
export interface StoredManifestEntry {
  readonly status: EntryStatus;
  readonly snapshotId: bigint | null;
  readonly sequenceNumber: bigint | null;
  readonly fileSequenceNumber: bigint | null;
  readonly dataFile: Readonly<Record<string, unknown>>;
}

/** A file carried into a merged manifest as EXISTING, with its original ids (never inherited). */
export interface ExistingEntry {
  readonly snapshotId: bigint;
  readonly sequenceNumber: bigint;
  /** Null only when the source entry had none (files written before the field existed). */
  readonly fileSequenceNumber: bigint | null;
  /** The `data_file` record as read by {@link decodeStoredManifest}. */
  readonly dataFile: Readonly<Record<string, unknown>>;
}

export interface ExistingManifestInput {
  /** The table's current schema. */
  readonly schema: IcebergSchema;
  readonly entries: readonly ExistingEntry[];
}

/**
 * Decodes a manifest of any v1 or v2 writer without interpreting its data files, so that a
 * merge can carry every field (metrics as stored, absent ones absent) into a new manifest.
 */
export function decodeStoredManifest(bytes: Uint8Array): {
  readonly metadata: Readonly<Record<string, string>>;
  readonly entries: readonly StoredManifestEntry[];
} {
  const file = decodeAvroFile(bytes);
  const entries = file.records.map((record): StoredManifestEntry => {
    const entry = record as Record<string, unknown>;
    return {
      status: Number(entry.status) as EntryStatus,
      snapshotId: nullableLong(entry.snapshot_id),
      sequenceNumber: nullableLong(entry.sequence_number),
      fileSequenceNumber: nullableLong(entry.file_sequence_number),
      dataFile: entry.data_file as Record<string, unknown>,
    };
  });
  return { metadata: file.metadata, entries };
}

/** The `data_file` fields of {@link MANIFEST_ENTRY_SCHEMA}, in order. */
const DATA_FILE_FIELDS = MANIFEST_ENTRY_SCHEMA.fields[4].type.fields.map((field) => field.name);
/** Required `data_file` fields a source record must have (`content` defaults to 0 for v1). */
const REQUIRED_DATA_FILE_FIELDS = new Set(['file_path', 'file_format', 'record_count', 'file_size_in_bytes']);

/**
 * Encodes a data manifest of EXISTING entries (status 0) with explicit snapshot ids and
 * sequence numbers, for an unpartitioned table. Fields of the source records that a v2 data
 * file of an unpartitioned table does not have (v1's `block_size_in_bytes`, v3 row lineage…)
 * are dropped. Throws when a record lacks a required field.
 */
export function encodeExistingManifest(input: ExistingManifestInput): Uint8Array {
  const entries = input.entries.map((entry) => {
    const source = entry.dataFile;
    const dataFile: Record<string, unknown> = {};
    for (const name of DATA_FILE_FIELDS) {
      const value = source[name];
      if (name === 'partition') dataFile[name] = {};
      else if (name === 'content') dataFile[name] = value ?? 0;
      else if (value === undefined || value === null) {
        if (REQUIRED_DATA_FILE_FIELDS.has(name)) {
          throw new Error(`a data file entry has no ${name} (${String(source.file_path)})`);
        }
        dataFile[name] = null;
      } else dataFile[name] = value;
    }
    return {
      status: 0,
      snapshot_id: entry.snapshotId,
      sequence_number: entry.sequenceNumber,
      file_sequence_number: entry.fileSequenceNumber,
      data_file: dataFile,
    };
  });
  return encodeAvroFile(MANIFEST_ENTRY_SCHEMA, entries, manifestMetadata(input.schema));
}

function manifestMetadata(schema: IcebergSchema): Record<string, string> {
  return {
    schema: stringifyJson(schema),
    'schema-id': String(schema['schema-id']),
    'partition-spec': '[]',
    'partition-spec-id': String(PARTITION_SPEC_ID),
    'format-version': '2',
    content: 'data',
  };
}

function countMap(columns: readonly DataFileColumn[], value: (column: DataFileColumn) => number) {
  return columns.map((column) => ({ key: column.fieldId, value: BigInt(value(column)) }));
}

function optionalMap<V>(
  columns: readonly DataFileColumn[],
  value: (column: DataFileColumn) => V | undefined,
) {
  const entries: { key: number; value: V }[] = [];
  for (const column of columns) {
    const v = value(column);
    if (v !== undefined) entries.push({ key: column.fieldId, value: v });
  }
  return entries.length > 0 ? entries : null;
}

function hexBuffer(hex: string | undefined): Buffer | undefined {
  return hex === undefined ? undefined : Buffer.from(fromHex(hex));
}

/**
 * Decodes a manifest written by any v1 or v2 writer (fields are read by name from the file's own
 * schema). Missing optional fields read as absent. Throws on a file that is not a manifest.
 */
export function decodeManifest(bytes: Uint8Array): Manifest {
  const file = decodeAvroFile(bytes);
  const entries = file.records.map((record): ManifestEntry => {
    const entry = record as Record<string, unknown>;
    const dataFile = entry.data_file as Record<string, unknown>;
    const columns = new Map<number, Partial<Writable<DataFileColumn>>>();
    const column = (fieldId: number) => {
      let existing = columns.get(fieldId);
      if (existing === undefined) {
        existing = { fieldId };
        columns.set(fieldId, existing);
      }
      return existing;
    };
    readMap(dataFile.column_sizes, (id, v) => (column(id).sizeInBytes = Number(v)));
    readMap(dataFile.value_counts, (id, v) => (column(id).valueCount = Number(v)));
    readMap(dataFile.null_value_counts, (id, v) => (column(id).nullCount = Number(v)));
    readMap(dataFile.nan_value_counts, (id, v) => (column(id).nanCount = Number(v)));
    readMap(dataFile.lower_bounds, (id, v) => (column(id).lowerBound = toHex(v as Uint8Array)));
    readMap(dataFile.upper_bounds, (id, v) => (column(id).upperBound = toHex(v as Uint8Array)));
    const splitOffsets = Array.isArray(dataFile.split_offsets) ? dataFile.split_offsets.map(Number) : [];
    return {
      status: Number(entry.status) as EntryStatus,
      snapshotId: nullableLong(entry.snapshot_id),
      sequenceNumber: nullableLong(entry.sequence_number),
      fileSequenceNumber: nullableLong(entry.file_sequence_number),
      dataFile: {
        content: 'data',
        filePath: String(dataFile.file_path),
        fileFormat: String(dataFile.file_format).toLowerCase() as 'parquet',
        recordCount: Number(dataFile.record_count),
        fileSizeInBytes: Number(dataFile.file_size_in_bytes),
        columns: [...columns.values()]
          .map((c) => ({ sizeInBytes: 0, valueCount: 0, nullCount: 0, ...c }) as DataFileColumn)
          .sort((a, b) => a.fieldId - b.fieldId),
        splitOffsets,
      },
    };
  });
  return { metadata: file.metadata, entries };
}

type Writable<T> = { -readonly [K in keyof T]: T[K] };

function readMap(value: unknown, visit: (key: number, value: unknown) => void): void {
  if (!Array.isArray(value)) return;
  for (const item of value) {
    const { key, value: v } = item as { key: number; value: unknown };
    visit(Number(key), v);
  }
}

function nullableLong(value: unknown): bigint | null {
  return value === null || value === undefined ? null : BigInt(value as bigint | number);
}
