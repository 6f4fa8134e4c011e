/**
 * Partition logs: how a job whose windows merge partitions (keys that span partitions, windowAll)
 * takes a batch of one partition without waiting for any other partition.
 *
 * An invocation of partition p does not run the engine. It appends the batch's new records to
 * p's log: one immutable segment object with the records, then one conditional write of p's log
 * head, which lists the segments the job group has not consumed yet. Only invocations of p ever
 * write p's log head, so partitions never contend. The job group (checkpointed-processor.ts) then
 * consumes the segments of every partition in one batch, through the same commit protocol as
 * before: its committed offsets say which records are consumed, so a record is applied once
 * however often segments are read again.
 *
 * See "Partition logs" in docs/design.md for the invariants and the crash analysis.
 */
import { FloeError } from '../errors.ts';
import type { KafkaEventRecord } from '../source/kafka-event.ts';
import type { ObjectStore } from '../stores/object-store.ts';
import { getOrCreate, type JsonValue, type StateStore, type VersionedItem } from '../stores/state-store.ts';
import { logHeadKey, logHeadPrefix, logSegmentKey } from './layout.ts';
import { decodeSegmentRecords, encodeSegment } from './log-segment-codec.ts';

/** One segment of a partition log: the object holding records `first`..`last` (offsets). */
export interface LogSegment {
  readonly key: string;
  readonly first: number;
  readonly last: number;
  readonly records: number;
}

/** What a partition's log head holds. */
export interface LogHeadValue {
  /** Appends so far. */
  readonly epoch: number;
  /** The last offset appended; -1 before any. */
  readonly offset: number;
  /** Segments the job group had not consumed when the head was written, oldest first. */
  readonly segments: readonly LogSegment[];
}

export interface LogHead {
  readonly key: string;
  readonly version: number;
  readonly value: LogHeadValue;
}

/** The result of one append. */
export interface LogAppend {
  /** The partition, `<topic>-<partition>`. */
  readonly partition: string;
  /** Records appended (0: all were in the log or consumed already). */
  readonly appended: number;
  /** Records skipped as already in the log or consumed. */
  readonly skipped: number;
  /** The head's epoch after the append, and the segment written (none when nothing was new). */
  readonly epoch: number;
  readonly segment?: LogSegment;
}

/**
 * Appends the records of one partition (offset order) that are neither in its log nor consumed
 * (at or below `consumed`, the job group's committed offset for the partition). Writes the
 * segment, then the head on condition that it did not move: a concurrent append of the same
 * partition (a redelivery racing a slow invocation) makes this one throw ConditionFailedError,
 * and its retry finds the records appended. Consumed segments are dropped from the head.
 *
 * The segment of the records above `consumed` is written while the head is read, not after: a
 * batch is new to the log but for redeliveries, so this saves the append a round trip. When the
 * head shows some of them logged already, that segment is never listed (cleanup deletes it once
 * the head has passed its last offset, as it does a crashed append's) and the records still new
 * go into a segment of their own.
 */
export async function appendToLog(
  heads: StateStore,
  checkpoints: ObjectStore,
  jobId: string,
  records: readonly KafkaEventRecord[],
  consumed: number,
  attempt: string,
): Promise<LogAppend> {
  const first = records[0];
  if (first === undefined) throw new FloeError('appendToLog needs at least one record.');
  const partition = `${first.topic}-${first.partition}`;
  const unconsumed = recordsAbove(records, consumed);
  const written = writeSegment(checkpoints, jobId, partition, unconsumed, attempt);
  // Settled even if the head read fails first, so that no rejection is left unhandled.
  written.catch(() => undefined);
  const head = await readOrCreateLogHead(heads, jobId, partition);
  const fresh = recordsAbove(unconsumed, head.value.offset);
  const skipped = records.length - fresh.length;
  if (fresh.length === 0) {
    await written;
    return { partition, appended: 0, skipped, epoch: head.value.epoch };
  }
  // The segment of exactly the new records: the one written meanwhile, or, when the log held
  // some of them already, one more (there are new records, so neither is undefined).
  const spare = await written;
  const segment =
    fresh.length === unconsumed.length
      ? spare!
      : (await writeSegment(checkpoints, jobId, partition, fresh, attempt))!;
  const epoch = head.value.epoch + 1;
  const value: LogHeadValue = {
    epoch,
    offset: segment.last,
    segments: [...head.value.segments.filter((s) => s.last > consumed), segment],
  };
  await heads.put(head.key, encodeLogHead(value), { expectedVersion: head.version });
  return { partition, appended: fresh.length, skipped, epoch, segment };
}

/** The records (offset order) above `offset`. */
function recordsAbove(records: readonly KafkaEventRecord[], offset: number): readonly KafkaEventRecord[] {
  let start = 0;
  while (start < records.length && records[start]!.offset <= offset) start++;
  return start === 0 ? records : records.slice(start);
}

