/**
 * Table metadata is the JSON document a table's catalog pointer names (spec "Table Metadata"):
 * schemas, partition specs, sort orders, snapshots and their logs. This module creates the
 * document of a new table, reads and checks one, and derives the next version with one more
 * snapshot.
 *
 * A table may also be written by other engines, so the document is kept as parsed JSON and only
 * the fields an append changes are replaced; fields Floe does not know (statistics, v3 fields
 * of future specs…) pass through untouched. Integers beyond 2^53 stay exact (bigint).
 */
import { randomUUID } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { IcebergMetadataError } from './errors.ts';
import { type JsonObject, type JsonValue, parseJson, stringifyJson } from './json-bigint.ts';
import { type IcebergSchema, lastColumnId } from './schema.ts';
import {
  DEFAULT_PREVIOUS_VERSIONS_MAX,
  PREVIOUS_VERSIONS_MAX,
  snapshotsToRetain,
} from './table-properties.ts';

export interface Snapshot {
  readonly snapshotId: bigint;
  readonly parentSnapshotId: bigint | undefined;
  readonly sequenceNumber: number;
  readonly timestampMs: number;
  readonly manifestList: string;
  readonly summary: Readonly<Record<string, string>>;
}

export interface TableMetadata {
  /** The whole document as parsed; unknown fields are kept. */
  readonly json: JsonObject;
  readonly tableUuid: string;
  readonly location: string;
  readonly lastSequenceNumber: number;
  readonly lastUpdatedMs: number;
  /** The current schema as stored (JSON). */
  readonly currentSchema: JsonObject;
  /** The default partition spec as stored (JSON). */
  readonly defaultSpec: JsonObject;
  readonly currentSnapshotId: bigint | undefined;
  readonly snapshots: readonly Snapshot[];
  readonly properties: Readonly<Record<string, string>>;
}

export interface NewTableInput {
  readonly location: string;
  readonly schema: IcebergSchema;
  readonly properties?: Readonly<Record<string, string>>;
  readonly timestampMs: number;
}

export interface NextSnapshotInput {
  /** Where `current` was read from; recorded in the metadata log. */
  readonly currentLocation: string;
  readonly snapshotId: bigint;
  readonly manifestList: string;
  readonly summary: Readonly<Record<string, string>>;
  readonly timestampMs: number;
  /** Table properties to set in the same commit (e.g. a publisher's high-water mark). @default - none */
  readonly properties?: Readonly<Record<string, string>>;
}

/** Java's first partition field id is 1000; an unpartitioned table records 999. */
const UNPARTITIONED_LAST_PARTITION_ID = 999;

/** The v2 metadata of a new, empty, unpartitioned and unsorted table. */
export function newTableMetadata(input: NewTableInput): JsonObject {
  return {
    'format-version': 2,
    'table-uuid': randomUUID(),
    location: input.location,
    'last-sequence-number': 0,
    'last-updated-ms': input.timestampMs,
    'last-column-id': lastColumnId(input.schema),
    'current-schema-id': input.schema['schema-id'],
    schemas: [input.schema as unknown as JsonObject],
    'default-spec-id': 0,
    'partition-specs': [{ 'spec-id': 0, fields: [] }],
    'last-partition-id': UNPARTITIONED_LAST_PARTITION_ID,
    'default-sort-order-id': 0,
    'sort-orders': [{ 'order-id': 0, fields: [] }],
    properties: { ...(input.properties ?? {}) },
    snapshots: [],
    'snapshot-log': [],
    'metadata-log': [],
    refs: {},
  };
}

export function serializeTableMetadata(json: JsonObject): Uint8Array {
  return new TextEncoder().encode(stringifyJson(json));
}

/**
 * Parses and checks a metadata file (plain or gzip). `source` names the file in errors.
 * Throws IcebergMetadataError for anything a v2 writer cannot build on.
 */
