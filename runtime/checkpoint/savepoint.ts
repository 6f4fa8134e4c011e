/**
 * Savepoints, as Flink's: a self-contained copy of a job's committed offsets, watermarks and
 * window state, taken from its heads and the manifests they name, written to any ObjectStore (a
 * directory, an S3 prefix), and restored into new, empty stores as the first commit of a new
 * history. See "Savepoints" in docs/design.md for the format and the guarantees.
 *
 * A savepoint is a folder `savepoint-<job>-<time>-<random>/` under the location it is written to:
 * - `state/<group>/<partition>.json`: each partition's state as its chain resolves to (the base
 *   with its deltas applied), as one `encodePartition` object;
 * - `savepoint.json`: the manifest, written last, so a savepoint without it is incomplete and
 *   neither listed nor restorable.
 */
import { randomBytes } from 'node:crypto';
import { newEngineState, type PartitionState } from '../engine/state.ts';
import { decodePartition, encodePartition } from '../engine/state-codec.ts';
import { FloeError } from '../errors.ts';
import type { Job } from '../job/job.ts';
import { operatorUid, type WindowScope } from '../job/plan.ts';
import type { CheckpointStores } from '../stores/checkpoint-stores.ts';
import type { ObjectStore } from '../stores/object-store.ts';
import { CheckpointReader, loadCommittedState } from './committed-state.ts';
import { decodeHead, headFor, listHeads, readOrCreateHead, writeHead } from './head.ts';
import {
  consumerLeaseKey,
  headKey,
  logHeadPrefix,
  manifestKey,
  newAttemptId,
  safeName,
  stateKey,
} from './layout.ts';
import {
  type CheckpointCounts,
  type CheckpointManifest,
  encodeManifest,
  type PartitionCheckpoint,
  zeroCounts,
} from './manifest.ts';

/** The name of a savepoint's manifest inside its folder. */
export const SAVEPOINT_MANIFEST = 'savepoint.json';

/** What a savepoint holds about one operator's state. */
export interface SavepointOperator {
  /** The operator id (`.uid(name)`, or `<job name>.window`): what a restore matches it by. */
  readonly uid: string;
  readonly kind: 'window';
  /** Fixed windows (tumbling, sliding, cumulative) keep `windows`, sessions keep `sessions`. */
  readonly windows: 'fixed' | 'session';
  /** The window assigner and allowed lateness when saved, for people (not checked). */
  readonly assigner: string;
  readonly allowedLatenessMs: number;
}

/** Where one partition stood in the savepoint. */
export interface SavepointPartition {
  readonly offset: number;
  /** null for -infinity. */
  readonly watermark: number | null;
  readonly idle: boolean;
  /** The key of its state object, relative to the savepoint's folder. */
  readonly state: string;
}

/** One commit group as saved: the committed checkpoint its head named. */
export interface SavepointGroup {
  readonly group: string;
  /** The checkpoint the state comes from: its history and epoch, for people. */
  readonly lineage: string;
  readonly epoch: number;
  /** The group's job watermark; null for -infinity. */
  readonly watermark: number | null;
  /** The processing time of the saved commit (idleness carries on from it). */
  readonly processingTime: number;
  /** True when the group had drained (every window fired) before it was saved. */
  readonly drained: boolean;
  readonly partitions: Readonly<Record<string, SavepointPartition>>;
  /** What the saved history had committed in all (its rows went to the old tables, not here). */
  readonly totals: CheckpointCounts;
}

export interface SavepointManifest {
  readonly format: 'floe-savepoint';
  readonly version: 1;
  /** The savepoint's folder name. */
  readonly id: string;
  /** The job's name when saved. */
  readonly job: string;
  /** The job's definition (pipeline, assigner, lateness, columns), as a run directory records it. */
  readonly definition: string;
  /** How commit groups are cut: one per partition (`partition`) or one for the job (`job`). */
  readonly scope: WindowScope;
  readonly operators: readonly SavepointOperator[];
  /** Wall-clock time of the savepoint, epoch ms. */
  readonly createdAt: number;
  readonly floeVersion: string;
  readonly groups: readonly SavepointGroup[];
  readonly counts: {
    readonly groups: number;
    readonly partitions: number;
    /** Records applied, summed over partitions (offset + 1 each). */
    readonly records: number;
  };
}

/** A savepoint found in a location. */
export interface SavepointEntry {
  /** Its folder, relative to the location listed. */
  readonly path: string;
  readonly manifest: SavepointManifest;
}

