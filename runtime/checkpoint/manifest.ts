/**
 * A checkpoint manifest: the immutable record of one commit of a group. The head item names the
 * latest one; each names the one before it, so the last N form a chain.
 */

import { brotliCompressSync, brotliDecompressSync, constants as zlibConstants } from 'node:zlib';
import { FloeError } from '../errors.ts';
import type { DataFile } from '../iceberg/data-file.ts';
import type { InlineRows } from './inline-rows.ts';
import { parseEpochAttempt } from './layout.ts';

/** Where a partition stood after a commit. */
export interface PartitionCheckpoint {
  /** The last offset applied; -1 before any. */
  readonly offset: number;
  /** The partition's watermark; null for -infinity (nothing seen yet), as JSON has no infinities. */
  readonly watermark: number | null;
  readonly idle: boolean;
  /**
   * The key of the partition's base state object in the checkpoint store: its whole engine state
   * as of the commit that wrote it (`encodePartition`). Empty when `inline` holds the state.
   */
  readonly state: string;
  /**
   * The keys of the state deltas committed since the base, oldest first (state-delta.ts). The
   * partition's state is the base with each applied in order. Empty right after a new base;
   * manifests written before deltas existed have none, and read as empty.
   */
  readonly deltas: readonly string[];
  /**
   * The partition's whole state (`encodePartition`), kept in the manifest itself instead of in
   * state objects: a group whose state is small (see `maxInlineStateChars`) has every partition's
   * here, and a manifest kept in its head then holds everything the group needs. Absent in
   * manifests written before it existed and for state kept in objects.
   */
  readonly inline?: string;
}

/** What a commit publishes to one table: its files, under a snapshot id fixed by the commit. */
export interface TablePublish {
  readonly table: string;
  /** What the table holds: the job's rows, late records or dead letters. */
  readonly output: 'rows' | 'late' | 'dead-letters';
  /** Decimal string: JSON numbers cannot hold 63 bits. */
  readonly snapshotId: string;
  /** Its Parquet files; empty when the manifest holds the rows (`rows`). */
  readonly files: readonly DataFile[];
  /**
   * The rows themselves, when they are few (`maxInlineRowsChars`): the publish round writes them,
   * with the other epochs' it publishes, as one file (inline-rows.ts). Only in format 2.
   */
  readonly rows?: InlineRows;
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
  /**
   * 2 when a publish holds its rows (`TablePublish.rows`), so that a Floe from before them, which
   * reads only format 1, refuses the manifest instead of publishing nothing for those rows.
   */
  readonly format: 1 | 2;
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
  /**
   * The latest manifest before this one that is an object in the checkpoint store; null for none.
   * Manifests kept inside their head item (see {@link encodeInlineManifest}) are never named here:
   * the head's next commit overwrites them, so the chain links only stored manifests, which are
   * the ones that name data files.
   */
  readonly previous: string | null;
  /**
   * The stored manifests before `previous`, newest first, at most {@link EARLIER_MANIFESTS} - 1,
   * by name within the group's manifest folder (`<epoch>-<attempt>.json`): with `previous`, the
   * last {@link EARLIER_MANIFESTS} of the chain, so that a publish round walking down from the
   * head reads them in one parallel wave instead of one by one. Absent in manifests written
   * before it existed.
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

/**
 * How many of the chain's manifests a manifest names: `previous` and the `earlier` ones. The
 * chain holds only manifests that name data files (a window fired), so a publish round's backlog
 * of one group rarely reaches past 8 of them; each name costs head-item bytes while the manifest
 * is inline.
 */
export const EARLIER_MANIFESTS = 8;

/**
 * The keys of the chain's manifests before `manifest` that it names, newest first: `previous`,
 * then the `earlier` ones. `folder` is the group's manifest folder (layout.ts `manifestPrefix`).
 */
export function chainKeys(manifest: CheckpointManifest, folder: string): string[] {
  if (manifest.previous === null) return [];
  return [manifest.previous, ...(manifest.earlier ?? []).map((name) => `${folder}${name}`)];
}

/**
 * The chain links (`previous`, `earlier`) of the manifest that follows `manifest`, which is
 * stored under `key` or, when `inline`, kept only in the head (so the next one links past it).
 */
export function chainAfter(
  manifest: CheckpointManifest | undefined,
  key: string | null,
  inline: boolean,
  folder: string,
): { previous: string | null; earlier: string[] } {
  if (manifest === undefined || key === null) return { previous: null, earlier: [] };
  if (inline) return { previous: manifest.previous, earlier: [...(manifest.earlier ?? [])] };
  if (manifest.previous === null || !manifest.previous.startsWith(folder))
    return { previous: key, earlier: [] };
  const earlier = [manifest.previous.slice(folder.length), ...(manifest.earlier ?? [])];
  return { previous: key, earlier: earlier.slice(0, EARLIER_MANIFESTS - 1) };
}

/**
 * The largest inline manifest, in characters of its encoding: a head item costs a DynamoDB write
 * unit per KB on every commit, and an S3 PUT costs as much as 8 write units, so past about 4 KB
 * the manifest is cheaper as its own object.
 */
export const MAX_INLINE_MANIFEST_CHARS = 4096;

/**
 * The largest group state a manifest holds inline, in characters of its compressed encoding
 * (brotli, base64): at most about 1.5 KB more in the head, two write units, where state objects
 * cost a write unit per changed partition's delta, another to delete it, and read units on every
 * cold load. BENCHMARKS.md ("Latest (session 7)" under Cost) has the limits tried.
 */
export const MAX_INLINE_STATE_CHARS = 2048;

/**
 * The most characters of one table's rows a manifest holds instead of a Parquet file (16 KB of
 * JSON, about 300 rows of bids-per-auction): the manifest is an object of its own then anyway
 * (it names rows to publish), so the rows cost no request, only bytes. Measured against 64 KB:
 * there, bids-per-auction's `floe run` (outputs of 200 to 1,300 rows a commit) was 7 % slower
 * than with a file per commit (larger manifests to encode, and the rows' Parquet encoding moved
 * to the last round, one group after another on one thread), at 16 KB as fast.
 */
export const MAX_INLINE_ROWS_CHARS = 16_384;

/**
 * A manifest as kept inside its head item: brotli-compressed JSON as base64, without the fields
 * the head and the manifest's key already hold (job, group, lineage, epoch, attempt). A commit
 * that names no data files (most of them: windows fire every few batches) keeps its manifest
 * there instead of writing an object, which saves each such commit an S3 PUT and a round trip.
 */
export function encodeInlineManifest(manifest: CheckpointManifest): string {
  const { format: _f, job: _j, group: _g, lineage: _l, epoch: _e, attempt: _a, ...rest } = manifest;
  return compressForHead(rest).toString('base64');
}

/**
 * A value as the head keeps it: its JSON, brotli-compressed (quality 6: within a few percent of
 * the best size at a fraction of the time). Base64 of it is what the head item holds.
 */
export function compressForHead(value: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(value));
  return brotliCompressSync(json, {
    params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 6, [zlibConstants.BROTLI_PARAM_SIZE_HINT]: json.length },
  });
}