export function parseTableMetadata(bytes: Uint8Array, source: string): TableMetadata {
  const fail = (problem: string, cause?: unknown): never => {
    throw new IcebergMetadataError(`Table metadata ${source} ${problem}.`, { cause });
  };
  let json: JsonValue;
  try {
    const text =
      bytes[0] === 0x1f && bytes[1] === 0x8b
        ? gunzipSync(bytes).toString('utf8')
        : Buffer.from(bytes).toString('utf8');
    json = parseJson(text);
  } catch (error) {
    return fail(`is not valid JSON (${error instanceof Error ? error.message : String(error)})`, error);
  }
  if (!isObject(json)) return fail('is not a JSON object');
  const version = json['format-version'];
  if (version !== 2) {
    return fail(
      `has format-version ${String(version)}; Floe writes format v2 tables only${version === 1 ? ' (upgrade the table to v2 with your engine first)' : ''}`,
    );
  }
  const field = <T>(name: string, check: (value: unknown) => value is T, expected: string): T => {
    const value = json[name];
    if (!check(value)) return fail(`has no valid "${name}" (expected ${expected})`);
    return value;
  };
  const schemas = field('schemas', isArray, 'a list of schemas');
  const schemaId = field('current-schema-id', isInteger, 'an integer');
  const currentSchema = schemas.find((s) => isObject(s) && s['schema-id'] === schemaId);
  if (!isObject(currentSchema)) return fail(`lists no schema with the current-schema-id ${schemaId}`);
  const specs = field('partition-specs', isArray, 'a list of partition specs');
  const specId = field('default-spec-id', isInteger, 'an integer');
  const defaultSpec = specs.find((s) => isObject(s) && s['spec-id'] === specId);
  if (!isObject(defaultSpec)) return fail(`lists no partition spec with the default-spec-id ${specId}`);
  field('last-column-id', isInteger, 'an integer');
  field('last-partition-id', isInteger, 'an integer');
  field('sort-orders', isArray, 'a list of sort orders');
  field('default-sort-order-id', isInteger, 'an integer');
  const snapshots = (isArray(json.snapshots) ? json.snapshots : []).map((value, index) =>
    parseSnapshot(value, (problem) => fail(`has an invalid snapshot at index ${index}: ${problem}`)),
  );
  const current = json['current-snapshot-id'];
  // Older Java writers store -1 for "no current snapshot".
  const currentSnapshotId =
    current === null || current === undefined || current === -1 ? undefined : toLong(current);
  if (current !== null && current !== undefined && current !== -1 && currentSnapshotId === undefined) {
    return fail('has a current-snapshot-id that is not an integer');
  }
  const properties: Record<string, string> = {};
  if (isObject(json.properties)) {
    for (const [key, value] of Object.entries(json.properties)) properties[key] = String(value);
  }
  return {
    json,
    tableUuid: field('table-uuid', isString, 'a UUID string'),
    location: field('location', isString, 'a URI string').replace(/\/+$/, ''),
    lastSequenceNumber: Number(field('last-sequence-number', isInteger, 'an integer')),
    lastUpdatedMs: Number(field('last-updated-ms', isInteger, 'epoch milliseconds')),
    currentSchema,
    defaultSpec,
    currentSnapshotId,
    snapshots,
    properties,
  };
}

/** The snapshot with this id, if the metadata still lists it. */
export function findSnapshot(metadata: TableMetadata, snapshotId: bigint): Snapshot | undefined {
  return metadata.snapshots.find((snapshot) => snapshot.snapshotId === snapshotId);
}

/**
 * The next metadata document: `current` plus one snapshot that becomes main's head, with the
 * snapshots beyond the table's `floe.snapshots.retain` expired (see {@link retainedSnapshots}).
 */