export interface CreateSavepointOptions {
  /** The job's definition, as the CLI records it (cli/run.ts `jobDefinition`). */
  readonly definition: string;
  readonly floeVersion: string;
  /** @default Date.now */
  readonly clock?: () => number;
  /** Reads of a group tried again when a concurrent commit's cleanup deleted what they read. @default 5 */
  readonly maxAttempts?: number;
}

/** The job's state is not what a savepoint or restore needs: one line for the user. */
export class SavepointError extends FloeError {
  constructor(message: string) {
    super(message);
    this.name = 'SavepointError';
  }
}

/**
 * Writes a savepoint of the job's committed state to `target` and returns it. Each group is read
 * through one head read: its manifest and the objects it names are immutable, so the copy is that
 * commit's state exactly. A concurrent commit's cleanup may delete objects of an older manifest
 * while they are read; the group is then read again from its new head.
 */
export async function createSavepoint(
  stores: CheckpointStores,
  job: Job<unknown>,
  target: ObjectStore,
  options: CreateSavepointOptions,
): Promise<SavepointEntry> {
  const clock = options.clock ?? Date.now;
  const jobId = safeName(job.name);
  const heads = (await listHeads(stores.heads, jobId)).filter((h) => h.head.value.manifest !== null);
  if (heads.length === 0) {
    throw new SavepointError(
      `Job ${job.name} has no committed state in these stores: nothing to save (run it first, or check --dir / --state).`,
    );
  }
  const layoutProblem = scopeProblem(
    job.plan.scope,
    heads.map((h) => h.group),
  );
  if (layoutProblem !== undefined)
    throw new SavepointError(
      `The stores of job ${job.name} ${layoutProblem}; is this the job that wrote them?`,
    );

  const createdAt = clock();
  const id = `savepoint-${jobId}-${compactTime(createdAt)}-${randomBytes(3).toString('hex')}`;
  const reader = new CheckpointReader(stores.checkpoints, job.name);
  const maxAttempts = options.maxAttempts ?? 5;
  const groups: SavepointGroup[] = [];
  const windowsKind: 'fixed' | 'session' = job.plan.assigner.merging ? 'session' : 'fixed';
  for (const { group } of heads) {
    const { manifest, partitions } = await readGroup(stores, reader, jobId, group, maxAttempts);
    const saved: Record<string, SavepointPartition> = {};
    await Promise.all(
      [...partitions].map(async ([pid, p]) => {
        const key = `state/${group}/${safeName(pid)}.json`;
        await target.put(`${id}/${key}`, new TextEncoder().encode(encodePartition(p)), { ifNoneMatch: '*' });
        const checkpoint = manifest.partitions[pid]!;
        saved[pid] = {
          offset: checkpoint.offset,
          watermark: checkpoint.watermark,
          idle: checkpoint.idle,
          state: key,
        };
      }),
    );
    groups.push({
      group,
      lineage: manifest.lineage,
      epoch: manifest.epoch,
      watermark: manifest.watermark,
      processingTime: manifest.processingTime,
      drained: manifest.drained,
      partitions: Object.fromEntries(Object.entries(saved).sort(([a], [b]) => a.localeCompare(b))),
      totals: manifest.totals,
    });
  }
  const all = groups.flatMap((g) => Object.values(g.partitions));
  const manifest: SavepointManifest = {
    format: 'floe-savepoint',
    version: 1,
    id,
    job: job.name,
    definition: options.definition,
    scope: job.plan.scope,
    operators: [
      {
        uid: operatorUid(job.plan),
        kind: 'window',
        windows: windowsKind,
        assigner: String(job.plan.assigner),
        allowedLatenessMs: job.plan.allowedLatenessMs,
      },
    ],
    createdAt,
    floeVersion: options.floeVersion,
    groups,
    counts: {
      groups: groups.length,
      partitions: all.length,
      records: all.reduce((sum, p) => sum + p.offset + 1, 0),
    },
  };
  await target.put(`${id}/${SAVEPOINT_MANIFEST}`, encodeSavepoint(manifest), { ifNoneMatch: '*' });
  return { path: id, manifest };
}

