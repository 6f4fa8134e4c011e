/**
 * Manifest merging keeps a streaming table's manifest list short. A fast append adds one
 * manifest per commit, so without merging the list, and the cost of every commit and every
 * scan plan, grows with the number of commits.
 *
 * When the parent snapshot lists `commit.manifest.min-count-to-merge` (Iceberg's property,
 * default 100) or more small data manifests, the append rewrites them into one manifest:
 * every live entry (ADDED or EXISTING; DELETED entries are dropped, as Java's merge drops those
 * of earlier snapshots) becomes an EXISTING entry that keeps its snapshot id, data sequence
 * number and file sequence number, written explicitly because the spec only lets ADDED entries
 * inherit them. The merged manifest is "added" by the new snapshot: its list entry has the new
 * snapshot id and sequence number, existing file and row counts, and the smallest data sequence
 * number of its entries as `min_sequence_number`.
 *
 * Manifests of `commit.manifest.target-size-bytes` (default 8 MiB) or more, delete manifests,
 * manifests of other partition specs and manifests that cannot be carried safely are kept as
 * they are, so one merge never rewrites more than about the target size plus the small ones.
 * The replaced manifests are not deleted: older snapshots may still list them.
 */
import { IcebergMetadataError } from './errors.ts';
import { decodeStoredManifest, type ExistingEntry, encodeExistingManifest } from './manifest.ts';
import type { ManifestFile } from './manifest-list.ts';
import type { IcebergSchema } from './schema.ts';
import type { ManifestMergeSettings } from './table-properties.ts';

export interface MergeInput {
  /** The table's name, for error messages. */
  readonly tableName: string;
  /** The parent snapshot's manifests, in list order. */
  readonly inherited: readonly ManifestFile[];
  readonly settings: ManifestMergeSettings;
  /** The table's current schema, recorded in the merged manifest. */
  readonly schema: IcebergSchema;
  readonly snapshotId: bigint;
  readonly sequenceNumber: number;
  /** Reads a manifest's bytes by its URI. */
  readonly read: (uri: string) => Promise<Uint8Array>;
  /** Writes the merged manifest's bytes and returns its URI. */
  readonly write: (bytes: Uint8Array) => Promise<string>;
}

export interface MergeResult {
  /** The merged manifest, when one was written. */
  readonly merged: ManifestFile | undefined;
  /** The inherited manifests carried unchanged, in list order. */
  readonly kept: readonly ManifestFile[];
  /** How many inherited manifests the merged one replaces. */
  readonly replaced: number;
  /** Entries read from the replaced manifests (live and deleted). */
  readonly entriesProcessed: number;
}

/** Unpartitioned: the only spec whose manifests Floe merges. */
const PARTITION_SPEC_ID = 0;

/** Merges the small inherited data manifests into one when there are enough of them. */
export async function mergeManifests(input: MergeInput): Promise<MergeResult> {
  const { inherited, settings } = input;
  const unchanged: MergeResult = { merged: undefined, kept: inherited, replaced: 0, entriesProcessed: 0 };
  if (!settings.enabled) return unchanged;
  const isCandidate = (m: ManifestFile) =>
    m.content === 0 && m.partitionSpecId === PARTITION_SPEC_ID && m.manifestLength < settings.targetSizeBytes;
  const candidates = inherited.filter(isCandidate);
  if (candidates.length < Math.max(2, settings.minCountToMerge)) return unchanged;

  const read = await Promise.all(
    candidates.map(async (manifest) => ({
      manifest,
      entries: liveEntries(input.tableName, manifest, await input.read(manifest.manifestPath)),
    })),
  );
  // Oldest first, so that the merged manifest lists files in commit order.
  const mergeable = read
    .filter((r): r is { manifest: ManifestFile; entries: Carried } => r.entries !== undefined)
    .sort((a, b) => compareLongs(a.manifest.sequenceNumber, b.manifest.sequenceNumber));
  if (mergeable.length < 2) return unchanged;
  const replaced = new Set(mergeable.map((r) => r.manifest));
  const kept = inherited.filter((m) => !replaced.has(m));
  const entries = mergeable.flatMap((r) => r.entries.live);
  const entriesProcessed = mergeable.reduce((sum, r) => sum + r.entries.processed, 0);
  if (entries.length === 0) {
    // Nothing live: the replaced manifests simply leave the list.
    return { merged: undefined, kept, replaced: replaced.size, entriesProcessed };
  }
  const bytes = encodeExistingManifest({ schema: input.schema, entries });
  const uri = await input.write(bytes);
  const merged: ManifestFile = {
    manifestPath: uri,
    manifestLength: BigInt(bytes.byteLength),
    partitionSpecId: PARTITION_SPEC_ID,
    content: 0,
    sequenceNumber: BigInt(input.sequenceNumber),
    minSequenceNumber: entries.reduce(
      (min, e) => (e.sequenceNumber < min ? e.sequenceNumber : min),
      entries[0]!.sequenceNumber,
    ),
    addedSnapshotId: input.snapshotId,
    addedFilesCount: 0,
    existingFilesCount: entries.length,
    deletedFilesCount: 0,
    addedRowsCount: 0n,
    existingRowsCount: entries.reduce((sum, e) => sum + BigInt(e.dataFile.record_count as bigint), 0n),
    deletedRowsCount: 0n,
    partitions: [],
    keyMetadata: null,
  };
  return { merged, kept, replaced: replaced.size, entriesProcessed };
}

interface Carried {
  readonly live: ExistingEntry[];
  readonly processed: number;
}

/**
 * The live entries of a manifest with their ids resolved as a reader resolves them (spec
 * "Sequence Number Inheritance"), or `undefined` when the manifest cannot be carried safely
 * (a partitioned or delete entry, an EXISTING entry without a data sequence number): it is then
 * kept as it is.
 */
function liveEntries(tableName: string, manifest: ManifestFile, bytes: Uint8Array): Carried | undefined {
  let decoded: ReturnType<typeof decodeStoredManifest>;
  try {
    decoded = decodeStoredManifest(bytes);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new IcebergMetadataError(
      `Table ${tableName}: cannot read manifest ${manifest.manifestPath} to merge it: ${reason}.`,
      { cause: error },
    );
  }
  const live: ExistingEntry[] = [];
  for (const entry of decoded.entries) {
    if (entry.status === 2) continue;
    const { dataFile } = entry;
    const partition = dataFile.partition;
    if (Number(dataFile.content ?? 0) !== 0) return undefined;
    if (typeof partition === 'object' && partition !== null && Object.keys(partition).length > 0) {
      return undefined;
    }
    if (dataFile.record_count === undefined || dataFile.record_count === null) return undefined;
    // v2: inherited only by ADDED entries; v1 manifests (sequence number 0) default to 0.
    const inherits = entry.status === 1 || manifest.sequenceNumber === 0n;
    const sequenceNumber = entry.sequenceNumber ?? (inherits ? manifest.sequenceNumber : undefined);
    if (sequenceNumber === undefined) return undefined;
    live.push({
      snapshotId: entry.snapshotId ?? manifest.addedSnapshotId,
      sequenceNumber,
      fileSequenceNumber: entry.fileSequenceNumber ?? (inherits ? manifest.sequenceNumber : null),
      dataFile,
    });
  }
  return { live, processed: decoded.entries.length };
}

function compareLongs(a: bigint, b: bigint): number {
  return a === b ? 0 : a < b ? -1 : 1;
}
