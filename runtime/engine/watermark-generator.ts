import type { BatchOptions } from './engine.ts';
import type { EngineState, PartitionState } from './state.ts';

/** How watermarks are generated: the part of a job's WatermarkStrategy the engine needs. */
export interface WatermarkPolicy {
  /** W_p = maxTimestampSeen_p - outOfOrdernessMs - 1. */
  readonly outOfOrdernessMs: number;
  /** Absent: partitions never count as idle. */
  readonly idlenessMs?: number | undefined;
  /** While every partition is idle: hold the job watermark (default), or follow the wall clock. */
  readonly idleTopicWatermark?: 'hold' | 'processing-time';
}

/** The watermarks as they stood before a batch ended, which firing compares against. */
export interface WatermarkAdvance {
  /** Each partition's watermark before the batch. */
  readonly previous: ReadonlyMap<PartitionState, number>;
  /** The job watermark before the batch. */
  readonly jobBefore: number;
}

/**
 * Floe's WatermarkGenerator (Flink's term): advances every partition's watermark and the job
 * watermark once, at the end of a micro-batch.
 *
 * Flink emits watermarks per event or periodically; a micro-batch engine moves them once per
 * batch (as Spark does), after every record of the batch was assigned, so records are judged
 * late against the watermark at the batch's start and a replayed batch gives the same result.
 * The per-record part (tracking each partition's largest timestamp) stays inline in the engine's
 * hot loop, where it is one comparison.
 *
 * - A partition's watermark is its largest timestamp minus the out-of-orderness bound minus 1;
 *   it never goes back. At the end of a bounded input it goes to +infinity.
 * - A partition that delivered nothing for the idleness timeout of processing time is idle; it is
 *   active again as soon as it delivers a record with an event time.
 * - The job watermark is the minimum over active partitions, never goes back, and holds when
 *   every partition is idle; with `idleTopicWatermark: 'processing-time'` it then moves to the
 *   wall clock minus the bound minus 1 instead, and so does every partition's watermark (for jobs
 *   that fire per partition, whose group is that one partition).
 */
export function advanceWatermarks(
  state: EngineState,
  delivered: ReadonlySet<PartitionState>,
  options: BatchOptions,
  policy: WatermarkPolicy,
): WatermarkAdvance {
  const { outOfOrdernessMs, idlenessMs } = policy;
  const previous = new Map<PartitionState, number>();
  for (const p of state.partitions.values()) {
    previous.set(p, p.watermark);
    if (delivered.has(p) || p.lastActiveAt === null) {
      p.lastActiveAt = options.now;
      p.idle = false;
    }
    const candidate = options.endOfInput ? Number.POSITIVE_INFINITY : p.maxTimestamp - outOfOrdernessMs - 1;
    if (candidate > p.watermark) p.watermark = candidate;
    if (idlenessMs !== undefined && !delivered.has(p) && options.now - p.lastActiveAt! >= idlenessMs)
      p.idle = true;
  }

  const jobBefore = state.jobWatermark;
  let lowest = Number.POSITIVE_INFINITY;
  let active = 0;
  for (const p of state.partitions.values()) {
    if (p.idle) continue;
    active++;
    if (p.watermark < lowest) lowest = p.watermark;
  }
  if (options.endOfInput) state.jobWatermark = Number.POSITIVE_INFINITY;
  else if (active > 0) {
    if (lowest > state.jobWatermark) state.jobWatermark = lowest;
  } else if (policy.idleTopicWatermark === 'processing-time' && state.partitions.size > 0) {
    // Every partition is idle: as if a record stamped with the wall clock had just arrived.
    const fallback = (options.wallClock ?? options.now) - outOfOrdernessMs - 1;
    for (const p of state.partitions.values()) if (fallback > p.watermark) p.watermark = fallback;
    if (fallback > state.jobWatermark) state.jobWatermark = fallback;
  }
  // Otherwise every partition is idle and the watermark holds.
  return { previous, jobBefore };
}
