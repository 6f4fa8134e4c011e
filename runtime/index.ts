/**
 * Floe's job API: define a job with a source format, a watermark strategy, windows, an aggregate
 * and a table. Everything a job file needs, and nothing about how it is run; the Lambda entry is
 * `floe/lambda`, the store contracts `floe/stores`, the local stores `floe/local`, and the engine
 * and commit protocol `floe/advanced`.
 *
 * @example
 * import { job, json, WatermarkStrategy, TumblingEventTimeWindows, count, table } from 'floe';
 */

export type { AggregateFunction, ReduceFunction } from './aggregates/aggregate-function.ts';
export {
  type AverageAccumulator,
  avg,
  count,
  max,
  min,
  type NumberSelector,
  sum,
} from './aggregates/aggregates.ts';
export { FloeConfigError, FloeError } from './errors.ts';
export { Job } from './job/job.ts';
export {
  JobBuilder,
  job,
  type KafkaRecordSourceOptions,
  type KafkaSourceOptions,
} from './job/job-builder.ts';
export type { Key, TombstonePolicy, WindowScope } from './job/plan.ts';
export type {
  AllWindowedStream,
  AllWindowFunction,
  DataStream,
  KeyedStream,
  ResultStream,
  Rows,
  SourceStream,
  WindowedStream,
  WindowFunction,
} from './job/streams.ts';
export {
  type ColumnSpec,
  type Columns,
  type ColumnType,
  type RowOf,
  type Table,
  table,
} from './sink/table.ts';
export type { FormatBase } from './source/format.ts';
export * from './source/formats/index.ts';
export type { KafkaEvent, KafkaEventHeader, KafkaEventRecord } from './source/kafka-event.ts';
export type { KafkaHeader, KafkaMessage } from './source/kafka-message.ts';
export {
  type IdlenessOptions,
  type IdleTopicWatermark,
  type TimestampAssigner,
  WatermarkStrategy,
} from './time/watermark-strategy.ts';
export { CumulativeEventTimeWindows } from './windows/cumulative.ts';
export { EventTimeSessionWindows, type SessionGapExtractor } from './windows/session.ts';
export { SlidingEventTimeWindows } from './windows/sliding.ts';
export { type TimeWindow, windowStart } from './windows/time-window.ts';
export { TumblingEventTimeWindows } from './windows/tumbling.ts';
export type {
  FixedWindowAssigner,
  MergingWindowAssigner,
  WindowAssigner,
} from './windows/window-assigner.ts';
