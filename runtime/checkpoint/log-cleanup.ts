/**
 * Deletes partition log segments nothing will read again (partition-log.ts): those whose records
 * the job group has consumed, and orphans of appends that never committed.
 */
import { deleteObjects, type ObjectStore } from '../stores/object-store.ts';
import { attemptStartedAt, logSegmentPrefix, parseLogSegmentKey } from './layout.ts';
import type { LogHead } from './partition-log.ts';

export interface LogCleanupOptions {
  /** The job group's committed offset of a partition (-1 for one it never saw). */
  readonly consumed: (partition: string) => number;
  readonly now: number;
  /** How old an append attempt must be before its unlisted segment counts as an orphan. */
  readonly graceMs: number;
}

/**
 * A segment goes when its last offset is at or below the consumed offset: the consumer reads only
 * segments above it, and the consumed offset never goes back. A segment above it that no log head
 * lists is an orphan (its head write failed or never came) once its attempt is older than the
 * grace period; younger, its head write may still be in flight. Returns the number deleted.
 */
export async function cleanupLogSegments(
  checkpoints: ObjectStore,
  jobId: string,
  heads: readonly LogHead[],
  options: LogCleanupOptions,
): Promise<number> {
  const listed = new Set<string>();
  for (const head of heads) for (const s of head.value.segments) listed.add(s.key);
  const doomed: string[] = [];
  for (const key of await checkpoints.list(logSegmentPrefix(jobId))) {
    const segment = parseLogSegmentKey(jobId, key);
    if (segment === undefined) continue;
    if (segment.last <= options.consumed(segment.partition)) doomed.push(key);
    else if (!listed.has(key) && options.now - attemptStartedAt(segment.attempt) > options.graceMs)
      doomed.push(key);
  }
  await deleteObjects(checkpoints, doomed);
  return doomed.length;
}
