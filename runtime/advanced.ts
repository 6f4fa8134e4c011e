/**
 * Floe's internals for those who build on them: the engine, the exactly-once checkpointed
 * processor, batch results and the state codec. The job API is `floe`; these may change between
 * minor versions.
 */

export {
  CheckpointedProcessor,
  type CheckpointedProcessorOptions,
  type CommitInfo,
  type CommitOutcome,
  type CommittedProgress,
} from './checkpoint/checkpointed-processor.ts';
export type { CleanupReport, DataFileSweep } from './checkpoint/cleanup.ts';
export type { CheckpointManifest, TablePublish } from './checkpoint/manifest.ts';
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
export { describeError } from './errors.ts';
export type { CheckpointStores } from './stores/checkpoint-stores.ts';