/** The manifest a head holds inline; `key` is its name, which carries its epoch and attempt. */
export function decodeInlineManifest(
  text: string,
  key: string,
  head: { readonly job: string; readonly group: string; readonly lineage: string; readonly epoch: number },
): CheckpointManifest {
  const attempt = parseEpochAttempt(key)?.attempt;
  let rest: unknown;
  try {
    rest = JSON.parse(brotliDecompressSync(Buffer.from(text, 'base64')).toString('utf8'));
  } catch (error) {
    throw new FloeError(
      `The head of group ${head.group} of job ${head.job} holds a checkpoint manifest that does not decode (${(error as Error).message}); the state store is corrupt.`,
    );
  }
  if (attempt === undefined || rest === null || typeof rest !== 'object' || Array.isArray(rest)) {
    throw new FloeError(
      `The head of group ${head.group} of job ${head.job} holds an invalid checkpoint manifest for ${key}; the state store is corrupt.`,
    );
  }
  const { job, group, lineage, epoch } = head;
  return validManifest({ format: 1, job, group, lineage, epoch, attempt, ...rest }, key);
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
  return validManifest(parsed, key);
}

function validManifest(parsed: unknown, key: string): CheckpointManifest {
  const m = parsed as Partial<CheckpointManifest> | null;
  if (
    m === null ||
    typeof m !== 'object' ||
    (m.format !== 1 && m.format !== 2) ||
    typeof m.epoch !== 'number' ||
    typeof m.lineage !== 'string' ||
    typeof m.partitions !== 'object' ||
    !Array.isArray(m.publishes)
  ) {
    throw new FloeError(
      `Checkpoint manifest ${key} is not a Floe checkpoint manifest of format 1 or 2; was the checkpoint store written by another version?`,
    );
  }
  for (const p of m.publishes as TablePublish[]) {
    if (p.rows !== undefined && (m.format !== 2 || !Array.isArray(p.rows.columns)))
      throw new FloeError(
        `Checkpoint manifest ${key} holds rows for table ${p.table} that are not column arrays of format 2; the checkpoint store is corrupt.`,
      );
  }
  const partitions: Record<string, PartitionCheckpoint> = {};
  for (const [id, p] of Object.entries(m.partitions as Record<string, PartitionCheckpoint>)) {
    if (p.inline !== undefined && typeof p.inline !== 'string')
      throw new FloeError(
        `Checkpoint manifest ${key} holds partition ${id}'s state as ${typeof p.inline}, not as text; the checkpoint store is corrupt.`,
      );
    partitions[id] = Array.isArray(p.deltas) ? p : { ...p, deltas: [] };
  }
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
