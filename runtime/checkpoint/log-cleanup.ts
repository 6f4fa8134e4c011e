/**
 * Deletes partition log segments nothing will read again (partition-log.ts): those whose records
 * the job group has consumed, and orphans of appends that never committed.
 */
import { deleteObjects, type ObjectStore } from '../stores/object-store.ts';
import { logSegmentPrefix, parseLogSegmentKey, safeName } from './layout.ts';
import type { LogHead } from './partition-log.ts';

export interface LogCleanupOptions {
  /** The job group's committed offset of a partition (-1 for one it never saw). */
  readonly consumed: (partition: string) => number;
}

/**
 * A segment goes when its last offset is at or below the consumed offset: the consumer reads only
 * segments above it, and the consumed offset never goes back. A segment above it that no log head
 * lists goes only once its partition's log head has moved past it (the head's offset is at or
 * above the segment's last): the append that wrote it names it only in a head write conditional
 * on the version it read, whose offset was below the segment's first, and the head has moved
 * past that version, so that write can no longer succeed. Age is no guard: an appender that stalled between its segment
 * and its head write (a frozen process, a clock behind the others) would still commit a head
 * naming a segment that is gone. Returns the number deleted.
 */
export async function cleanupLogSegments(
  checkpoints: ObjectStore,
  jobId: string,
  heads: readonly LogHead[],
  options: LogCleanupOptions,
): Promise<number> {
  const listed = new Set<string>();
  const logOffset = new Map<string, number>();
  for (const head of heads) {
    for (const s of head.value.segments) listed.add(s.key);
    logOffset.set(safeName(head.key.slice(head.key.lastIndexOf('/') + 1)), head.value.offset);
  }
  const doomed: string[] = [];
  for (const key of await checkpoints.list(logSegmentPrefix(jobId))) {
    const segment = parseLogSegmentKey(jobId, key);
    if (segment === undefined) continue;
    if (segment.last <= options.consumed(segment.partition)) doomed.push(key);
    else if (!listed.has(key) && segment.last <= (logOffset.get(segment.partition) ?? -1)) doomed.push(key);
  }
  await deleteObjects(checkpoints, doomed);
  return doomed.length;
}
