/**
 * Floe's public API: define a job, run it with the engine.
 *
 * @example
 * import { job, json, WatermarkStrategy, TumblingEventTimeWindows, count, table } from 'floe';
 */

export {
  CheckpointedProcessor,
  type CheckpointedProcessorOptions,
  type CommitInfo,
  type CommitOutcome,
  type CommittedProgress,
} from './checkpoint/checkpointed-processor.ts';
export type { CleanupReport } from './checkpoint/cleanup.ts';
export type { CheckpointManifest, TablePublish } from './checkpoint/manifest.ts';
export { type CheckpointStores, localCheckpointStores } from './checkpoint/stores.ts';
export type {
  BatchMetrics,
  BatchResult,
  DeadLetter,
  DeadLetterStage,
  EmittedRow,
  LateRecord,
  PartitionProgress,
  RecordDeadLetter,
  WindowDeadLetter,
} from './engine/batch-result.ts';
export { type BatchInput, type BatchOptions, Engine } from './engine/engine.ts';
export { type EngineState, newEngineState, type PartitionRef } from './engine/state.ts';
export { decodeState, encodeState } from './engine/state-codec.ts';
export { describeError, FloeConfigError, FloeError } from './errors.ts';
export type { AggregateFunction, ReduceFunction } from './functions/aggregate-function.ts';
export {
  type AverageAccumulator,
  avg,
  count,
  max,
  min,
  type NumberSelector,
  sum,
} from './functions/aggregates.ts';
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
export { type TimestampAssigner, WatermarkStrategy } from './time/watermark-strategy.ts';
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
