/**
 * Where the commit protocol keeps things, and the names it gives them. Every name an attempt
 * writes carries the epoch it is for and the attempt's own id, so two attempts (a retry, a
 * zombie, a concurrent invocation) never write the same key, and cleanup can tell from a name
 * alone which epoch and attempt an object belongs to.
 */
import { createHash, randomBytes } from 'node:crypto';

/** The head item of a commit group in the state store. */
export function headKey(job: string, group: string): string {
  return `floe/${job}/heads/${group}`;
}

export function headPrefix(job: string): string {
  return `floe/${job}/heads/`;
}

/** The log head of a partition of a job whose windows merge partitions (partition-log.ts). */
export function logHeadKey(job: string, partition: string): string {
  return `${logHeadPrefix(job)}${partition}`;
}

export function logHeadPrefix(job: string): string {
  return `floe/${job}/logs/`;
}

/** The lease that lets one process at a time consume the partition logs into the job group. */
export function consumerLeaseKey(job: string): string {
  return `floe/${job}/leases/log-consumer`;
}

/** The folder of partition log segments under a job's checkpoints: no group has this name (groups end in a digit, or are `job`). */
const LOGS_FOLDER = 'partition-logs';

export function logSegmentPrefix(job: string, partition?: string): string {
  return `${job}/${LOGS_FOLDER}/${partition === undefined ? '' : `${safeName(partition)}/`}`;
}

/**
 * A segment of a partition log, holding offsets `first` to `last`: unique per attempt, never
 * overwritten. The offsets are in the name so that cleanup can judge a segment no head lists.
 */
export function logSegmentKey(
  job: string,
  partition: string,
  first: number,
  last: number,
  attempt: string,
): string {
  return `${logSegmentPrefix(job, partition)}${first}-${last}-${attempt}.json`;
}

/** The partition and offsets of a segment key, or undefined for another object. */
export function parseLogSegmentKey(
  job: string,
  key: string,
): { partition: string; first: number; last: number; attempt: string } | undefined {
  const prefix = logSegmentPrefix(job);
  if (!key.startsWith(prefix)) return undefined;
  const match = /^([^/]+)\/(-?\d+)-(-?\d+)-([0-9a-z]{8}[0-9a-f]{8})\.json$/.exec(key.slice(prefix.length));
  if (match === null) return undefined;
  return { partition: match[1]!, first: Number(match[2]), last: Number(match[3]), attempt: match[4]! };
}

/**
 * The table committer's item in the state store: when the last publish round started and how far
 * each group is published. Not under {@link headPrefix}, which lists the groups.
 */
export function committerKey(job: string): string {
  return `floe/${job}/committer`;
}

/** Everything of one group in the checkpoint object store lives under this prefix. */
export function groupPrefix(job: string, group: string): string {
  return `${job}/${group}/`;
}

export function manifestPrefix(job: string, group: string): string {
  return `${groupPrefix(job, group)}manifests/`;
}

/** `<job>/<group>/manifests/<epoch, 12 digits>-<attempt>.json`: sorted by epoch when listed. */
export function manifestKey(job: string, group: string, epoch: number, attempt: string): string {
  return `${manifestPrefix(job, group)}${pad(epoch)}-${attempt}.json`;
}

export function statePrefix(job: string, group: string): string {
  return `${groupPrefix(job, group)}state/`;
}

/** One partition's engine state as of an epoch: `<job>/<group>/state/<partition>/<epoch>-<attempt>.json`. */
export function stateKey(
  job: string,
  group: string,
  partition: string,
  epoch: number,
  attempt: string,
): string {
  return `${statePrefix(job, group)}${partition}/${pad(epoch)}-${attempt}.json`;
}

/**
 * A delta of one partition's engine state, committed at an epoch on top of the partition's base
 * and earlier deltas: `<job>/<group>/state/<partition>/<epoch>-<attempt>.delta.json`.
 */
export function stateDeltaKey(
  job: string,
  group: string,
  partition: string,
  epoch: number,
  attempt: string,
): string {
  return `${statePrefix(job, group)}${partition}/${pad(epoch)}-${attempt}.delta.json`;
}

/**
 * The start of the data file names one group's history (its lineage) stages into a table's
 * `data/` folder. The lineage keeps cleanup of one history away from the files of another that
 * shares the table (a fresh state store writing into an existing warehouse, a local run next to
 * a deployed one), and of a group whose name merely starts the same (`bids-1`, `bids-1-0`).
 */
export function dataFilePrefix(job: string, group: string, lineage: string): string {
  return `${job}-${group}-${lineage}-`;
}

/** `<job>-<group>-<lineage>-<epoch>-<attempt>.parquet`, inside the table's `data/` folder. */
export function dataFileName(
  job: string,
  group: string,
  lineage: string,
  epoch: number,
  attempt: string,
): string {
  return `${dataFilePrefix(job, group, lineage)}${pad(epoch)}-${attempt}.parquet`;
}

/**
 * `round-<job>-<group>-<lineage>-<first epoch>-<last epoch>[-<attempt>].parquet`: the file in
 * which a publish round writes the rows that the group's manifests of those epochs hold
 * (inline-rows.ts). The epochs fix the rows (manifests are immutable), so rounds racing over the
 * same epochs write the same name with the same bytes; `attempt` only when the name is taken
 * by other bytes (another Floe version's encoding). It does not start with
 * {@link dataFilePrefix}, so the sweeps that judge a commit's files by their epoch and attempt
 * never take it for an attempt's file that did not commit; cleanup's sweep of all data files
 * judges these by the table (cleanup.ts).
 */
