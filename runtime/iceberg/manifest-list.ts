/**
 * A manifest list is the Avro file a snapshot points to: one `manifest_file` record per manifest
 * in the snapshot, with its sequence numbers and file and row counts (spec "Manifest Lists").
 * A new list is written for every commit attempt, since it carries the attempt's sequence
 * number; manifests themselves are reused.
 */
import { decodeAvroFile, encodeAvroFile } from './avro-container.ts';

export interface FieldSummary {
  readonly containsNull: boolean;
  readonly containsNan: boolean | null;
  readonly lowerBound: Uint8Array | null;
  readonly upperBound: Uint8Array | null;
}

export interface ManifestFile {
  readonly manifestPath: string;
  readonly manifestLength: bigint;
  readonly partitionSpecId: number;
  /** 0: data, 1: deletes. */
  readonly content: number;
  readonly sequenceNumber: bigint;
  readonly minSequenceNumber: bigint;
  readonly addedSnapshotId: bigint;
  readonly addedFilesCount: number;
  readonly existingFilesCount: number;
  readonly deletedFilesCount: number;
  readonly addedRowsCount: bigint;
  readonly existingRowsCount: bigint;
  readonly deletedRowsCount: bigint;
  readonly partitions: readonly FieldSummary[] | null;
  readonly keyMetadata: Uint8Array | null;
}

export interface ManifestListInput {
  readonly snapshotId: bigint;
  readonly parentSnapshotId: bigint | undefined;
  readonly sequenceNumber: number;
  readonly manifests: readonly ManifestFile[];
}

const optional = (type: unknown) => ['null', type];

/** The v2 `manifest_file` Avro schema with the spec's field ids. */
export const MANIFEST_FILE_SCHEMA = {
  type: 'record',
  name: 'manifest_file',
  fields: [
    { name: 'manifest_path', type: 'string', 'field-id': 500 },
    { name: 'manifest_length', type: 'long', 'field-id': 501 },
    { name: 'partition_spec_id', type: 'int', 'field-id': 502 },
    { name: 'content', type: 'int', 'field-id': 517 },
    { name: 'sequence_number', type: 'long', 'field-id': 515 },
    { name: 'min_sequence_number', type: 'long', 'field-id': 516 },
    { name: 'added_snapshot_id', type: 'long', 'field-id': 503 },
    { name: 'added_files_count', type: 'int', 'field-id': 504 },
    { name: 'existing_files_count', type: 'int', 'field-id': 505 },
    { name: 'deleted_files_count', type: 'int', 'field-id': 506 },
    { name: 'added_rows_count', type: 'long', 'field-id': 512 },
    { name: 'existing_rows_count', type: 'long', 'field-id': 513 },
    { name: 'deleted_rows_count', type: 'long', 'field-id': 514 },
    {
      name: 'partitions',
      type: optional({
        type: 'array',
        'element-id': 508,
        items: {
          type: 'record',
          name: 'r508',
          fields: [
            { name: 'contains_null', type: 'boolean', 'field-id': 509 },
            { name: 'contains_nan', type: optional('boolean'), default: null, 'field-id': 518 },
            { name: 'lower_bound', type: optional('bytes'), default: null, 'field-id': 510 },
            { name: 'upper_bound', type: optional('bytes'), default: null, 'field-id': 511 },
          ],
        },
      }),
      default: null,
      'field-id': 507,
    },
    { name: 'key_metadata', type: optional('bytes'), default: null, 'field-id': 519 },
  ],
} as const;

export function encodeManifestList(input: ManifestListInput): Uint8Array {
  const metadata: Record<string, string> = {
    'snapshot-id': input.snapshotId.toString(),
    'sequence-number': String(input.sequenceNumber),
    'format-version': '2',
  };
  if (input.parentSnapshotId !== undefined)
    metadata['parent-snapshot-id'] = input.parentSnapshotId.toString();
  const records = input.manifests.map((manifest) => ({
    manifest_path: manifest.manifestPath,
    manifest_length: manifest.manifestLength,
    partition_spec_id: manifest.partitionSpecId,
    content: manifest.content,
    sequence_number: manifest.sequenceNumber,
    min_sequence_number: manifest.minSequenceNumber,
    added_snapshot_id: manifest.addedSnapshotId,
    added_files_count: manifest.addedFilesCount,
    existing_files_count: manifest.existingFilesCount,
    deleted_files_count: manifest.deletedFilesCount,
    added_rows_count: manifest.addedRowsCount,
    existing_rows_count: manifest.existingRowsCount,
    deleted_rows_count: manifest.deletedRowsCount,
    partitions:
      manifest.partitions?.map((summary) => ({
        contains_null: summary.containsNull,
        contains_nan: summary.containsNan,
        lower_bound: summary.lowerBound === null ? null : Buffer.from(summary.lowerBound),
        upper_bound: summary.upperBound === null ? null : Buffer.from(summary.upperBound),
      })) ?? null,
    key_metadata: manifest.keyMetadata === null ? null : Buffer.from(manifest.keyMetadata),
  }));
  return encodeAvroFile(MANIFEST_FILE_SCHEMA, records, metadata);
}

/**
 * Decodes a manifest list from any v1 or v2 writer, reading fields by name. v1 lists lack
 * sequence numbers and content, which default to 0 as the spec says. Throws when the file
 * lacks the counts that v2 requires, naming the missing field.
 */
export function decodeManifestList(bytes: Uint8Array): ManifestFile[] {
  return decodeAvroFile(bytes).records.map((record, index) => {
    const r = record as Record<string, unknown>;
    // v1 writers named the counts added_data_files_count and so on (same field ids).
    const required = (name: string, v1Name?: string): unknown => {
      const value = r[name] ?? (v1Name === undefined ? undefined : r[v1Name]);
      if (value === null || value === undefined) {
        throw new Error(
          `manifest ${index} has no ${name}; Floe cannot carry it into a format v2 manifest list`,
        );
      }
      return value;
    };
    const partitions = Array.isArray(r.partitions)
      ? r.partitions.map((p: Record<string, unknown>) => ({
          containsNull: Boolean(p.contains_null),
          containsNan:
            p.contains_nan === null || p.contains_nan === undefined ? null : Boolean(p.contains_nan),
          lowerBound: p.lower_bound instanceof Uint8Array ? new Uint8Array(p.lower_bound) : null,
          upperBound: p.upper_bound instanceof Uint8Array ? new Uint8Array(p.upper_bound) : null,
        }))
      : null;
    return {
      manifestPath: String(required('manifest_path')),
      manifestLength: BigInt(required('manifest_length') as bigint),
      partitionSpecId: Number(required('partition_spec_id')),
      content: Number(r.content ?? 0),
      sequenceNumber: BigInt((r.sequence_number as bigint | undefined) ?? 0n),
      minSequenceNumber: BigInt((r.min_sequence_number as bigint | undefined) ?? 0n),
      addedSnapshotId: BigInt(required('added_snapshot_id') as bigint),
      addedFilesCount: Number(required('added_files_count', 'added_data_files_count')),
      existingFilesCount: Number(required('existing_files_count', 'existing_data_files_count')),
      deletedFilesCount: Number(required('deleted_files_count', 'deleted_data_files_count')),
      addedRowsCount: BigInt(required('added_rows_count') as bigint),
      existingRowsCount: BigInt(required('existing_rows_count') as bigint),
      deletedRowsCount: BigInt(required('deleted_rows_count') as bigint),
      partitions,
      keyMetadata: r.key_metadata instanceof Uint8Array ? new Uint8Array(r.key_metadata) : null,
    };
  });
}
