import {
  type AggregateFunction,
  collecting,
  type ReduceFunction,
  reducing,
} from '../aggregates/aggregate-function.ts';
import { FloeConfigError } from '../errors.ts';
import type { Columns, RowOf, Table } from '../sink/table.ts';
import { requireDuration } from '../time/duration.ts';
import type { WatermarkStrategy } from '../time/watermark-strategy.ts';
import type { TimeWindow } from '../windows/time-window.ts';
import type { WindowAssigner } from '../windows/window-assigner.ts';
import { Job } from './job.ts';
import type { JobPlan, Key, Transform, WindowScope } from './plan.ts';

/** Rows a window function returns: one row, or several (none is an empty array). */
export type Rows<R> = R | readonly R[];

/** Turns a keyed window's aggregate into rows. */
export type WindowFunction<K, OUT, R> = (key: K, window: TimeWindow, result: OUT) => Rows<R>;
/** Turns a window over all records (windowAll) into rows. */
export type AllWindowFunction<OUT, R> = (window: TimeWindow, result: OUT) => Rows<R>;

// Each stage is immutable and carries the plan built so far, so a stream can be branched safely.
type PartialPlan = Omit<Partial<JobPlan>, 'transforms'> & {
  readonly name: string;
  readonly transforms: readonly Transform[];
};

/** The records of a source, before event time is assigned. */
export class SourceStream<T> {
  /** @internal */
  constructor(private readonly plan: PartialPlan) {}

  /**
   * Says how event time is read and how watermarks follow it. Every job needs one, because
   * windows, lateness and firing are all in event time.
   */
  assignTimestampsAndWatermarks(strategy: WatermarkStrategy<T>): DataStream<T> {
    return new DataStream<T>({
      ...this.plan,
      watermarks: {
        outOfOrdernessMs: strategy.outOfOrdernessMs,
        timestampAssigner: strategy.timestampAssigner as JobPlan['watermarks']['timestampAssigner'],
        idlenessMs: strategy.idlenessMs,
        idleTopicWatermark: strategy.idleTopicWatermark,
        description: strategy.toString(),
      },
    });
  }
}

/** A stream of timestamped elements. Elements keep their record's event time through map and flatMap. */
export class DataStream<T> {
  /** @internal */
  constructor(private readonly plan: PartialPlan) {}

  map<U>(fn: (element: T) => U): DataStream<U> {
    return this.with({ kind: 'map', fn: fn as (element: unknown) => unknown });
  }

  filter(predicate: (element: T) => boolean): DataStream<T> {
    return this.with({ kind: 'filter', fn: predicate as (element: unknown) => boolean });
  }

  flatMap<U>(fn: (element: T) => Iterable<U>): DataStream<U> {
    return this.with({ kind: 'flatMap', fn: fn as (element: unknown) => Iterable<unknown> });
  }

  /**
   * Drops an element whose id was already seen on the same partition within `ttlMs` of event
   * time (the id is remembered until the partition's watermark passes its timestamp + ttl).
   * Producer retries and replays put duplicates on the partition of the original, which is
   * why the scope is the partition.
   */
  dedupeBy(id: (element: T) => Key, options: { readonly ttlMs: number }): DataStream<T> {
    const ttlMs = requireDuration('dedupeBy ttlMs', options.ttlMs);
    return this.with({ kind: 'dedupe', id: id as (element: unknown) => unknown, ttlMs });
  }

  /**
   * Groups elements by key for keyed windows.
   *
   * Set `isKafkaKey` when the key is the Kafka record key (or a function of it): all of a key's
   * records then arrive on one partition, and windows fire on that partition's watermark instead
   * of waiting for the slowest partition. Leave it unset for any other field; results are then
   * merged across partitions, and equal what one process reading everything would give.
   *
   * @default options.isKafkaKey false
   */
  keyBy<K extends Key>(
    selector: (element: T) => K,
    options: { readonly isKafkaKey?: boolean } = {},
  ): KeyedStream<T, K> {
    const scope: WindowScope = options.isKafkaKey ? 'partition' : 'job';
    return new KeyedStream<T, K>({ ...this.plan, keySelector: selector as (element: unknown) => Key, scope });
  }

  /** Windows over every element of the job, whatever partition it came from (Flink's windowAll). */
  windowAll(assigner: WindowAssigner<T>): AllWindowedStream<T> {
    return new AllWindowedStream<T>(
      { ...this.plan, keySelector: undefined, scope: 'job', assigner: assigner as WindowAssigner<unknown> },
      0,
    );
  }

  private with<U>(transform: Transform): DataStream<U> {
    return new DataStream<U>({ ...this.plan, transforms: [...this.plan.transforms, transform] });
  }
}

export class KeyedStream<T, K extends Key> {
  /** @internal */
  constructor(private readonly plan: PartialPlan) {}

  window(assigner: WindowAssigner<T>): WindowedStream<T, K> {
    return new WindowedStream<T, K>({ ...this.plan, assigner: assigner as WindowAssigner<unknown> }, 0);
  }
}

abstract class WindowedBase<T> {
  /** @internal */
  constructor(
    protected readonly plan: PartialPlan,
    protected readonly latenessMs: number,
  ) {}

