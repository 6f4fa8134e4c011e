import type { BatchResult } from '../engine/batch-result.ts';
import { type BatchInput, Engine } from '../engine/engine.ts';
import { newEngineState, type PartitionRef } from '../engine/state.ts';
import type { Job } from '../job/job.ts';
import type { OutputSink, StateStore } from './stores.ts';

export interface BatchProcessorOptions<Row> {
  readonly store: StateStore;
  readonly sink?: OutputSink<Row>;
  /** Processing time, for idleness. @default Date.now */
  readonly clock?: () => number;
  /**
   * The topic's partitions, when known. The job watermark then waits for partitions that have
   * not delivered yet, instead of firing windows before their records arrive.
   * @default - partitions are learnt from their first record
   */
  readonly partitions?: readonly PartitionRef[];
}

/**
 * Runs one job batch by batch: load state, process, write outputs, save state. The Lambda
 * handler and `floe invoke` share it, so what passes locally is what runs in Lambda.
 */
export class BatchProcessor<Row> {
  readonly engine: Engine<Row>;
  private readonly clock: () => number;

  constructor(
    readonly job: Job<Row>,
    private readonly options: BatchProcessorOptions<Row>,
  ) {
    this.engine = new Engine(job);
    this.clock = options.clock ?? Date.now;
  }

  async process(batch: BatchInput, { endOfInput = false } = {}): Promise<BatchResult<Row>> {
    const state = (await this.options.store.load()) ?? newEngineState(this.options.partitions);
    const result = this.engine.processBatch(state, batch, { now: this.clock(), endOfInput });
    await this.options.sink?.write(result);
    await this.options.store.save(state);
    return result;
  }
}
