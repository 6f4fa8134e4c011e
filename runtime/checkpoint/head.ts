/**
 * A commit group's head: the one small item whose conditional write is the commit point. It
 * names the group's latest checkpoint manifest. Read and written only through this codec, which
 * validates what the store returns rather than trusting a cast.
 */
import { randomUUID } from 'node:crypto';
import { FloeError } from '../errors.ts';
import { getOrCreate, type JsonValue, type StateStore, type VersionedItem } from '../stores/state-store.ts';
import { headKey, headPrefix } from './layout.ts';
import type { CheckpointManifest } from './manifest.ts';

/** What the head item of a group holds. */
export interface HeadValue {
  /** Random id of the group's history, made before its first commit. */
  readonly lineage: string;
  /** 0 until the group's first commit. */
  readonly epoch: number;
  /** The latest checkpoint manifest; null until the first commit. */
  readonly manifest: string | null;
  /**
   * The committed position, copied from the manifest so that the state store alone (DynamoDB on
   * AWS) says where each partition stands, as Kafka's committed offsets do: partition id →
   * [last applied offset, watermark (null for -infinity)]. Absent before the first commit (and in
   * heads written before it existed).
   */
  readonly offsets?: Readonly<Record<string, readonly [number, number | null]>>;
  /** The group's job watermark as of the commit (null for -infinity). */
  readonly watermark?: number | null;
  /**
   * The manifest named by `manifest` itself, when it is kept here rather than as an object in
   * the checkpoint store (manifest.ts `encodeInlineManifest`): commits that name no data files.
   * Stored as `manifest: { key, inline }` rather than beside a string `manifest`, so that a Floe
   * from before inline manifests refuses the head (its check wants a string) instead of taking
   * the manifest for one cleanup deleted and deleting the state the head needs.
   */
  readonly inline?: string;
}

/** A head as read: its version (the compare-and-swap token) and its value. */
export interface Head {
  readonly key: string;
  readonly version: number;
  readonly value: HeadValue;
}

export function encodeHead(value: HeadValue): JsonValue {
  const json: { [key: string]: JsonValue } = {
    lineage: value.lineage,
    epoch: value.epoch,
    manifest:
      value.inline === undefined || value.manifest === null
        ? value.manifest
        : { key: value.manifest, inline: value.inline },
  };
  if (value.offsets !== undefined) {
    json.offsets = Object.fromEntries(Object.entries(value.offsets).map(([id, [o, w]]) => [id, [o, w]]));
  }
  if (value.watermark !== undefined) json.watermark = value.watermark;
  return json;
}

/**
 * The head that commits `manifest`, named `key`: its epoch, lineage and position, and the
 * manifest itself when it is `inline` (not an object in the checkpoint store).
 */
export function headFor(manifest: CheckpointManifest, key: string, inline?: string): HeadValue {
  const offsets: Record<string, readonly [number, number | null]> = {};
  for (const [id, p] of Object.entries(manifest.partitions)) offsets[id] = [p.offset, p.watermark];
  return {
    lineage: manifest.lineage,
    epoch: manifest.epoch,
    manifest: key,
    offsets,
    watermark: manifest.watermark,
    ...(inline === undefined ? {} : { inline }),
  };
}

/** Validates a stored head item; a malformed one is an error naming the key, never a silent cast. */
export function decodeHead(item: VersionedItem): Head {
  const v = item.value;
  const m = typeof v === 'object' && v !== null && !Array.isArray(v) ? v.manifest : undefined;
  const inlined =
    typeof m === 'object' &&
    m !== null &&
    !Array.isArray(m) &&
    typeof m.key === 'string' &&
    typeof m.inline === 'string'
      ? { key: m.key, inline: m.inline }
      : undefined;
  const ok =
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    typeof v.lineage === 'string' &&
    typeof v.epoch === 'number' &&
    Number.isSafeInteger(v.epoch) &&
    v.epoch >= 0 &&
    (m === null || typeof m === 'string' || inlined !== undefined) &&
    (v.epoch === 0) === (m === null) &&
    (v.watermark === undefined || v.watermark === null || typeof v.watermark === 'number') &&
    (v.offsets === undefined || isOffsets(v.offsets));
  if (!ok) {
    throw new FloeError(
      `Head item ${item.key} (version ${item.version}) is not a Floe commit head: expected {lineage, epoch, manifest}, got ${JSON.stringify(v).slice(0, 200)}. Another program wrote to Floe's state store under this key; give this job its own table or prefix.`,
    );
  }
  const { lineage, epoch, offsets, watermark } = v as unknown as HeadValue;
  const value: HeadValue = {
    lineage,
    epoch,
    manifest: inlined?.key ?? (m as string | null),
    ...(offsets === undefined ? {} : { offsets }),
    ...(watermark === undefined ? {} : { watermark }),
    ...(inlined === undefined ? {} : { inline: inlined.inline }),
  };
  return { key: item.key, version: item.version, value };
}

function isOffsets(value: JsonValue): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  return Object.values(value).every(
    (entry) =>
      Array.isArray(entry) &&
      entry.length === 2 &&
      typeof entry[0] === 'number' &&
      (entry[1] === null || typeof entry[1] === 'number'),
  );
}

/** Every head of a job, with its group name. */
export async function listHeads(store: StateStore, jobId: string): Promise<{ group: string; head: Head }[]> {
  const prefix = headPrefix(jobId);
  const items = await store.list(prefix);
  return items.map((item) => ({ group: item.key.slice(prefix.length), head: decodeHead(item) }));
}

/** A group's head, if it has one. */
export async function readHead(store: StateStore, jobId: string, group: string): Promise<Head | undefined> {
  const item = await store.get(headKey(jobId, group));
  return item === undefined ? undefined : decodeHead(item);
}

/**
 * Reads a group's head, creating it (with the lineage of the group's history) before its first
 * commit: of concurrent first invocations one creates it and all use its lineage, so every data
 * file a first attempt stages carries the lineage cleanup looks for.
 */
export async function readOrCreateHead(store: StateStore, jobId: string, group: string): Promise<Head> {
  const value: HeadValue = { lineage: randomUUID(), epoch: 0, manifest: null };
  return decodeHead(await getOrCreate(store, headKey(jobId, group), encodeHead(value)));
}

/** The commit point: moves the head to `value` if it still has version `expectedVersion`. */
export async function writeHead(
  store: StateStore,
  jobId: string,
  group: string,
  value: HeadValue,
  expectedVersion: number,
): Promise<Head> {
  return decodeHead(await store.put(headKey(jobId, group), encodeHead(value), { expectedVersion }));
}
