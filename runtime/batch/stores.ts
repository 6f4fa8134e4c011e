import type { BatchResult } from '../engine/batch-result.ts';
import type { EngineState } from '../engine/state.ts';
import { decodeState, encodeState } from '../engine/state-codec.ts';

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

/**
 * Keeps state for the life of the process (a warm Lambda container, a test).
 *
 * It keeps a serialised copy, not the live object: the engine updates state in place, so a batch
 * that fails after processing (its sink threw) must not leave its offsets and fired windows in
 * the store, or Lambda's retry would skip the batch as a redelivery and lose its rows. The copy
 * costs O(state) per batch; the exactly-once protocol replaces this store.
 */
export class MemoryStateStore implements StateStore {
  private saved: string | undefined;

  async load(): Promise<EngineState | undefined> {
    return this.saved === undefined ? undefined : decodeState(this.saved);
  }

  async save(state: EngineState): Promise<void> {
    this.saved = encodeState(state);
  }
}