export function withSnapshot(current: TableMetadata, input: NextSnapshotInput): JsonObject {
  const json = current.json;
  const sequenceNumber = current.lastSequenceNumber + 1;
  const snapshot: JsonObject = {
    'snapshot-id': input.snapshotId,
    ...(current.currentSnapshotId === undefined ? {} : { 'parent-snapshot-id': current.currentSnapshotId }),
    'sequence-number': sequenceNumber,
    'timestamp-ms': input.timestampMs,
    'manifest-list': input.manifestList,
    summary: { ...input.summary },
    'schema-id': current.currentSchema['schema-id'] ?? 0,
  };
  const refs = isObject(json.refs) ? json.refs : {};
  const main = isObject(refs.main) ? refs.main : {};
  const previousMax = Number(current.properties[PREVIOUS_VERSIONS_MAX] ?? DEFAULT_PREVIOUS_VERSIONS_MAX);
  const metadataLog = [
    ...(isArray(json['metadata-log']) ? json['metadata-log'] : []),
    { 'timestamp-ms': current.lastUpdatedMs, 'metadata-file': input.currentLocation },
  ].slice(-Math.max(1, Number.isFinite(previousMax) ? previousMax : DEFAULT_PREVIOUS_VERSIONS_MAX));

  const existing = isArray(json.snapshots) ? json.snapshots : [];
  const keep = retainedSnapshots(current, snapshotsToRetain(current.properties));
  const expired = new Set<bigint>();
  const snapshots: JsonValue[] = [];
  for (const [index, value] of existing.entries()) {
    const id = current.snapshots[index]?.snapshotId;
    if (id === undefined || keep.has(id)) snapshots.push(value);
    else expired.add(id);
  }
  snapshots.push(snapshot);
  keep.add(input.snapshotId);
  const next: JsonObject = {
    ...json,
    'last-sequence-number': sequenceNumber,
    'last-updated-ms': input.timestampMs,
    'current-snapshot-id': input.snapshotId,
    snapshots,
    'snapshot-log': trimSnapshotLog(
      [
        ...(isArray(json['snapshot-log']) ? json['snapshot-log'] : []),
        { 'timestamp-ms': input.timestampMs, 'snapshot-id': input.snapshotId },
      ],
      keep,
    ),
    'metadata-log': metadataLog,
    refs: { ...refs, main: { ...main, 'snapshot-id': input.snapshotId, type: 'branch' } },
  };
  if (input.properties !== undefined && Object.keys(input.properties).length > 0) {
    next.properties = { ...(isObject(json.properties) ? json.properties : {}), ...input.properties };
  }
  // Statistics of expired snapshots would name snapshots that no longer exist (Java drops them too).
  for (const field of ['statistics', 'partition-statistics']) {
    const files = json[field];
    if (expired.size > 0 && isArray(files)) {
      next[field] = files.filter((file) => {
        const id = isObject(file) ? toLong(file['snapshot-id']) : undefined;
        return id === undefined || !expired.has(id);
      });
    }
  }
  return next;
}

/**
 * The ids of the existing snapshots that survive an append under `floe.snapshots.retain` =
 * `retain`: the `retain - 1` newest (by sequence number, then position), so that with the new
 * snapshot the table lists at most `retain`, plus every snapshot a ref other than main names
 * (tags and branches of other engines). Main moves to the new snapshot.
 */
export function retainedSnapshots(current: TableMetadata, retain: number): Set<bigint> {
  const keep = new Set<bigint>(
    current.snapshots
      .map((snapshot, index) => ({ snapshot, index }))
      .sort((a, b) => b.snapshot.sequenceNumber - a.snapshot.sequenceNumber || b.index - a.index)
      .slice(0, Math.max(0, retain - 1))
      .map(({ snapshot }) => snapshot.snapshotId),
  );
  const refs = current.json.refs;
  if (isObject(refs)) {
    for (const [name, ref] of Object.entries(refs)) {
      const id = name === 'main' || !isObject(ref) ? undefined : toLong(ref['snapshot-id']);
      if (id !== undefined) keep.add(id);
    }
  }
  return keep;
}

/**
 * The snapshot log after expiry, as the spec asks: an entry whose snapshot expired removes
 * itself and every entry before it, so the log never claims an expired snapshot was current.
 */
function trimSnapshotLog(log: readonly JsonValue[], keep: ReadonlySet<bigint>): JsonValue[] {
  let kept: JsonValue[] = [];
  for (const entry of log) {
    const id = isObject(entry) ? toLong(entry['snapshot-id']) : undefined;
    if (id !== undefined && keep.has(id)) kept.push(entry);
    else kept = [];
  }
  return kept;
}

function parseSnapshot(value: JsonValue, fail: (problem: string) => never): Snapshot {
  if (!isObject(value)) return fail('not an object');
  const snapshotId = toLong(value['snapshot-id']);
  if (snapshotId === undefined) return fail('no integer snapshot-id');
  const parent = value['parent-snapshot-id'];
  const summary: Record<string, string> = {};
  if (isObject(value.summary)) {
    for (const [key, v] of Object.entries(value.summary)) summary[key] = String(v);
  }
  const manifestList = value['manifest-list'];
  if (!isString(manifestList)) return fail(`snapshot ${snapshotId} has no manifest-list`);
  return {
    snapshotId,
    parentSnapshotId: parent === null || parent === undefined ? undefined : toLong(parent),
    sequenceNumber: Number(value['sequence-number'] ?? 0),
    timestampMs: Number(value['timestamp-ms'] ?? 0),
    manifestList,
    summary,
  };
}

function toLong(value: unknown): bigint | undefined {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  return undefined;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isArray(value: unknown): value is JsonValue[] {
  return Array.isArray(value);
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}

function isInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value);
}
