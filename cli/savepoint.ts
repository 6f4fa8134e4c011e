/**
 * `floe savepoint create|list|restore`: Flink's savepoints for Floe jobs (runtime/checkpoint/
 * savepoint.ts does the work; docs/design.md, "Savepoints", has the format and the guarantees).
 * Savepoints go to a directory or to an S3 location (`s3://bucket/prefix`), whatever stores the
 * job runs on.
 */
import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { errorCode } from '../adapters/local/durable-file.ts';
import { LocalObjectStore } from '../adapters/local/local-object-store.ts';
import { CheckpointedProcessor } from '../runtime/checkpoint/checkpointed-processor.ts';
import {
  createSavepoint,
  listSavepoints,
  restoreSavepoint,
  SAVEPOINT_MANIFEST,
  SavepointError,
  type SavepointManifest,
} from '../runtime/checkpoint/savepoint.ts';
import { FloeJobError } from '../runtime/errors.ts';
import { operatorUid } from '../runtime/job/plan.ts';
import { toJson } from '../runtime/output-json.ts';
import type { ObjectStore } from '../runtime/stores/object-store.ts';
import { loadCheckedJob } from './load-job.ts';
import { formatTime, renderTable } from './render.ts';
import { claimJob, jobDefinition } from './run.ts';
import { onAws, type StoreFlags, storesFor, storesLocation } from './stores.ts';
import { UsageError } from './usage-error.ts';

/** A directory or `s3://bucket/prefix` as an ObjectStore. The AWS SDK is loaded only for S3. */
export async function savepointLocation(location: string): Promise<ObjectStore> {
  if (location === '')
    throw new UsageError('A savepoint location must be a directory or s3://<bucket>/<prefix>.');
  if (/^s3:\/\//i.test(location)) {
    const { S3ObjectStore } = await import('../adapters/aws/s3-object-store.ts');
    return new S3ObjectStore(location);
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location))
    throw new UsageError(`Savepoint location "${location}": use a directory or s3://<bucket>/<prefix>.`);
  return new LocalObjectStore(resolve(location));
}

export interface SavepointStoreOptions {
  readonly jobPath: string;
  readonly dir?: string | undefined;
  readonly stores?: StoreFlags | undefined;
  readonly json: boolean;
  readonly typecheck?: boolean;
}

export interface CreateOptions extends SavepointStoreOptions {
  /** A directory or s3://bucket/prefix; the savepoint is a new folder in it. */
  readonly to: string;
  /** Fire every open window first and commit that (as floe run's drain). */
  readonly drain: boolean;
}

/** `floe savepoint create <job.ts> (--dir D | --state … --objects …) --to <location> [--drain]`. */
export async function createCommand(options: CreateOptions, out: (text: string) => void): Promise<void> {
  const dir = storesDir('create', options);
  const target = await savepointLocation(options.to);
  const { job } = await loadCheckedJob(options.jobPath, { typecheck: options.typecheck ?? true });
  if (!onAws(options.stores) && !(await exists(dir)))
    throw new UsageError(`Run directory ${dir} does not exist: nothing to save.`);
  const stores = await storesFor(job.name, options.stores, dir);
  let drained = 0;
  if (options.drain) {
    const processor = new CheckpointedProcessor(job, { stores });
    const outcome = await processor.drain().catch((error: unknown) => {
      if (error instanceof FloeJobError) throw new UsageError(error.message);
      throw error;
    });
    drained = outcome.rows.length;
  }
  const entry = await createSavepoint(stores, job, target, {
    definition: jobDefinition(job),
    floeVersion: floeVersion(),
  }).catch(userError);
  const where = target.uri(entry.path);
  if (options.json) {
    out(toJson({ savepoint: where, drainedRows: options.drain ? drained : null, ...entry.manifest }) ?? '{}');
    return;
  }
  const m = entry.manifest;
  out(
    [
      `floe savepoint create ${job.name}: ${where}`,
      `  from ${storesLocation(options.stores, dir)}: ${count(m.counts.groups, 'commit group', 'commit groups')}, ${count(m.counts.partitions, 'partition', 'partitions')}, ${count(m.counts.records, 'record', 'records')} applied (${offsetsSummary(m)})`,
      `  operator ${m.operators.map((o) => o.uid).join(', ')}; watermark ${watermarkSummary(m)}`,
      ...(options.drain
        ? [`  drained first: every open window fired (${count(drained, 'row', 'rows')} committed)`]
        : []),
      'Restore it into a new run directory with:',
      `  npx floe savepoint restore ${where.startsWith('file://') ? join(options.to, entry.path) : where} ${options.jobPath} --dir <new dir>`,
    ].join('\n'),
  );
}

