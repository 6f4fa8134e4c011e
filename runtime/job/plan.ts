import type { AggregateFunction } from '../aggregates/aggregate-function.ts';
import type { Columns, Table } from '../sink/table.ts';
import type { FormatBase } from '../source/format.ts';
import type { IdleTopicWatermark, TimestampAssigner } from '../time/watermark-strategy.ts';
import type { TimeWindow } from '../windows/time-window.ts';
import type { WindowAssigner } from '../windows/window-assigner.ts';

/** A grouping key. Keys are compared by value, so composite keys are joined into a string. */
export type Key = string | number | bigint | boolean;

/** What to do with a Kafka record whose value is null (a tombstone). */
export type TombstonePolicy = 'skip' | 'dead-letter';

/** One operator before the window, applied to every element in order. */
export type Transform =
  | { readonly kind: 'map'; readonly fn: (element: unknown) => unknown }
  | { readonly kind: 'filter'; readonly fn: (element: unknown) => boolean }
  | { readonly kind: 'flatMap'; readonly fn: (element: unknown) => Iterable<unknown> }
  | { readonly kind: 'dedupe'; readonly id: (element: unknown) => unknown; readonly ttlMs: number };

/**
 * Where a window's records come from, which decides the watermark that fires it.
 * - `partition`: every record of a key arrives on one Kafka partition, so that partition's own
 *   watermark fires its windows.
 * - `job`: a key's records may arrive on any partition; per-partition partial accumulators are
 *   merged when the job watermark (minimum over active partitions) passes the window.
 */
export type WindowScope = 'partition' | 'job';

/**
 * The compiled, untyped form of a job that the engine runs. Users build it through the typed
 * stream API; the types there guarantee the functions here fit together.
 */
export interface JobPlan {
  readonly name: string;
  readonly source: {
    readonly value: FormatBase<unknown>;
    readonly tombstones: TombstonePolicy;
    /** Present for fromKafkaRecords: elements are KafkaMessages, keys decoded with this format. */
    readonly message?: { readonly key: FormatBase<unknown> };
  };
  readonly watermarks: {
    readonly outOfOrdernessMs: number;
    readonly timestampAssigner: TimestampAssigner<unknown> | undefined;
    readonly idlenessMs: number | undefined;
    /** What the job watermark does while every partition is idle. */
    readonly idleTopicWatermark: IdleTopicWatermark;
    readonly description: string;
  };
  readonly transforms: readonly Transform[];
  /** Absent for windowAll: every record has the same key. */
  readonly keySelector: ((element: unknown) => Key) | undefined;
  readonly scope: WindowScope;
  readonly assigner: WindowAssigner<unknown>;
  readonly allowedLatenessMs: number;
  readonly aggregate: AggregateFunction<unknown, unknown, unknown>;
  /** Turns a window's result into output rows. */
  readonly emit: (key: Key, window: TimeWindow, result: unknown) => unknown;
  readonly table: Table<Columns>;
  /**
   * The window operator's id, as set by `.uid(name)`: what a savepoint files its window state
   * under, and what a restore matches it by. Unset: {@link operatorUid} derives it from the job name.
   */
  readonly uid?: string | undefined;
}

/** The window operator's id: `.uid(name)`, or `<job name>.window` when the job sets none. */
export function operatorUid(plan: Pick<JobPlan, 'name' | 'uid'>): string {
  return plan.uid ?? `${plan.name}.window`;
}
