import type { BatchResult } from '../engine/batch-result.ts';
import type { EngineState } from '../engine/state.ts';

/**
 * Where a job's engine state lives between batches. The exactly-once protocol will implement
 * this over DynamoDB and S3; until then there are an in-memory and a directory implementation.
 */
export interface StateStore {
  /** The state after the last saved batch; undefined before the first. */
  load(): Promise<EngineState | undefined>;
  save(state: EngineState): Promise<void>;
}

/** Where a batch's rows, late records and dead letters go. */
export interface OutputSink<Row> {
  write(result: BatchResult<Row>): Promise<void>;
}

/** Keeps state for the life of the process (a warm Lambda container, a test). */
export class MemoryStateStore implements StateStore {
  private state: EngineState | undefined;

  async load(): Promise<EngineState | undefined> {
    return this.state;
  }

  async save(state: EngineState): Promise<void> {
    this.state = state;
  }
}