export function roundDataFilePrefix(job: string, group: string, lineage: string): string {
  return `round-${job}-${group}-${lineage}-`;
}

/** The epochs of a round's file name (see {@link roundDataFileName}), or undefined for another name. */
export function parseRoundDataFileName(name: string): { first: number; last: number } | undefined {
  const match = /round-.*-(\d{12})-(\d{12})(-[0-9a-z]{8}[0-9a-f]{8})?\.parquet$/.exec(name);
  return match === null ? undefined : { first: Number(match[1]), last: Number(match[2]) };
}

export function roundDataFileName(
  job: string,
  group: string,
  lineage: string,
  first: number,
  last: number,
  attempt?: string,
): string {
  return `${roundDataFilePrefix(job, group, lineage)}${pad(first)}-${pad(last)}${attempt === undefined ? '' : `-${attempt}`}.parquet`;
}

/** The epoch and attempt in a manifest, state (base or delta) or data file name, or undefined for another name. */
export function parseEpochAttempt(name: string): { epoch: number; attempt: string } | undefined {
  const match = /(\d{12})-([0-9a-z]{8}[0-9a-f]{8})(\.delta)?\.(json|parquet)$/.exec(name);
  return match === null ? undefined : { epoch: Number(match[1]), attempt: match[2]! };
}

/**
 * A new attempt id: the start time (base 36, 8 characters) then 8 random hex digits. The time
 * lets cleanup judge the age of an attempt's leftovers from their names, without object dates.
 */
export function newAttemptId(now: number): string {
  return `${Math.max(0, Math.floor(now)).toString(36).padStart(8, '0').slice(-8)}${randomBytes(4).toString('hex')}`;
}

/** When an attempt started, from its id. */
export function attemptStartedAt(attempt: string): number {
  return Number.parseInt(attempt.slice(0, 8), 36);
}

/**
 * The Iceberg snapshot id of one table's files of one commit. It is fixed by the commit, so a
 * publish retried by anyone, at any time, commits the same id, and an id already in the table
 * means the publish happened. The lineage (random, made when the group's head is created) keeps
 * ids of a fresh state store from matching snapshots an earlier one published.
 */
export function snapshotIdFor(lineage: string, group: string, epoch: number, table: string): bigint {
  const digest = createHash('sha256').update(`${lineage}\0${group}\0${epoch}\0${table}`).digest();
  const id = digest.readBigUInt64BE(0) & 0x7fff_ffff_ffff_ffffn;
  return id === 0n ? 1n : id;
}

/**
 * The Iceberg snapshot id of one publish round's append to a table: a function of exactly what
 * it appends, the epochs of each group's history, so that two rounds that append the same files
 * give the same id and no two that append different files do. An append of one epoch of one
 * group has that epoch's own id ({@link snapshotIdFor}, the id its manifest records), as when
 * every commit published itself.
 */
export function roundSnapshotId(
  table: string,
  included: readonly {
    readonly lineage: string;
    readonly group: string;
    readonly epochs: readonly number[];
  }[],
): bigint {
  const only = included.length === 1 ? included[0]! : undefined;
  if (only !== undefined && only.epochs.length === 1) {
    return snapshotIdFor(only.lineage, only.group, only.epochs[0]!, table);
  }
  const hash = createHash('sha256').update(`round\0${table}`);
  const sorted = [...included].sort((a, b) =>
    a.group === b.group ? (a.lineage < b.lineage ? -1 : 1) : a.group < b.group ? -1 : 1,
  );
  for (const { lineage, group, epochs } of sorted) hash.update(`\0${lineage}\0${group}\0${epochs.join(',')}`);
  const id = hash.digest().readBigUInt64BE(0) & 0x7fff_ffff_ffff_ffffn;
  return id === 0n ? 1n : id;
}

/** A group name safe for keys and file names: `job`, or the partition id with unsafe characters replaced. */
export function safeName(text: string): string {
  return text.replace(/[^A-Za-z0-9_.-]/g, '_');
}

function pad(epoch: number): string {
  return String(epoch).padStart(12, '0');
}

/**
 * True for the small, hot checkpoint objects that AWS keeps as DynamoDB items while they are
 * small (aws-stores.ts): engine state objects (bases and deltas, `<job>/<group>/state/…`) and
 * partition log segments (`<job>/partition-logs/…`); false for manifests and anything else.
 */
export function isStateObjectKey(key: string): boolean {
  const parts = key.split('/', 3);
  return parts[2] === 'state' || (parts[1] === LOGS_FOLDER && parts.length === 3);
}

/** Which kinds of checkpoint objects a list prefix can reach: state objects, others, or both. */
export function checkpointPrefixReach(prefix: string): { state: boolean; other: boolean } {
  const parts = prefix.split('/');
  // `<job>/partition-logs/…` holds segments only, once the folder name is complete.
  if (parts.length > 2 && parts[1] === LOGS_FOLDER) return { state: true, other: false };
  const third = parts[2];
  // `<job>/<group>/<kind>`: decided only once the prefix names the kind completely.
  const decided = parts.length > 3;
  if (!decided || third === undefined) return { state: true, other: true };
  return { state: third === 'state', other: third !== 'state' };
}