/** `floe savepoint list <location>`. */
export async function listCommand(
  options: { readonly location: string; readonly json: boolean },
  out: (text: string) => void,
): Promise<void> {
  const store = await savepointLocation(options.location);
  const entries = await listSavepoints(store).catch(userError);
  if (options.json) {
    out(
      toJson(
        entries.map((e) => ({
          savepoint: store.uri(e.path),
          job: e.manifest.job,
          createdAt: e.manifest.createdAt,
          operators: e.manifest.operators.map((o) => o.uid),
          offsets: Object.fromEntries(
            e.manifest.groups.flatMap((g) => Object.entries(g.partitions).map(([id, p]) => [id, p.offset])),
          ),
          records: e.manifest.counts.records,
        })),
      ) ?? '[]',
    );
    return;
  }
  if (entries.length === 0) {
    out(`No savepoints in ${options.location}.`);
    return;
  }
  out(
    renderTable(
      entries.map((e) => ({
        created: formatTime(e.manifest.createdAt),
        job: e.manifest.job,
        records: e.manifest.counts.records.toLocaleString('en'),
        offsets: offsetsSummary(e.manifest),
        savepoint: e.path === '' ? options.location : e.path,
      })),
    ),
  );
}

export interface RestoreCommandOptions extends SavepointStoreOptions {
  readonly savepoint: string;
  readonly allowNonRestoredState: boolean;
}

/** `floe savepoint restore <savepoint> <job.ts> (--dir D | --state … --objects …) [--allow-non-restored-state]`. */
export async function restoreCommand(
  options: RestoreCommandOptions,
  out: (text: string) => void,
): Promise<void> {
  const dir = storesDir('restore', options);
  const source = await savepointLocation(
    options.savepoint.replace(new RegExp(`/${SAVEPOINT_MANIFEST}$`), ''),
  );
  const { job } = await loadCheckedJob(options.jobPath, { typecheck: options.typecheck ?? true });
  if (!onAws(options.stores)) {
    const entries = await readdir(dir).catch((error: unknown) => {
      if (errorCode(error) === 'ENOENT') return [] as string[];
      throw new UsageError(`Cannot read ${dir}: ${(error as Error).message}`);
    });
    if (entries.length > 0)
      throw new UsageError(`${dir} is not empty: a savepoint restores into a new or empty --dir.`);
  }
  const stores = await storesFor(job.name, options.stores, dir);
  const { manifest, report } = await restoreSavepoint(source, job, stores, {
    allowNonRestoredState: options.allowNonRestoredState,
  }).catch(userError);
  // The run directory records the job it now holds, as floe run would: a later run of another
  // definition there is refused.
  if (!onAws(options.stores)) await claimJob(dir, job, { committed: true });
  if (options.json) {
    out(
      toJson({
        savepoint: options.savepoint,
        job: job.name,
        stores: storesLocation(options.stores, dir),
        ...report,
      }) ?? '{}',
    );
    return;
  }
  out(
    [
      `floe savepoint restore ${job.name}: ${manifest.id} (job ${manifest.job}, saved ${formatTime(manifest.createdAt)}) into ${storesLocation(options.stores, dir)}`,
      `  ${count(report.groups, 'commit group', 'commit groups')}, ${count(report.partitions, 'partition', 'partitions')} at epoch 1 of a new history; offsets ${offsetsSummary(manifest)}`,
      `  operator ${operatorUid(job.plan)}: ${report.restored.length > 0 ? 'window state restored' : 'starts empty'}${report.dropped.length > 0 ? `; dropped the state of ${report.dropped.join(', ')} (--allow-non-restored-state)` : ''}`,
      "  the job's tables start empty: they get what it produces from here",
      `Resume with floe run (or invoke) on ${onAws(options.stores) ? 'these stores' : `--dir ${dir}`}: it goes on after the saved offsets.`,
    ].join('\n'),
  );
}

function storesDir(command: string, options: SavepointStoreOptions): string {
  if (options.dir === undefined && !onAws(options.stores))
    throw new UsageError(
      `savepoint ${command} needs the job's stores: --dir <run directory>, or --state dynamodb://<table> --objects s3://<bucket>/<prefix>.`,
    );
  return options.dir ?? '';
}

/** A savepoint's refusal is the user's to act on: one line, exit 2. */
function userError(error: unknown): never {
  if (error instanceof SavepointError) throw new UsageError(error.message);
  throw error;
}

async function exists(dir: string): Promise<boolean> {
  try {
    await readdir(dir);
    return true;
  } catch {
    return false;
  }
}

/** `t-0@41, t-1@39` (offsets of the first partitions), or `none`. */
function offsetsSummary(m: SavepointManifest): string {
  const offsets = m.groups
    .flatMap((g) => Object.entries(g.partitions))
    .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }));
  if (offsets.length === 0) return 'none';
  const shown = offsets.slice(0, 4).map(([id, p]) => `${id}@${p.offset}`);
  if (offsets.length > shown.length) shown.push(`${offsets.length - shown.length} more`);
  return shown.join(', ');
}

function watermarkSummary(m: SavepointManifest): string {
  const marks = m.groups.map((g) => (g.watermark === null ? Number.NEGATIVE_INFINITY : g.watermark));
  if (marks.length === 0) return '-inf';
  const low = Math.min(...marks);
  return low >= Number.MAX_VALUE ? '+inf (drained)' : formatTime(low);
}

function count(value: number, one: string, many: string): string {
  return `${value.toLocaleString('en')} ${value === 1 ? one : many}`;
}

function floeVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}
