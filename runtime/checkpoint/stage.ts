/**
 * Steps 3 and 4 of a commit: stage a batch's outputs and state under names unique to the attempt,
 * then make the immutable checkpoint manifest that names them: written to the checkpoint store
 * when it names data files or is large, else handed back to go inline in the head write. A group
 * whose whole state is small stages no state: the manifest holds it ("State in the manifest" in
 * docs/design.md). Nothing here is visible to a reader until the head names the manifest.
 */
import type { BatchResult } from '../engine/batch-result.ts';
import { encodePartition } from '../engine/state-codec.ts';
import { FloeError } from '../errors.ts';
import { encodeDataFile, type PreparedRows, putDataFile } from '../iceberg/data-file.ts';
import { dataFileKey } from '../iceberg/table-layout.ts';
import type { CheckpointStores } from '../stores/checkpoint-stores.ts';
import {
  type ChangedPartition,
  inlineChain,
  type LoadedGroup,
  type PartitionChain,
} from './committed-state.ts';
import { encodeInlineRows, type InlineRows } from './inline-rows.ts';
import {
  dataFileName,
  manifestKey,
  manifestPrefix,
  snapshotIdFor,
  stateDeltaKey,
  stateKey,
} from './layout.ts';
import {
  addCounts,
  type CheckpointCounts,
  type CheckpointManifest,
  chainAfter,
  compressForHead,
  encodeInlineManifest,
  encodeManifest,
  type PartitionCheckpoint,
  type TablePublish,
  watermarkToJson,
  zeroCounts,
} from './manifest.ts';
import { countsOf } from './outcome.ts';
import { type BatchInputOrDrain, type JobTables, prepareOutputs } from './outputs.ts';
import { encodeImage, imageChars, type PartitionDiff, shouldWriteBase } from './state-delta.ts';

export interface StageInput<Row> {
  readonly jobId: string;
  readonly group: string;
  readonly loaded: LoadedGroup;
  readonly result: BatchResult<Row>;
  readonly changed: readonly ChangedPartition[];
  readonly input: BatchInputOrDrain;
  /** The job's name, for errors. */
  readonly jobName: string;
  readonly processingTime: number;
  readonly attempt: string;
  /** Wall clock, read when the manifest is made (its createdAt). */
  readonly clock: () => number;
  readonly maxDeltas: number;
  /** The largest manifest kept in the head (0: none). */
  readonly maxInlineManifestChars: number;
  /** The largest group state kept in the manifest, in characters of its inline encoding (0: none). */
  readonly maxInlineStateChars: number;
  /** The most characters of a table's rows (their JSON) that the manifest holds instead of a file (0: none). */
  readonly maxInlineRowsChars: number;
}

/** A staged checkpoint: the manifest written, not yet committed. */
export interface StagedCheckpoint {
  readonly key: string;
  readonly manifest: CheckpointManifest;
  /** The manifest encoded for the head, when it is not written to the checkpoint store. */
  readonly inline: string | undefined;
  /** Bytes of state objects (bases and deltas) it wrote: what later commits make garbage. */
  readonly stateBytes: number;
  /** Each partition's chain once this checkpoint commits. */
  readonly chains: Map<string, PartitionChain>;
}