/** Writes `records` as one segment (conditional create); undefined when there are none. */
async function writeSegment(
  checkpoints: ObjectStore,
  jobId: string,
  partition: string,
  records: readonly KafkaEventRecord[],
  attempt: string,
): Promise<LogSegment | undefined> {
  if (records.length === 0) return undefined;
  const first = records[0]!.offset;
  const last = records[records.length - 1]!.offset;
  const segment: LogSegment = {
    key: logSegmentKey(jobId, partition, first, last, attempt),
    first,
    last,
    records: records.length,
  };
  await checkpoints.put(segment.key, encodeSegment(records), { ifNoneMatch: '*' });
  return segment;
}

/** Every partition log head of a job. */
export async function listLogHeads(heads: StateStore, jobId: string): Promise<LogHead[]> {
  return (await heads.list(logHeadPrefix(jobId))).map(decodeLogHead);
}

/**
 * The segments not consumed yet, per partition, oldest first: those whose last offset is above
 * the job group's committed offset for their partition (-1 for a partition it never saw).
 */
export function pendingSegments(
  logs: readonly LogHead[],
  consumedOffset: (partition: string) => number,
): { partition: string; segments: LogSegment[] }[] {
  const pending: { partition: string; segments: LogSegment[] }[] = [];
  for (const log of logs) {
    const partition = partitionOfLogKey(log.key);
    const consumed = consumedOffset(partition);
    const segments = log.value.segments.filter((s) => s.last > consumed);
    if (segments.length > 0) pending.push({ partition, segments });
  }
  return pending;
}

/** Reads a segment's records. A segment a head lists must exist: its absence is an error. */
export async function readSegment(
  checkpoints: ObjectStore,
  segment: LogSegment,
): Promise<KafkaEventRecord[]> {
  const bytes = await checkpoints.get(segment.key);
  if (bytes === undefined) {
    throw new FloeError(
      `Partition log segment ${segment.key} (offsets ${segment.first}-${segment.last}) is missing, but a log head names it and the job group has not consumed it. The checkpoint store lost an object it must keep; restore it, or restart the job from a savepoint and replay the topic from the savepoint's offsets.`,
    );
  }
  return decodeSegment(bytes, segment);
}

/** Decodes a segment and checks it holds the records its log head lists. */
export function decodeSegment(bytes: Uint8Array, segment: LogSegment): KafkaEventRecord[] {
  const records = decodeSegmentRecords(bytes, segment.key);
  if (
    records.length !== segment.records ||
    records[0]?.offset !== segment.first ||
    records[records.length - 1]?.offset !== segment.last
  ) {
    throw new FloeError(
      `Partition log segment ${segment.key} does not hold the ${segment.records} records (offsets ${segment.first}-${segment.last}) its log head lists. Another program wrote to Floe's checkpoint store under this key.`,
    );
  }
  return records;
}

function partitionOfLogKey(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

async function readOrCreateLogHead(heads: StateStore, jobId: string, partition: string): Promise<LogHead> {
  const empty: LogHeadValue = { epoch: 0, offset: -1, segments: [] };
  return decodeLogHead(await getOrCreate(heads, logHeadKey(jobId, partition), encodeLogHead(empty)));
}

function encodeLogHead(value: LogHeadValue): JsonValue {
  return {
    epoch: value.epoch,
    offset: value.offset,
    segments: value.segments.map((s) => [s.key, s.first, s.last, s.records]),
  };
}

/** Validates a stored log head; a malformed one is an error naming the key, never a silent cast. */
export function decodeLogHead(item: VersionedItem): LogHead {
  const v = item.value;
  const ok =
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    Number.isSafeInteger(v.epoch) &&
    Number.isSafeInteger(v.offset) &&
    Array.isArray(v.segments) &&
    v.segments.every(
      (s) =>
        Array.isArray(s) &&
        s.length === 4 &&
        typeof s[0] === 'string' &&
        Number.isSafeInteger(s[1]) &&
        Number.isSafeInteger(s[2]) &&
        Number.isSafeInteger(s[3]),
    );
  if (!ok) {
    throw new FloeError(
      `Partition log head ${item.key} (version ${item.version}) is not a Floe log head: expected {epoch, offset, segments}, got ${JSON.stringify(v).slice(0, 200)}. Another program wrote to Floe's state store under this key; give this job its own table or prefix.`,
    );
  }
  const { epoch, offset, segments } = v as {
    epoch: number;
    offset: number;
    segments: [string, number, number, number][];
  };
  return {
    key: item.key,
    version: item.version,
    value: {
      epoch,
      offset,
      segments: segments.map(([key, first, last, records]) => ({ key, first, last, records })),
    },
  };
}