/** One group's committed state as of one head read, read again if a concurrent cleanup got in the way. */
async function readGroup(
  stores: CheckpointStores,
  reader: CheckpointReader,
  jobId: string,
  group: string,
  maxAttempts: number,
): Promise<{ manifest: CheckpointManifest; partitions: Map<string, PartitionState> }> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    try {
      const item = await stores.heads.get(headKey(jobId, group));
      if (item === undefined) throw new SavepointError(`The head of group ${group} disappeared.`);
      const head = decodeHead(item);
      const key = head.value.manifest;
      if (key === null) throw new SavepointError(`The head of group ${group} names no checkpoint.`);
      const manifest = await reader.manifestOf(jobId, group, head);
      const loaded = await loadCommittedState(reader, head, key, manifest, newEngineState());
      return { manifest, partitions: loaded.state.partitions };
    } catch (error) {
      if (error instanceof SavepointError) throw error;
      lastError = error;
    }
  }
  throw lastError;
}

export interface RestoreOptions {
  /** Drop the saved state of operators the job no longer has (Flink's flag). @default false */
  readonly allowNonRestoredState?: boolean;
  /** @default Date.now */
  readonly clock?: () => number;
}

export interface RestoreReport {
  readonly groups: number;
  readonly partitions: number;
  /** Operator ids whose state was dropped (`allowNonRestoredState`). */
  readonly dropped: readonly string[];
  /** Operator ids whose state the job took over. */
  readonly restored: readonly string[];
}

/**
 * Starts `job` in `stores` from a savepoint: per group a new history (a new lineage, so its
 * snapshot ids never meet the old run's) whose first commit, epoch 1, names a manifest with the
 * saved offsets, watermarks and state, and no table files: the job's tables hold only what it
 * produces after the restore. The stores must hold nothing of the job yet.
 */
export async function restoreSavepoint(
  source: ObjectStore,
  job: Job<unknown>,
  stores: CheckpointStores,
  options: RestoreOptions = {},
): Promise<{ manifest: SavepointManifest; report: RestoreReport }> {
  const clock = options.clock ?? Date.now;
  const saved = await readSavepoint(source, '');
  const jobId = safeName(job.name);
  if (
    (await listHeads(stores.heads, jobId)).length > 0 ||
    // Partition logs and their lease: log heads past the savepoint's offsets would skip the replay.
    (await stores.heads.list(logHeadPrefix(jobId))).length > 0 ||
    (await stores.heads.get(consumerLeaseKey(jobId))) !== undefined ||
    (await stores.checkpoints.list(`${jobId}/`)).length > 0
  ) {
    throw new SavepointError(
      `The stores already hold state of job ${job.name}; restore into new, empty stores.`,
    );
  }
  if (saved.scope !== job.plan.scope) {
    throw new SavepointError(
      `Savepoint ${saved.id} keeps its state ${layoutName(saved.scope)}, but job ${job.name} ${layoutName(job.plan.scope)} (keyBy ${job.plan.scope === 'partition' ? 'with' : 'without'} isKafkaKey): the key layout cannot change across a savepoint.`,
    );
  }
  const uid = operatorUid(job.plan);
  const restored: string[] = [];
  const dropped: string[] = [];
  for (const operator of saved.operators) {
    if (operator.uid === uid) {
      const kind = job.plan.assigner.merging ? 'session' : 'fixed';
      if (operator.windows !== kind) {
        throw new SavepointError(
          `Savepoint ${saved.id} holds ${operator.windows} windows for operator ${uid}, but the job's window is now ${kind === 'session' ? 'a session window' : 'a fixed window'}: the state cannot be read by it. Give the operator a new uid and restore with --allow-non-restored-state to start its windows empty.`,
        );
      }
      restored.push(operator.uid);
    } else if (options.allowNonRestoredState === true) {
      dropped.push(operator.uid);
    } else {
      throw new SavepointError(
        `Savepoint ${saved.id} holds state of operator "${operator.uid}", which job ${job.name} does not have (its window operator is "${uid}"): set .uid('${operator.uid}') on the job, or restore with --allow-non-restored-state to drop that state.`,
      );
    }
  }
  const encoder = new TextEncoder();
  let partitionCount = 0;
  for (const group of saved.groups) {
    const texts = await Promise.all(
      Object.entries(group.partitions).map(async ([pid, p]) => {
        const bytes = await source.get(p.state);
        if (bytes === undefined)
          throw new SavepointError(`Savepoint ${saved.id} is incomplete: ${p.state} is missing.`);
        const state = decodePartition(new TextDecoder().decode(bytes));
        if (dropped.length > 0) {
          state.windows.clear();
          state.sessions.clear();
        }
        return [pid, encodePartition(state)] as const;
      }),
    );
    const head = await readOrCreateHead(stores.heads, jobId, group.group);
    if (head.value.epoch !== 0) {
      throw new SavepointError(
        `Group ${group.group} of job ${job.name} committed while the savepoint was being restored; restore into new, empty stores.`,
      );
    }
    const now = clock();
    const attempt = newAttemptId(now);
    const partitions: Record<string, PartitionCheckpoint> = {};
    await Promise.all(
      texts.map(async ([pid, text]) => {
        const key = stateKey(jobId, group.group, pid, 1, attempt);
        await stores.checkpoints.put(key, encoder.encode(text), { ifNoneMatch: '*' });
        const p = group.partitions[pid]!;
        partitions[pid] = { offset: p.offset, watermark: p.watermark, idle: p.idle, state: key, deltas: [] };
      }),
    );
    partitionCount += texts.length;
    const key = manifestKey(jobId, group.group, 1, attempt);
    const manifest: CheckpointManifest = {
      format: 1,
      job: jobId,
      group: group.group,
      lineage: head.value.lineage,
      epoch: 1,
      attempt,
      createdAt: now,
      processingTime: group.processingTime,
      previous: null,
      watermark: group.watermark,
      drained: group.drained,
      partitions,
      publishes: [],
      counts: zeroCounts(),
      totals: zeroCounts(),
    };
    await stores.checkpoints.put(key, encodeManifest(manifest), { ifNoneMatch: '*' });
    await writeHead(stores.heads, jobId, group.group, headFor(manifest, key), head.version);
  }
  return {
    manifest: saved,
    report: { groups: saved.groups.length, partitions: partitionCount, dropped, restored },
  };
}

