import { describe, expect, it } from 'vitest';
import { encodeAvroFile } from './avro-container.ts';
import { decodeManifest, decodeStoredManifest, MANIFEST_ENTRY_SCHEMA } from './manifest.ts';
import type { ManifestFile } from './manifest-list.ts';
import { type MergeInput, mergeManifests } from './manifest-merge.ts';
import { icebergSchema } from './schema.ts';

const schema = icebergSchema({ id: 'long', note: { type: 'string', nullable: true } });
const SETTINGS = { enabled: true, minCountToMerge: 3, targetSizeBytes: 1_000_000 };

interface RawEntry {
  status: 0 | 1 | 2;
  snapshotId: bigint | null;
  sequenceNumber: bigint | null;
  fileSequenceNumber: bigint | null;
  path: string;
  records: number;
}

function dataFile(path: string, records: number) {
  return {
    content: 0,
    file_path: `file:///w/ns/t/data/${path}`,
    file_format: 'PARQUET',
    partition: {},
    record_count: BigInt(records),
    file_size_in_bytes: 100n,
    column_sizes: [{ key: 1, value: 10n }],
    value_counts: [{ key: 1, value: BigInt(records) }],
    null_value_counts: [{ key: 1, value: 0n }],
    nan_value_counts: null, // absent metrics must stay absent
    lower_bounds: [{ key: 1, value: Buffer.from('0100000000000000', 'hex') }],
    upper_bounds: [{ key: 1, value: Buffer.from('0900000000000000', 'hex') }],
    key_metadata: null,
    split_offsets: [4n],
    equality_ids: null,
    sort_order_id: 0,
  };
}

/** An in-memory store of manifests by URI. */
function files() {
  const objects = new Map<string, Uint8Array>();
  let written = 0;
  const add = (
    name: string,
    entries: RawEntry[],
    list: Partial<ManifestFile> & { sequenceNumber: bigint; addedSnapshotId: bigint },
  ): ManifestFile => {
    const bytes = encodeAvroFile(
      MANIFEST_ENTRY_SCHEMA,
      entries.map((e) => ({
        status: e.status,
        snapshot_id: e.snapshotId,
        sequence_number: e.sequenceNumber,
        file_sequence_number: e.fileSequenceNumber,
        data_file: dataFile(e.path, e.records),
      })),
      { 'format-version': '2', content: 'data' },
    );
    const uri = `file:///w/ns/t/metadata/${name}.avro`;
    objects.set(uri, bytes);
    return {
      manifestPath: uri,
      manifestLength: BigInt(bytes.byteLength),
      partitionSpecId: 0,
      content: 0,
      minSequenceNumber: list.sequenceNumber,
      addedFilesCount: 0,
      existingFilesCount: 0,
      deletedFilesCount: 0,
      addedRowsCount: 0n,
      existingRowsCount: 0n,
      deletedRowsCount: 0n,
      partitions: [],
      keyMetadata: null,
      ...list,
    };
  };
  const input = (inherited: ManifestFile[], settings = SETTINGS): MergeInput => ({
    tableName: 'ns.t',
    inherited,
    settings,
    schema,
    snapshotId: 99n,
    sequenceNumber: 20,
    read: async (uri) => objects.get(uri)!,
    write: async (bytes) => {
      const uri = `file:///w/ns/t/metadata/merged-${++written}.avro`;
      objects.set(uri, bytes);
      return uri;
    },
  });
  return { add, input, objects };
}

const added = (snapshot: bigint, path: string, records = 1): RawEntry => ({
  status: 1,
  snapshotId: snapshot,
  sequenceNumber: null,
  fileSequenceNumber: null,
  path,
  records,
});

