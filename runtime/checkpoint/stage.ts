/**
 * Steps 3 and 4 of a commit: stage a batch's outputs and state under names unique to the attempt,
 * then make the immutable checkpoint manifest that names them: written to the checkpoint store
 * when it names data files or is large, else handed back to go inline in the head write. Nothing
 * here is visible to a reader until the head names the manifest.
 */
import type { BatchResult } from '../engine/batch-result.ts';
import { encodePartition } from '../engine/state-codec.ts';
import { type DataFile, writePreparedDataFile } from '../iceberg/data-file.ts';
import { dataFileKey } from '../iceberg/table-layout.ts';
import type { CheckpointStores } from '../stores/checkpoint-stores.ts';
import type { ChangedPartition, LoadedGroup, PartitionChain } from './committed-state.ts';
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
  type CheckpointManifest,
  chainAfter,
  encodeInlineManifest,
  encodeManifest,
  type PartitionCheckpoint,
  type TablePublish,
  watermarkToJson,
  zeroCounts,
} from './manifest.ts';
import { countsOf } from './outcome.ts';
import { type BatchInputOrDrain, type JobTables, prepareOutputs } from './outputs.ts';
import { shouldWriteBase } from './state-delta.ts';

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
  const encoder = new TextEncoder();
  // Each changed partition's next chain: a delta on its committed one, or a new base.
  const chains = new Map(loaded.chains);
  const staged = input.changed.map(({ id, diff }) => {
    const chain = loaded.chains.get(id);
    const delta = encoder.encode(diff.text);
    const sinceBase = chain && { ...chain, deltaCount: chain.deltas.length };
    if (chain !== undefined && !shouldWriteBase(sinceBase, delta.length, input.maxDeltas)) {
      const key = stateDeltaKey(jobId, group, id, epoch, attempt);
      chains.set(id, {
        ...chain,
        image: diff.image,
        deltas: [...chain.deltas, key],
        deltaBytes: chain.deltaBytes + delta.length,
      });
      return { key, bytes: delta };
    }
    const key = stateKey(jobId, group, id, epoch, attempt);
    const bytes = encoder.encode(encodePartition(loaded.state.partitions.get(id)!));
    chains.set(id, { image: diff.image, base: key, baseBytes: bytes.length, deltas: [], deltaBytes: 0 });
    return { key, bytes };
  });
  const [files] = await Promise.all([
    Promise.all(
      outputs.map(async (o): Promise<TablePublish> => {
        const table = o.prepared.table;
        const file: DataFile = await writePreparedDataFile(
          stores.warehouse,
          o.prepared,
          dataFileKey(table.name, fileName),
        );
        return {
          table: table.name,
          output: o.output,
          snapshotId: snapshotIdFor(loaded.lineage, group, epoch, table.name).toString(),
          files: [file],
          records: o.rows,
        };
      }),
    ),
    Promise.all(staged.map((o) => stores.checkpoints.put(o.key, o.bytes, { ifNoneMatch: '*' }))),
  ]);
  const publishes = files;

  const partitions: Record<string, PartitionCheckpoint> = {};
  for (const [id, p] of loaded.state.partitions) {
    const chain = chains.get(id)!;
    partitions[id] = {
      offset: p.offset,
      watermark: watermarkToJson(p.watermark),
      idle: p.idle,
      state: chain.base,
      deltas: chain.deltas,
    };
  }
  const counts = countsOf(result.metrics);
  const key = manifestKey(jobId, group, epoch, attempt);
  const manifest: CheckpointManifest = {
    format: 1,
    job: jobId,
    group,
    lineage: loaded.lineage,
    epoch,
    attempt,
    createdAt: input.clock(),
    processingTime: input.processingTime,
    ...chainAfter(loaded.manifest, loaded.manifestKey, loaded.inline, manifestPrefix(jobId, group)),
    watermark: watermarkToJson(loaded.state.jobWatermark),
    drained: input.input === 'drain' || loaded.manifest?.drained === true,
    partitions,
    publishes,
    counts,
    totals: addCounts(loaded.manifest?.totals ?? zeroCounts(), counts),
  };
  // A commit that names no data files keeps its manifest in the head when it is small: the publish
  // rounds and cleanup need only manifests that name files to outlive the next commit.
  const max = input.maxInlineManifestChars;
  const encoded = publishes.length === 0 && max > 0 ? encodeInlineManifest(manifest) : undefined;
  const inline = encoded !== undefined && encoded.length <= max ? encoded : undefined;
  if (inline === undefined) await stores.checkpoints.put(key, encodeManifest(manifest), { ifNoneMatch: '*' });
  const stateBytes = staged.reduce((sum, o) => sum + o.bytes.length, 0);
  return { key, manifest, inline, stateBytes, chains };
}