/** Every complete savepoint under `location`, oldest first (a savepoint's own folder lists itself). */
export async function listSavepoints(location: ObjectStore): Promise<SavepointEntry[]> {
  const keys = (await location.list('')).filter(
    (key) => key === SAVEPOINT_MANIFEST || key.endsWith(`/${SAVEPOINT_MANIFEST}`),
  );
  const entries = await Promise.all(
    keys.map(async (key) => {
      const path = key.slice(0, -SAVEPOINT_MANIFEST.length).replace(/\/$/, '');
      return { path, manifest: await readSavepoint(location, path) };
    }),
  );
  return entries.sort((a, b) => a.manifest.createdAt - b.manifest.createdAt || a.path.localeCompare(b.path));
}

/** Reads and checks the manifest of the savepoint in folder `path` of `store` ('' for its root). */
export async function readSavepoint(store: ObjectStore, path: string): Promise<SavepointManifest> {
  const key = path === '' ? SAVEPOINT_MANIFEST : `${path}/${SAVEPOINT_MANIFEST}`;
  const bytes = await store.get(key);
  if (bytes === undefined) {
    throw new SavepointError(
      `${store.uri(key)} does not exist: not a complete Floe savepoint (floe savepoint list shows those of a location).`,
    );
  }
  let parsed: Partial<SavepointManifest> | null;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes)) as Partial<SavepointManifest> | null;
  } catch (error) {
    throw new SavepointError(`${store.uri(key)} is not valid JSON: ${(error as Error).message}`);
  }
  if (
    parsed === null ||
    typeof parsed !== 'object' ||
    parsed.format !== 'floe-savepoint' ||
    parsed.version !== 1 ||
    !Array.isArray(parsed.groups) ||
    !Array.isArray(parsed.operators) ||
    (parsed.scope !== 'partition' && parsed.scope !== 'job')
  ) {
    throw new SavepointError(
      `${store.uri(key)} is not a Floe savepoint of version 1; was it written by another version of Floe?`,
    );
  }
  return parsed as SavepointManifest;
}

export function encodeSavepoint(manifest: SavepointManifest): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`);
}

/** Why group names do not fit a scope, or undefined when they do. */
function scopeProblem(scope: WindowScope, groups: readonly string[]): string | undefined {
  const jobGroups = groups.filter((g) => g === 'job').length;
  if (scope === 'job' && jobGroups !== groups.length)
    return 'hold per-partition commit groups, but the job keeps one group for all partitions';
  if (scope === 'partition' && jobGroups > 0)
    return 'hold one commit group for all partitions, but the job keeps one per partition';
  return undefined;
}

function layoutName(scope: WindowScope): string {
  return scope === 'partition' ? 'per partition' : 'for the whole job (keys span partitions)';
}

/** `20250102T030405123Z`: sorts as time, safe in keys and file names. */
function compactTime(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:.]/g, '');
}
