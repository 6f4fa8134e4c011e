/**
 * A small harness for engine tests: a JSON source of test events, a result table, and a runner
 * that feeds batches cut from a KafkaLog to one Engine and keeps every result.
 *
 * It imports the modules directly (not 'floe'), so that it does not depend on every format.
 */

import type { AggregateFunction } from '../../runtime/aggregates/aggregate-function.ts';
import { count } from '../../runtime/aggregates/aggregates.ts';
import type { BatchResult, EmittedRow } from '../../runtime/engine/batch-result.ts';
import { Engine } from '../../runtime/engine/engine.ts';
import { type EngineState, newEngineState } from '../../runtime/engine/state.ts';
import { decodeState, encodeState } from '../../runtime/engine/state-codec.ts';
import type { Job } from '../../runtime/job/job.ts';
import { job } from '../../runtime/job/job-builder.ts';
import type { Key, TombstonePolicy } from '../../runtime/job/plan.ts';
import type { SourceStream } from '../../runtime/job/streams.ts';
import { mulberry32 } from '../../runtime/seeded-random.ts';
import { type RowOf, table } from '../../runtime/sink/table.ts';
import type { FormatBase } from '../../runtime/source/format.ts';
import { WatermarkStrategy } from '../../runtime/time/watermark-strategy.ts';
import type { TimeWindow } from '../../runtime/windows/time-window.ts';
import { TumblingEventTimeWindows } from '../../runtime/windows/tumbling.ts';
import type { WindowAssigner } from '../../runtime/windows/window-assigner.ts';
import { DEFAULT_TOPIC, type KafkaEventItem, KafkaLog, mskEvent } from './kafka-events.ts';

/** The test event: a key, an event time and optional fields some tests use. */
export interface Ev {
  readonly key: string;
  readonly ts: number;
  /** A number to sum. */
  readonly n?: number;
  /** An id for dedupeBy. */
  readonly id?: string;
  /** A session gap for dynamic gaps. */
  readonly gap?: number;
}

export function ev(key: string, ts: number, extra: Partial<Omit<Ev, 'key' | 'ts'>> = {}): Ev {
  return { key, ts, ...extra };
}

/** A JSON format of our own, so the engine tests do not depend on runtime/source/formats. */
export function jsonFormat<T>(): FormatBase<T> {
  return {
    type: 'json',
    decode: (b64: string) => JSON.parse(Buffer.from(b64, 'base64').toString()) as T,
    toString: () => 'Json',
  };
}

export const results = table('test.results', {
  key: 'string',
  window_start: 'timestamptz',
  window_end: 'timestamptz',
  value: 'long',
});
export type ResultRow = RowOf<typeof results.columns>;

/** The key windowAll rows are reported under by `toAllRow`. */
export const ALL = '*';

export function toRow(key: Key, window: TimeWindow, value: number): ResultRow {
  return { key: String(key), window_start: window.start, window_end: window.end, value };
}

export function toAllRow(window: TimeWindow, value: number): ResultRow {
  return toRow(ALL, window, value);
}

/** The start of a job over test events. */
export function events<T = Ev>(options: { readonly tombstones?: TombstonePolicy } = {}): SourceStream<T> {
  return job('engine-test').fromKafka({ value: jsonFormat<T>(), ...options });
}

/** Event time from `Ev.ts`, bounded out-of-orderness `outOfOrdernessMs`. */
export function eventTime(outOfOrdernessMs = 0): WatermarkStrategy<Ev> {
  return WatermarkStrategy.forBoundedOutOfOrderness<Ev>(outOfOrdernessMs).withTimestampAssigner((e) => e.ts);
}

export interface CountJobOptions {
  /** @default TumblingEventTimeWindows.of(10) */
  readonly assigner?: WindowAssigner<Ev>;
  /** @default eventTime(0) */
  readonly watermarks?: WatermarkStrategy<Ev>;
  /** @default 0 */
  readonly lateness?: number;
  /** Group by the Kafka key (partition scope). @default false */
  readonly isKafkaKey?: boolean;
  /** windowAll instead of keyBy. @default false */
  readonly all?: boolean;
  /** @default count() */
  readonly aggregate?: AggregateFunction<Ev, unknown, number>;
}

/** The workhorse job: counts (or aggregates) test events per key and window. */
export function countJob(options: CountJobOptions = {}): Job<ResultRow> {
  const assigner = options.assigner ?? TumblingEventTimeWindows.of(10);
  const aggregate = options.aggregate ?? (count<Ev>() as AggregateFunction<Ev, unknown, number>);
  const stream = events().assignTimestampsAndWatermarks(options.watermarks ?? eventTime(0));
  if (options.all) {
    return stream
      .windowAll(assigner)
      .allowedLateness(options.lateness ?? 0)
      .aggregate(aggregate, toAllRow)
      .sinkTo(results);
  }
  return stream
    .keyBy((e) => e.key, { isKafkaKey: options.isKafkaKey ?? false })
    .window(assigner)
    .allowedLateness(options.lateness ?? 0)
    .aggregate(aggregate, toRow)
    .sinkTo(results);
}

/** A fired row, flattened for assertions. */
export interface Fired {
  readonly key: string;
  readonly start: number;
  readonly end: number;
  readonly value: number;
  readonly update: boolean;
}

export function flatten(rows: readonly EmittedRow<ResultRow>[]): Fired[] {
  return rows
    .map(({ row, update }) => ({
      key: row.key,
      start: row.window_start,
      end: row.window_end,
      value: row.value,
      update,
    }))
    .sort(compareFired);
}