describe('mergeManifests', () => {
  it('rewrites live entries as EXISTING with explicit ids and sequence numbers, dropping DELETED ones', async () => {
    const { add, input, objects } = files();
    const inherited = [
      // List order is newest first.
      add(
        'm3',
        [
          added(3n, 'c', 5),
          { ...added(3n, 'gone', 7), status: 2, sequenceNumber: 1n, fileSequenceNumber: 1n },
        ],
        {
          sequenceNumber: 3n,
          addedSnapshotId: 3n,
        },
      ),
      // An earlier merge: EXISTING entries with their own ids; data sequence older than file sequence.
      add(
        'm2',
        [
          { status: 0, snapshotId: 1n, sequenceNumber: 1n, fileSequenceNumber: 1n, path: 'a', records: 2 },
          { status: 0, snapshotId: 2n, sequenceNumber: 1n, fileSequenceNumber: 2n, path: 'b', records: 3 },
        ],
        { sequenceNumber: 2n, addedSnapshotId: 2n },
      ),
      // The entry's own snapshot id is null: inherited from the list (v2 allows it).
      add('m4', [{ ...added(4n, 'd', 1), snapshotId: null }], { sequenceNumber: 4n, addedSnapshotId: 4n }),
    ];

    const result = await mergeManifests(input(inherited));

    expect(result).toMatchObject({ kept: [], replaced: 3, entriesProcessed: 5 });
    const merged = result.merged!;
    expect(merged).toEqual({
      manifestPath: 'file:///w/ns/t/metadata/merged-1.avro',
      manifestLength: BigInt(objects.get(merged.manifestPath)!.byteLength),
      partitionSpecId: 0,
      content: 0,
      sequenceNumber: 20n,
      minSequenceNumber: 1n,
      addedSnapshotId: 99n,
      addedFilesCount: 0,
      existingFilesCount: 4,
      deletedFilesCount: 0,
      addedRowsCount: 0n,
      existingRowsCount: 11n,
      deletedRowsCount: 0n,
      partitions: [],
      keyMetadata: null,
    });
    const stored = decodeStoredManifest(objects.get(merged.manifestPath)!);
    expect(stored.metadata).toMatchObject({ 'format-version': '2', content: 'data', 'partition-spec': '[]' });
    expect(
      stored.entries.map((e) => [
        e.status,
        e.snapshotId,
        e.sequenceNumber,
        e.fileSequenceNumber,
        e.dataFile.file_path,
      ]),
    ).toEqual([
      [0, 1n, 1n, 1n, 'file:///w/ns/t/data/a'],
      [0, 2n, 1n, 2n, 'file:///w/ns/t/data/b'],
      [0, 3n, 3n, 3n, 'file:///w/ns/t/data/c'],
      [0, 4n, 4n, 4n, 'file:///w/ns/t/data/d'],
    ]);
    // Metrics as stored, absent ones absent.
    const [first] = decodeManifest(objects.get(merged.manifestPath)!).entries;
    expect(first?.dataFile.columns).toEqual([
      {
        fieldId: 1,
        sizeInBytes: 10,
        valueCount: 2,
        nullCount: 0,
        lowerBound: '0100000000000000',
        upperBound: '0900000000000000',
      },
    ]);
    expect(stored.entries[0]?.dataFile.nan_value_counts).toBeNull();
  });

  it('does nothing below commit.manifest.min-count-to-merge, or when merging is disabled', async () => {
    const { add, input } = files();
    const two = [1n, 2n].map((n) =>
      add(`m${n}`, [added(n, `f${n}`)], { sequenceNumber: n, addedSnapshotId: n }),
    );
    const three = [...two, add('m3', [added(3n, 'f3')], { sequenceNumber: 3n, addedSnapshotId: 3n })];

    expect(await mergeManifests(input(two))).toEqual({
      merged: undefined,
      kept: two,
      replaced: 0,
      entriesProcessed: 0,
    });
    expect(await mergeManifests(input(three, { ...SETTINGS, enabled: false }))).toMatchObject({
      merged: undefined,
      kept: three,
      replaced: 0,
    });
    expect((await mergeManifests(input(three))).replaced).toBe(3);
  });

  it('keeps delete manifests, other specs, manifests at the target size and ones it cannot carry', async () => {
    const { add, input } = files();
    const small = [1n, 2n, 3n].map((n) =>
      add(`m${n}`, [added(n, `f${n}`)], { sequenceNumber: n, addedSnapshotId: n }),
    );
    const deletes = add('d', [added(4n, 'del')], { sequenceNumber: 4n, addedSnapshotId: 4n, content: 1 });
    const otherSpec = add('s', [added(5n, 'spec')], {
      sequenceNumber: 5n,
      addedSnapshotId: 5n,
      partitionSpecId: 1,
    });
    const big = add('big', [added(6n, 'big')], {
      sequenceNumber: 6n,
      addedSnapshotId: 6n,
      manifestLength: 2_000_000n,
    });
    // EXISTING without a data sequence number: the spec forbids it, so it is left as it is.
    const broken = add(
      'broken',
      [{ status: 0, snapshotId: 7n, sequenceNumber: null, fileSequenceNumber: null, path: 'x', records: 1 }],
      { sequenceNumber: 7n, addedSnapshotId: 7n },
    );

    const result = await mergeManifests(input([deletes, ...small, otherSpec, big, broken]));

    expect(result.replaced).toBe(3);
    expect(result.kept).toEqual([deletes, otherSpec, big, broken]);
    expect(result.merged?.existingFilesCount).toBe(3);
  });

  it('defaults the sequence numbers of v1 manifests (sequence number 0) to 0', async () => {
    const { add, input, objects } = files();
    const v1 = [1n, 2n, 3n].map((n) =>
      add(`m${n}`, [{ ...added(n, `f${n}`), status: 0 }], { sequenceNumber: 0n, addedSnapshotId: n }),
    );

    const { merged } = await mergeManifests(input(v1));

    expect(merged?.minSequenceNumber).toBe(0n);
    expect(
      decodeStoredManifest(objects.get(merged!.manifestPath)!).entries.map((e) => [
        e.sequenceNumber,
        e.fileSequenceNumber,
      ]),
    ).toEqual([
      [0n, 0n],
      [0n, 0n],
      [0n, 0n],
    ]);
  });

  it('fails naming the table and the manifest when a manifest cannot be read', async () => {
    const { add, input, objects } = files();
    const three = [1n, 2n, 3n].map((n) =>
      add(`m${n}`, [added(n, `f${n}`)], { sequenceNumber: n, addedSnapshotId: n }),
    );
    objects.set(three[1]!.manifestPath, Uint8Array.of(1, 2, 3));

    await expect(mergeManifests(input(three))).rejects.toThrow(
      /^Table ns\.t: cannot read manifest file:\/\/\/w\/ns\/t\/metadata\/m2\.avro to merge it: not an Avro container file/,
    );
  });

  it('drops manifests without live entries without writing an empty one', async () => {
    const { add, input } = files();
    const dead = [1n, 2n, 3n].map((n) =>
      add(`m${n}`, [{ ...added(n, `f${n}`), status: 2, sequenceNumber: n, fileSequenceNumber: n }], {
        sequenceNumber: n,
        addedSnapshotId: n,
      }),
    );

    expect(await mergeManifests(input(dead))).toEqual({
      merged: undefined,
      kept: [],
      replaced: 3,
      entriesProcessed: 3,
    });
  });
});
