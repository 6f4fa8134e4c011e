/**
 * A checkpoint manifest: the immutable record of one commit of a group. The head item names the
 * latest one; each names the one before it, so the last N form a chain.
 */

import { FloeError } from '../errors.ts';
import type { DataFile } from '../iceberg/data-file.ts';

/** Where a partition stood after a commit. */
export interface PartitionCheckpoint {
  /** The last offset applied; -1 before any. */
  readonly offset: number;
  /** The partition's watermark; null for -infinity (nothing seen yet), as JSON has no infinities. */
  readonly watermark: number | null;
  readonly idle: boolean;
  /**
   * The key of the partition's base state object in the checkpoint store: its whole engine state
   * as of the commit that wrote it (`encodePartition`).
   */
  readonly state: string;
  /**
   * The keys of the state deltas committed since the base, oldest first (state-delta.ts). The
   * partition's state is the base with each applied in order. Empty right after a new base;
   * manifests written before deltas existed have none, and read as empty.
   */
  readonly deltas: readonly string[];
}

/** What a commit publishes to one table: its files, under a snapshot id fixed by the commit. */
export interface TablePublish {
  readonly table: string;
  /** What the table holds: the job's rows, late records or dead letters. */
  readonly output: 'rows' | 'late' | 'dead-letters';
  /** Decimal string: JSON numbers cannot hold 63 bits. */
  readonly snapshotId: string;
  readonly files: readonly DataFile[];
  readonly records: number;
}

/** Counts of one commit, and the same summed over every commit of the group. */
export interface CheckpointCounts {
  records: number;
  redelivered: number;
  rows: number;
  late: number;
  deadLetters: number;
  tombstones: number;
  deduplicated: number;
}

export interface CheckpointManifest {
  readonly format: 1;
  readonly job: string;
  readonly group: string;
  /** Random id of the group's history, made with its first commit; part of every snapshot id. */
  readonly lineage: string;
  readonly epoch: number;
  readonly attempt: string;
  /** Wall-clock time of the commit attempt, epoch ms. */
  readonly createdAt: number;
  /** The processing time the batch ran at (idleness); the wall clock unless the job uses idleness. */
  readonly processingTime: number;
  /** The manifest this one follows; null for the first. */
  readonly previous: string | null;
  /**
   * The manifests before `previous`, newest first, at most {@link EARLIER_MANIFESTS} - 1, by
   * name within the group's manifest folder (`<epoch>-<attempt>.json`): with `previous`, the
   * last 32 of the chain, so that a publish round walking down from the head reads them in one
   * parallel wave instead of one by one. Absent in manifests written before it existed.
   */
  readonly earlier?: readonly string[];
  /** The group's job watermark; null for -infinity. */
  readonly watermark: number | null;
  /** True once the input has ended (a local run drained): every window has fired. */
  readonly drained: boolean;
  readonly partitions: Readonly<Record<string, PartitionCheckpoint>>;
  readonly publishes: readonly TablePublish[];
  readonly counts: CheckpointCounts;
  readonly totals: CheckpointCounts;
}

/** How many of the chain's manifests a manifest names: `previous` and the `earlier` ones. */
export const EARLIER_MANIFESTS = 32;

/**
 * The keys of the chain's manifests before `manifest` that it names, newest first: `previous`,
 * then the `earlier` ones. `folder` is the group's manifest folder (layout.ts `manifestPrefix`).
 */
export function chainKeys(manifest: CheckpointManifest, folder: string): string[] {
  if (manifest.previous === null) return [];
  return [manifest.previous, ...(manifest.earlier ?? []).map((name) => `${folder}${name}`)];
}

/** The `earlier` names of the manifest that follows `manifest` (stored under `key`). */
export function earlierAfter(manifest: CheckpointManifest | undefined, folder: string): string[] {
  if (manifest === undefined || manifest.previous === null || !manifest.previous.startsWith(folder))
    return [];
  return [manifest.previous.slice(folder.length), ...(manifest.earlier ?? [])].slice(
    0,
    EARLIER_MANIFESTS - 1,
  );
}

export function zeroCounts(): CheckpointCounts {
  return { records: 0, redelivered: 0, rows: 0, late: 0, deadLetters: 0, tombstones: 0, deduplicated: 0 };
}

export function addCounts(a: CheckpointCounts, b: CheckpointCounts): CheckpointCounts {
  return {
    records: a.records + b.records,
    redelivered: a.redelivered + b.redelivered,
    rows: a.rows + b.rows,
    late: a.late + b.late,
    deadLetters: a.deadLetters + b.deadLetters,
    tombstones: a.tombstones + b.tombstones,
    deduplicated: a.deduplicated + b.deduplicated,
  };
}

export function encodeManifest(manifest: CheckpointManifest): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(manifest)}\n`);
}

export function decodeManifest(bytes: Uint8Array, key: string): CheckpointManifest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new FloeError(`Checkpoint manifest ${key} is not valid JSON: ${(error as Error).message}`);
  }
  const m = parsed as Partial<CheckpointManifest> | null;
  if (
    m === null ||
    typeof m !== 'object' ||
    m.format !== 1 ||
    typeof m.epoch !== 'number' ||
    typeof m.lineage !== 'string' ||
    typeof m.partitions !== 'object' ||
    !Array.isArray(m.publishes)
  ) {
    throw new FloeError(
      `Checkpoint manifest ${key} is not a Floe checkpoint manifest of format 1; was the checkpoint store written by another version?`,
    );
  }
  const partitions: Record<string, PartitionCheckpoint> = {};
  for (const [id, p] of Object.entries(m.partitions as Record<string, PartitionCheckpoint>))
    partitions[id] = Array.isArray(p.deltas) ? p : { ...p, deltas: [] };
  return { ...(m as CheckpointManifest), partitions };
}

/** A watermark as JSON, which has no infinities: null for -infinity, Number.MAX_VALUE for +infinity (drained). */
export function watermarkToJson(watermark: number): number | null {
  if (watermark === Number.NEGATIVE_INFINITY) return null;
  if (watermark === Number.POSITIVE_INFINITY) return Number.MAX_VALUE;
  return watermark;
}

export function watermarkFromJson(watermark: number | null): number {
  if (watermark === null) return Number.NEGATIVE_INFINITY;
  if (watermark === Number.MAX_VALUE) return Number.POSITIVE_INFINITY;
  return watermark;
}