/** The rows of one batch result, sorted by window then key. */
export function fired(result: BatchResult<ResultRow>): Fired[] {
  return flatten(result.rows);
}

function compareFired(a: Fired, b: Fired): number {
  return (
    a.start - b.start ||
    a.end - b.end ||
    (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) ||
    Number(a.update) - Number(b.update)
  );
}

export interface HarnessOptions {
  /** Partitions of the topic known up front (the job watermark waits for them). @default none */
  readonly partitions?: readonly number[];
  /** Encode and decode the state between batches, as a checkpoint would. @default false */
  readonly checkpoint?: boolean;
}

/**
 * Runs one job over batches, keeping every result. `send` appends events to partitions of its
 * KafkaLog and processes them as one batch; `batch` processes items as given (replays, mixes).
 */
export class Harness<Row = ResultRow> {
  readonly engine: Engine<Row>;
  readonly log = new KafkaLog();
  readonly results: BatchResult<Row>[] = [];
  state: EngineState;
  /** Processing time passed to the engine; tests move it for idleness. */
  now = 0;

  constructor(
    job: Job<Row>,
    private readonly options: HarnessOptions = {},
  ) {
    this.engine = new Engine(job);
    this.state = newEngineState(
      (options.partitions ?? []).map((partition) => ({ topic: DEFAULT_TOPIC, partition })),
    );
  }

  /** Appends events (partition → events) and processes them as one batch. */
  send(
    byPartition: Readonly<Record<number, readonly Ev[]>>,
    options: { now?: number } = {},
  ): BatchResult<Row> {
    return this.sendGroups(
      Object.entries(byPartition).map(([partition, elements]) => [Number(partition), elements]),
      options,
    );
  }

  /** Appends events to partitions and processes them as one batch, the groups in the order given. */
  sendGroups(groups: readonly PartitionGroup[], options: { now?: number } = {}): BatchResult<Row> {
    const items: KafkaEventItem[] = [];
    for (const [partition, elements] of groups) {
      items.push(
        ...this.log.append(
          partition,
          elements.map((value) => ({ value, timestamp: value.ts, key: value.key })),
        ),
      );
    }
    return this.batch(items, options);
  }

  /** Processes the items as one batch (an MSK event). */
  batch(
    items: readonly KafkaEventItem[],
    options: { now?: number; endOfInput?: boolean } = {},
  ): BatchResult<Row> {
    if (options.now !== undefined) this.now = options.now;
    if (this.options.checkpoint) this.state = decodeState(encodeState(this.state));
    const result = this.engine.processBatch(this.state, mskEvent(items), {
      now: this.now,
      endOfInput: options.endOfInput ?? false,
    });
    this.results.push(result);
    return result;
  }

  /** Ends the input: every pending window fires. */
  drain(): BatchResult<Row> {
    if (this.options.checkpoint) this.state = decodeState(encodeState(this.state));
    const result = this.engine.drain(this.state, this.now);
    this.results.push(result);
    return result;
  }

  /** Every row emitted so far, in emission order. */
  get rows(): EmittedRow<Row>[] {
    return this.results.flatMap((r) => r.rows);
  }

  get late() {
    return this.results.flatMap((r) => r.late);
  }

  get deadLetters() {
    return this.results.flatMap((r) => r.deadLetters);
  }

  get watermark(): number {
    return this.state.jobWatermark;
  }

  partitionWatermark(partition: number): number | undefined {
    return this.state.partitions.get(`${DEFAULT_TOPIC}-${partition}`)?.watermark;
  }
}

/**
 * The table a sink would hold after applying every row in order: a late firing (update) replaces
 * the earlier row of the same key and window.
 */
export function finalTable(rows: readonly EmittedRow<ResultRow>[]): Fired[] {
  const byWindow = new Map<string, Fired>();
  for (const { row } of rows) {
    const { key, window_start: start, window_end: end, value } = row;
    byWindow.set(`${key}|${start}|${end}`, { key, start, end, value, update: false });
  }
  return [...byWindow.values()].sort(compareFired);
}

/** One partition's events in a batch. */
export type PartitionGroup = readonly [partition: number, elements: readonly Ev[]];

/**
 * Cuts each partition's events into consecutive runs and deals them into batches: a batch takes
 * the next 0..maxRun events of a random subset of partitions, the groups in random order.
 */
export function cutIntoBatches(
  rnd: () => number,
  perPartition: readonly (readonly Ev[])[],
  maxRun = 6,
): PartitionGroup[][] {
  const cursors = perPartition.map(() => 0);
  const batches: PartitionGroup[][] = [];
  while (cursors.some((c, p) => c < perPartition[p]!.length)) {
    const groups: PartitionGroup[] = [];
    for (const p of shuffle(
      rnd,
      perPartition.map((_, p) => p),
    )) {
      const run = randomInt(rnd, 0, maxRun);
      const elements = perPartition[p]!.slice(cursors[p], cursors[p]! + run);
      cursors[p]! += elements.length;
      if (elements.length > 0) groups.push([p, elements]);
    }
    batches.push(groups);
  }
  return batches;
}

export function shuffle<T>(rnd: () => number, values: T[]): T[] {
  for (let i = values.length - 1; i > 0; i--) {
    const j = randomInt(rnd, 0, i);
    [values[i], values[j]] = [values[j]!, values[i]!];
  }
  return values;
}

/** A seeded pseudo-random generator (mulberry32), so property tests are reproducible. */
export const random = mulberry32;

/** A random integer in [min, max]. */
export function randomInt(rnd: () => number, min: number, max: number): number {
  return min + Math.floor(rnd() * (max - min + 1));
}