export async function stageCheckpoint<Row>(
  stores: CheckpointStores,
  tables: JobTables,
  input: StageInput<Row>,
): Promise<StagedCheckpoint> {
  const { jobId, group, loaded, result, attempt } = input;
  const epoch = loaded.epoch + 1;
  const outputs = prepareOutputs(input.jobName, tables, result, input.input);
  const fileName = dataFileName(jobId, group, loaded.lineage, epoch, attempt);
  const changed = new Map(input.changed.map((c) => [c.id, c.diff]));
  const counts = countsOf(result.metrics);
  const createdAt = input.clock();
  const manifestWith = (chains: ReadonlyMap<string, PartitionChain>, publishes: TablePublish[]) =>
    makeManifest(input, epoch, createdAt, counts, chains, publishes);
  const maxInHead = input.maxInlineManifestChars;

  let state = planState(input, epoch, changed, inlineStateOf(loaded, changed, input.maxInlineStateChars));
  // State goes into the manifest only if the manifest then still fits in the head (else every
  // commit would store it as an object, an S3 PUT), judged without the data files a commit
  // names, so that commits that fire windows do not move the state back and forth.
  let withoutFiles =
    state.inline && maxInHead > 0 ? encodeInlineManifest(manifestWith(state.chains, [])) : undefined;
  if (withoutFiles !== undefined && withoutFiles.length > maxInHead) {
    state = planState(input, epoch, changed, undefined);
    withoutFiles = undefined;
  }
  const { chains, staged } = state;
  // A few rows ride in the manifest, which is written anyway since it names them; the publish
  // round writes them with the other epochs' it publishes as one file (inline-rows.ts).
  const inlineRows = outputs.map((o) => rowsForManifest(o.prepared, o.rows, input.maxInlineRowsChars));
  const files = await Promise.all(
    outputs.map((o, i) =>
      inlineRows[i] === undefined
        ? encodeDataFile(stores.warehouse, o.prepared, dataFileKey(o.prepared.table.name, fileName))
        : undefined,
    ),
  );
  const publishes = outputs.map((o, i): TablePublish => {
    const rows = inlineRows[i];
    return {
      table: o.prepared.table.name,
      output: o.output,
      snapshotId: snapshotIdFor(loaded.lineage, group, epoch, o.prepared.table.name).toString(),
      files: rows === undefined ? [files[i]!.file] : [],
      ...(rows === undefined ? {} : { rows }),
      records: o.rows,
    };
  });

  const key = manifestKey(jobId, group, epoch, attempt);
  const manifest = manifestWith(chains, publishes);
  // A commit that names no data files keeps its manifest in the head when it is small: the publish
  // rounds and cleanup need only manifests that name files to outlive the next commit.
  const encoded =
    publishes.length === 0 && maxInHead > 0 ? (withoutFiles ?? encodeInlineManifest(manifest)) : undefined;
  const inline = encoded !== undefined && encoded.length <= maxInHead ? encoded : undefined;
  // The manifest is written beside the files it names rather than after them (a round trip less):
  // nothing a reader follows names a manifest until a head does, and the head is written only
  // once every put here has landed. A failed put leaves objects no head names, which cleanup
  // deletes, as after a lost head write.
  await Promise.all([
    ...staged.map((o) => stores.checkpoints.put(o.key, o.bytes, { ifNoneMatch: '*' })),
    ...files.map((f) => (f === undefined ? undefined : putDataFile(stores.warehouse, f))),
    inline === undefined
      ? stores.checkpoints.put(key, encodeManifest(manifest), { ifNoneMatch: '*' })
      : undefined,
  ]);
  const stateBytes = staged.reduce((sum, o) => sum + o.bytes.length, 0);
  return { key, manifest, inline, stateBytes, chains };
}

/**
 * A table's rows of the commit as the manifest would hold them, when they take at most about
 * `max` characters; undefined: a Parquet file of their own.
 */
function rowsForManifest(prepared: PreparedRows, rows: number, max: number): InlineRows | undefined {
  // Every value takes at least a character and a comma: skip encoding what cannot fit.
  if (max === 0 || rows * prepared.vectors.length * 2 > max) return undefined;
  return encodeInlineRows(prepared.vectors, max);
}

/** What a commit does with its state: each partition's next chain, and the objects to write. */
interface StatePlan {
  /** Whether the manifest holds every partition's state. */
  readonly inline: boolean;
  readonly chains: Map<string, PartitionChain>;
  readonly staged: readonly { key: string; bytes: Uint8Array }[];
}

/**
 * Each partition's next chain: its whole state in the manifest (`inlineTexts`), a delta on its
 * committed chain, or a new base (also for an unchanged partition whose state was inline until
 * now, since the next manifest no longer holds it).
 */
function planState<Row>(
  input: StageInput<Row>,
  epoch: number,
  changed: ReadonlyMap<string, PartitionDiff>,
  inlineTexts: ReadonlyMap<string, string> | undefined,
): StatePlan {
  const { jobId, group, loaded, attempt } = input;
  const encoder = new TextEncoder();
  const chains = new Map(loaded.chains);
  const staged: { key: string; bytes: Uint8Array }[] = [];
  for (const [id, p] of loaded.state.partitions) {
    const chain = loaded.chains.get(id);
    const diff = changed.get(id);
    // A partition never committed has no image yet, so its first diff always reports a change.
    const image = diff?.image ?? chain?.image;
    if (image === undefined)
      throw new FloeError(
        `Partition ${id} of group ${group} has no committed state and no change; this is a bug in Floe.`,
      );
    const text = inlineTexts?.get(id);
    if (text !== undefined) {
      chains.set(id, inlineChain(image, text));
      continue;
    }
    const stored = chain?.inline === undefined ? chain : undefined;
    if (diff === undefined && stored !== undefined) continue; // its committed chain stays
    if (diff !== undefined && stored !== undefined) {
      const delta = encoder.encode(diff.text);
      const sinceBase = { ...stored, deltaCount: stored.deltas.length };
      if (!shouldWriteBase(sinceBase, delta.length, input.maxDeltas)) {
        const key = stateDeltaKey(jobId, group, id, epoch, attempt);
        chains.set(id, {
          ...stored,
          image,
          deltas: [...stored.deltas, key],
          deltaBytes: stored.deltaBytes + delta.length,
        });
        staged.push({ key, bytes: delta });
        continue;
      }
    }
    const key = stateKey(jobId, group, id, epoch, attempt);
    const bytes = encoder.encode(encodeImage(p, image));
    chains.set(id, { image, base: key, baseBytes: bytes.length, deltas: [], deltaBytes: 0 });
    staged.push({ key, bytes });
  }
  return { inline: inlineTexts !== undefined, chains, staged };
}

