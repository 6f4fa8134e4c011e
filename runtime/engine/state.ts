import type { Key } from '../job/plan.ts';

/**
 * A session of one key on one partition: [start, end) and its accumulator. The engine never
 * changes a session that existed before the current batch: it replaces it in its list with a
 * copy first and changes the copy. So the same object means the same session as at the end of
 * the last batch, which is how a state delta tells the sessions it need not write again
 * (runtime/checkpoint/state-delta.ts).
 */
export interface SessionPartial {
  start: number;
  end: number;
  acc: unknown;
}

/**
 * Everything the engine knows about one Kafka partition. Window state is kept per partition
 * as mergeable partial accumulators, so that keys arriving on several partitions (processed by
 * concurrent invocations) can be merged when their window fires.
 */
export interface PartitionState {
  /** `<topic>-<partition>`, as in the Lambda event. */
  readonly id: string;
  readonly topic: string;
  readonly partition: number;
  /** The last offset applied; -1 before any. Records at or below it are redeliveries. */
  offset: number;
  /** The largest event time seen; -Infinity before the first record. */
  maxTimestamp: number;
  /** W_p as of the end of the last batch; never decreases. */
  watermark: number;
  /** Processing time of the last delivery with new records (idleness clock); null before any. */
  lastActiveAt: number | null;
  idle: boolean;
  /** Fixed windows: window end → key → accumulator. Indexed by end so firing finds them. */
  readonly windows: Map<number, Map<Key, unknown>>;
  /** Session windows: key → sessions sorted by start, neither overlapping nor touching. */
  readonly sessions: Map<Key, SessionPartial[]>;
  /** dedupeBy: id → event time until which it is remembered. */
  readonly seenIds: Map<Key, number>;
}

/** The engine's whole state: one entry per partition, plus the job watermark. */
export interface EngineState {
  readonly partitions: Map<string, PartitionState>;
  /** Minimum watermark over active partitions as of the last batch end; never decreases. */
  jobWatermark: number;
}

export interface PartitionRef {
  readonly topic: string;
  readonly partition: number;
}

export function partitionId(topic: string, partition: number): string {
  return `${topic}-${partition}`;
}

export function newPartitionState(topic: string, partition: number): PartitionState {
  return {
    id: partitionId(topic, partition),
    topic,
    partition,
    offset: -1,
    maxTimestamp: Number.NEGATIVE_INFINITY,
    watermark: Number.NEGATIVE_INFINITY,
    lastActiveAt: null,
    idle: false,
    windows: new Map(),
    sessions: new Map(),
    seenIds: new Map(),
  };
}

/**
 * A fresh state. Name the topic's partitions when they are known (the local runner knows them):
 * the job watermark then waits for partitions that have not delivered yet, instead of firing
 * windows before their records arrive.
 */
export function newEngineState(partitions: readonly PartitionRef[] = []): EngineState {
  const state: EngineState = { partitions: new Map(), jobWatermark: Number.NEGATIVE_INFINITY };
  for (const { topic, partition } of partitions) {
    const p = newPartitionState(topic, partition);
    state.partitions.set(p.id, p);
  }
  return state;
}