  protected finish<R>(
    aggregate: AggregateFunction<T, unknown, unknown>,
    emit: (key: Key, window: TimeWindow, result: unknown) => Rows<R>,
  ): ResultStream<R> {
    return new ResultStream<R>({
      ...this.plan,
      allowedLatenessMs: this.latenessMs,
      aggregate: aggregate as AggregateFunction<unknown, unknown, unknown>,
      emit,
    });
  }
}

/** Keyed windows, ready for a window function. */
export class WindowedStream<T, K extends Key> extends WindowedBase<T> {
  /**
   * Keeps a window's state for `latenessMs` after it fired. A record arriving in that time
   * re-fires the window with the updated full result (a late firing, an update for sinks).
   * Records later than that go to the late-data side output.
   *
   * @default 0
   */
  allowedLateness(latenessMs: number): WindowedStream<T, K> {
    return new WindowedStream<T, K>(
      this.plan,
      requireDuration('allowedLateness', latenessMs, { allowZero: true }),
    );
  }

  aggregate<ACC, OUT, R>(
    aggregate: AggregateFunction<T, ACC, OUT>,
    toRows: WindowFunction<K, OUT, R>,
  ): ResultStream<R> {
    return this.finish(aggregate as AggregateFunction<T, unknown, unknown>, (key, window, result) =>
      toRows(key as K, window, result as OUT),
    );
  }

  reduce<R>(reduce: ReduceFunction<T>, toRows: WindowFunction<K, T, R>): ResultStream<R> {
    return this.aggregate(reducing(reduce), toRows);
  }

  /** Gives the window function every element of the window. Keeps them all as state: prefer aggregate. */
  process<R>(fn: WindowFunction<K, readonly T[], R>): ResultStream<R> {
    return this.aggregate(collecting<T>(), fn);
  }
}

/** Windows over all elements (windowAll), ready for a window function. */
export class AllWindowedStream<T> extends WindowedBase<T> {
  /** @see WindowedStream.allowedLateness @default 0 */
  allowedLateness(latenessMs: number): AllWindowedStream<T> {
    return new AllWindowedStream<T>(
      this.plan,
      requireDuration('allowedLateness', latenessMs, { allowZero: true }),
    );
  }

  aggregate<ACC, OUT, R>(
    aggregate: AggregateFunction<T, ACC, OUT>,
    toRows: AllWindowFunction<OUT, R>,
  ): ResultStream<R> {
    return this.finish(aggregate as AggregateFunction<T, unknown, unknown>, (_key, window, result) =>
      toRows(window, result as OUT),
    );
  }

  reduce<R>(reduce: ReduceFunction<T>, toRows: AllWindowFunction<T, R>): ResultStream<R> {
    return this.aggregate(reducing(reduce), toRows);
  }

  process<R>(fn: AllWindowFunction<readonly T[], R>): ResultStream<R> {
    return this.aggregate(collecting<T>(), fn);
  }
}

/** Window results as rows, waiting for the table they go to. */
export class ResultStream<R> {
  /**
   * Type only, never set: makes ResultStream covariant in R, so `sinkTo` can check rows against
   * the table. Public because declaration files drop the types of private members, which would
   * let any row reach any table in a project that uses the packaged Floe.
   */
  declare readonly rowType?: R;

  /** @internal */
  constructor(private readonly plan: PartialPlan) {}

  /**
   * Names the window operator with a stable id, as Flink's `uid`: a savepoint files the window
   * state under it, and `floe savepoint restore` gives that state to the operator of the same id
   * in the (possibly changed) job. Set it before the first savepoint you mean to keep. Without
   * it the id is `<job name>.window`, so renaming the job would orphan its state.
   */
  uid(id: string): ResultStream<R> {
    if (typeof id !== 'string' || !UID.test(id)) {
      throw new FloeConfigError(
        `Job ${this.plan.name}: uid "${String(id)}" is not a valid operator id. Use 1-128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit.`,
      );
    }
    return new ResultStream<R>({ ...this.plan, uid: id });
  }

  /**
   * Sends the rows to a table and completes the job. The compiler checks that the window
   * function's rows have every column of the table, with its type.
   */
  sinkTo<C extends Columns>(this: ResultStream<RowOf<NoInfer<C>>>, table: Table<C>): Job<RowOf<C>> {
    return Job.fromPlan<RowOf<C>>(completePlan({ ...this.plan, table }));
  }
}

function completePlan(plan: PartialPlan): JobPlan {
  const { source, watermarks, scope, assigner, allowedLatenessMs, aggregate, emit, table } = plan;
  if (
    !source ||
    !watermarks ||
    !scope ||
    !assigner ||
    allowedLatenessMs === undefined ||
    !aggregate ||
    !emit ||
    !table
  ) {
    throw new FloeConfigError(
      `Job ${plan.name} is incomplete: it needs a source, watermarks, a window and a table.`,
    );
  }
  return {
    name: plan.name,
    source,
    watermarks,
    transforms: plan.transforms,
    keySelector: plan.keySelector,
    scope,
    assigner,
    allowedLatenessMs,
    aggregate,
    emit,
    table,
    ...(plan.uid === undefined ? {} : { uid: plan.uid }),
  };
}

const UID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

export function sourceStream<T>(name: string, source: JobPlan['source']): SourceStream<T> {
  return new SourceStream<T>({ name, transforms: [], source });
}