function makeManifest<Row>(
  input: StageInput<Row>,
  epoch: number,
  createdAt: number,
  counts: CheckpointCounts,
  chains: ReadonlyMap<string, PartitionChain>,
  publishes: TablePublish[],
): CheckpointManifest {
  const { jobId, group, loaded } = input;
  const partitions: Record<string, PartitionCheckpoint> = {};
  for (const [id, p] of loaded.state.partitions) {
    const chain = chains.get(id)!;
    partitions[id] = {
      offset: p.offset,
      watermark: watermarkToJson(p.watermark),
      idle: p.idle,
      state: chain.base,
      deltas: chain.deltas,
      ...(chain.inline === undefined ? {} : { inline: chain.inline }),
    };
  }
  return {
    format: publishes.some((p) => p.rows !== undefined) ? 2 : 1,
    job: jobId,
    group,
    lineage: loaded.lineage,
    epoch,
    attempt: input.attempt,
    createdAt,
    processingTime: input.processingTime,
    ...chainAfter(loaded.manifest, loaded.manifestKey, loaded.inline, manifestPrefix(jobId, group)),
    watermark: watermarkToJson(loaded.state.jobWatermark),
    drained: input.input === 'drain' || loaded.manifest?.drained === true,
    partitions,
    publishes,
    counts,
    totals: addCounts(loaded.manifest?.totals ?? zeroCounts(), counts),
  };
}

/**
 * How many characters of state JSON to expect per character of its inline encoding, at most
 * (brotli, then base64): a state larger than this many times the limit is not even encoded to
 * check, so a large state costs no encoding per commit.
 */
const MAX_COMPRESSION_RATIO = 8;

/**
 * Every partition's whole state as text, when the group's state is small enough to keep in the
 * manifest; undefined when it goes to state objects. Small means the partitions' encodings
 * compressed as an inline manifest does (brotli, base64) take at most `max` characters. A group
 * whose state is in objects comes back only at three quarters of that: a move to objects writes
 * a base for every partition, so a state hovering at the limit must not move on each crossing.
 */
export function inlineStateOf(
  loaded: LoadedGroup,
  changed: ReadonlyMap<string, PartitionDiff>,
  max: number,
): Map<string, string> | undefined {
  if (max === 0) return undefined;
  let stored = false;
  for (const [id] of loaded.state.partitions) {
    const chain = loaded.chains.get(id);
    if (chain !== undefined && chain.inline === undefined) stored = true;
  }
  const limit = stored ? Math.floor((max * 3) / 4) : max;
  let chars = 0;
  for (const [id] of loaded.state.partitions) {
    const image = changed.get(id)?.image ?? loaded.chains.get(id)?.image;
    if (image !== undefined) chars += imageChars(image, limit * MAX_COMPRESSION_RATIO - chars);
    if (chars > limit * MAX_COMPRESSION_RATIO) return undefined;
  }
  const texts = new Map<string, string>();
  for (const [id, p] of loaded.state.partitions) {
    const chain = loaded.chains.get(id);
    const image = changed.get(id)?.image ?? chain?.image;
    if (!changed.has(id) && chain?.inline !== undefined) texts.set(id, chain.inline);
    else texts.set(id, image === undefined ? encodePartition(p) : encodeImage(p, image));
  }
  return inlineStateChars(texts) <= limit ? texts : undefined;
}

/** The characters partition texts take in an inline manifest: compressed together, as base64. */
export function inlineStateChars(texts: ReadonlyMap<string, string>): number {
  return Math.ceil(compressForHead([...texts]).length / 3) * 4;
}
