import { describeError } from '../errors.ts';
import type { Job } from '../job/job.ts';
import type { JobPlan, Key } from '../job/plan.ts';
import type { FormatBase } from '../source/format.ts';
import {
  base64Problem,
  type KafkaEvent,
  type KafkaEventRecord,
  LAMBDA_PAYLOAD_LIMIT_BYTES,
  oversizedRecordBytes,
  type TextValueRecord,
  VALUE_TEXT,
} from '../source/kafka-event.ts';
import { kafkaMessage } from '../source/kafka-message.ts';
import type { MergingWindowAssigner } from '../windows/window-assigner.ts';
import type {
  BatchResult,
  DeadLetter,
  DeadLetterStage,
  EmittedRow,
  PartitionProgress,
} from './batch-result.ts';
import { DueQueue } from './due-queue.ts';
import { FixedWindowOperator } from './fixed-window-operator.ts';
import { SessionWindowOperator } from './session-window-operator.ts';
import { type EngineState, newPartitionState, type PartitionState, partitionId } from './state.ts';
import { advanceWatermarks } from './watermark-generator.ts';
import { LateRecords, type RecordCursor, type WindowOperator, WindowOutput } from './window-operator.ts';

export interface BatchOptions {
  /** Processing time in epoch ms, for idleness. Injected so that runs are reproducible. */
  readonly now: number;
  /**
   * The wall clock in epoch ms, for `idleTopicWatermark: 'processing-time'` (the watermark of a
   * topic idle everywhere). @default now
   */
  readonly wallClock?: number;
  /** The input is bounded and has ended: the watermark goes to +infinity and every window fires. */
  readonly endOfInput?: boolean;
}

/** The records of one micro-batch, grouped by partition, each group in offset order. */
export type BatchInput = KafkaEvent | Iterable<readonly KafkaEventRecord[]>;

// windowAll gives every element this key.
const GLOBAL_KEY = 0;

/** A thrown value that carries the pipeline stage it failed in. */
class StageError {
  constructor(
    readonly stage: DeadLetterStage,
    readonly cause: unknown,
  ) {}
}

/**
 * The event-time engine: takes a micro-batch of Kafka records and the prior state, and returns
 * the fired window rows, the late records and the dead letters. It does no I/O; storage and
 * sinks belong to its callers.
 *
 * Semantics follow docs/semantics.md: the watermark advances once, at the end of a batch, and
 * the batch's records are judged late against the watermark as it stood when the batch began,
 * so a replayed batch gives the same result.
 *
 * The state passed in is updated in place. A caller that may have to discard a batch (its
 * commit failed) must reload the state from its last checkpoint.
 */
export class Engine<Row> {
  private readonly plan: JobPlan;
  private readonly merging: MergingWindowAssigner<unknown> | undefined;
  private readonly windows: WindowOperator;
  private readonly pipeline: (element: unknown) => void;
  /** The record being processed; shared with the window operator. */
  private readonly cursor: RecordCursor;
  private readonly late: LateRecords;
  // Per-batch scratch, reused across batches.
  private p: PartitionState | undefined;
  private deduplicated = 0;
  /** dedupeBy expiries by id, per partition. */
  private readonly idTimers = new WeakMap<PartitionState, DueQueue<Key>>();
  /** Partitions that delivered a record with an event time in this batch (for idleness). */
  private readonly delivered = new Set<PartitionState>();
  private activePartition: PartitionState | undefined;
  // Per-record scratch of the pipeline (no allocation per record).
  private readonly pendingIds: [Key, number][] = [];
  private readonly pendingKeys: Key[] = [];
  private readonly pendingGaps: number[] = [];

  constructor(job: Job<Row>) {
    this.plan = job.plan;
    const { assigner, aggregate, allowedLatenessMs } = this.plan;
    this.cursor = {
      state: undefined as unknown as EngineState,
      p: undefined as unknown as PartitionState,
      record: undefined as unknown as KafkaEventRecord,
      timestamp: 0,
      watermarkAtStart: 0,
    };
    this.late = new LateRecords(this.cursor);
    if (assigner.merging) {
      this.merging = assigner;
      this.windows = new SessionWindowOperator(
        aggregate,
        allowedLatenessMs,
        this.plan.scope,
        this.cursor,
        this.late,
      );
    } else {
      this.windows = new FixedWindowOperator(assigner, aggregate, allowedLatenessMs, this.cursor, this.late);
    }
    this.pipeline = this.buildPipeline();
  }

  /** Processes one micro-batch. Records of several partitions may be mixed in one batch. */
  processBatch(state: EngineState, batch: BatchInput, options: BatchOptions): BatchResult<Row> {
    const groups = isKafkaEvent(batch) ? Object.values(batch.records) : batch;
    const deadLetters: DeadLetter[] = [];
    const cursor = this.cursor;
    cursor.state = state;
    this.resetPartitionCursor();
    this.late.records = [];
    this.deduplicated = 0;
    let records = 0;
    let redelivered = 0;
    let tombstones = 0;
    const delivered = this.delivered;
    delivered.clear();

    for (const group of groups) {
      // A record too large for any Lambda event can only come alone (floe run delivers it so;
      // the event source mapping never can): measured for single-record groups only, off the
      // per-record path.
      const oversized = group.length === 1 ? oversizedRecordBytes(group[0]!) : 0;
      for (const record of group) {
        records++;
        const p = this.partition(state, record);
        if (record.offset <= p.offset) {
          redelivered++;
          continue;
        }
        if (p !== this.p) this.enterPartition(state, p);
        p.offset = record.offset;
        cursor.record = record;
        const text = (record as TextValueRecord)[VALUE_TEXT];
        if (text === undefined && (record.value === null || record.value === undefined)) {
          tombstones++;
          if (this.plan.source.tombstones === 'dead-letter') {
            deadLetters.push(
              recordDeadLetter(record, 'tombstone', 'The record is a tombstone (null value).'),
            );
          }
          continue;
        }
        if (oversized > 0) {
          deadLetters.push(oversizedDeadLetter(record, oversized));
          continue;
        }
        try {
          this.processRecord(record, text);
        } catch (error) {
          const stageError = error instanceof StageError ? error : new StageError('window', error);
          deadLetters.push(recordDeadLetter(record, stageError.stage, reasonFor(stageError, record)));
        }
      }
    }
    this.resetPartitionCursor();

    const out = new WindowOutput(this.plan, deadLetters);
    this.advanceAndFire(state, delivered, options, out);
    const rows = out.rows as EmittedRow<Row>[];

    const late = this.late.take();
    return {
      rows,
      late,
      deadLetters,
      metrics: {
        records,
        redelivered,
        tombstones,
        deduplicated: this.deduplicated,
        late: late.length,
        deadLetters: deadLetters.length,
        rows: rows.length,
        watermark: state.jobWatermark,
      },
      partitions: progressOf(state),
    };
  }

  private resetPartitionCursor(): void {
    this.p = undefined;
    this.activePartition = undefined;
  }

  /** Ends a bounded input: the watermark goes to +infinity and every pending window fires. */
  drain(state: EngineState, now: number): BatchResult<Row> {
    return this.processBatch(state, [], { now, endOfInput: true });
  }

  private partition(state: EngineState, record: KafkaEventRecord): PartitionState {
    const current = this.p;
    if (current !== undefined && current.partition === record.partition && current.topic === record.topic)
      return current;
    const id = partitionId(record.topic, record.partition);
    let p = state.partitions.get(id);
    if (!p) {
      p = newPartitionState(record.topic, record.partition);
      state.partitions.set(id, p);
    }
    return p;
  }

  private enterPartition(state: EngineState, p: PartitionState): void {
    this.p = p;
    this.cursor.p = p;
    this.cursor.watermarkAtStart = this.plan.scope === 'partition' ? p.watermark : state.jobWatermark;
    // Timers are built from the restored state before this batch's records change it.
    this.idTimersOf(p);
    this.windows.enterPartition();
  }

  /** `text`: the value as text, when the record carries it (VALUE_TEXT). */
  private processRecord(record: KafkaEventRecord, text: string | undefined): void {
    let element: unknown;
    const format = this.plan.source.value;
    try {
      element =
        text !== undefined && format.decodeText !== undefined
          ? format.decodeText(text)
          : format.decode(record.value!);
    } catch (error) {
      throw new StageError('decode', error);
    }
    const message = this.plan.source.message;
    if (message) element = kafkaMessage(record, this.decodeKey(record, message.key), element);
    const assigner = this.plan.watermarks.timestampAssigner;
    let timestamp: number;
    try {
      timestamp = assigner ? assigner(element, record.timestamp) : record.timestamp;
    } catch (error) {
      throw new StageError('timestamp', error);
    }
    if (!Number.isSafeInteger(timestamp)) {
      throw new StageError(
        'timestamp',
        new Error(
          `Invalid event time ${String(timestamp)}: the timestamp assigner must return epoch milliseconds as a safe integer.`,
        ),
      );
    }
    const p = this.p!;
    // The per-record half of watermark generation: the partition's largest event time.
    if (timestamp > p.maxTimestamp) p.maxTimestamp = timestamp;
    // Only records with an event time make a partition active: one that delivers nothing but
    // undecodable values must still be able to go idle instead of holding the watermark.
    if (this.activePartition !== p) {
      this.delivered.add(p);
      this.activePartition = p;
    }
    this.cursor.timestamp = timestamp;
    this.pipeline(element);
  }

  private decodeKey(record: KafkaEventRecord, format: FormatBase<unknown>): unknown {
    if (!record.key) return null;
    try {
      return format.decode(record.key);
    } catch (error) {
      throw new StageError('decode', new Error(`The key is not valid ${format}: ${describeError(error)}`));
    }
  }

  /**
   * Chains map, filter, flatMap and dedupe in front of the window, as closures built once.
   *
   * A record is windowed all or nothing, so that a dead letter leaves no trace and can be
   * replayed: its elements are collected first, then every user function that picks a window
   * (key selector, session gap) runs, and only then are windows updated and dedupe ids kept.
   * (A throwing AggregateFunction.add or merge can still leave earlier windows updated.)
   */
  private buildPipeline(): (element: unknown) => void {
    const transforms = this.plan.transforms;
    if (transforms.length === 0) {
      return (element) => {
        const key = this.keyOf(element);
        this.windows.add(element, key, this.gapOf(element));
      };
    }

    const pending: unknown[] = [];
    let next: (element: unknown) => void = (element) => {
      pending.push(element);
    };
    for (let i = transforms.length - 1; i >= 0; i--) {
      const transform = transforms[i]!;
      const downstream = next;
      switch (transform.kind) {
        case 'map':
          next = (element) => downstream(transform.fn(element));
          break;
        case 'filter':
          next = (element) => {
            if (transform.fn(element)) downstream(element);
          };
          break;
        case 'flatMap':
          next = (element) => {
            for (const out of transform.fn(element)) downstream(out);
          };
          break;
        case 'dedupe':
          next = (element) => {
            if (this.firstSighting(transform.id(element) as Key, transform.ttlMs)) downstream(element);
          };
          break;
      }
    }
    const head = next;
    const keys = this.pendingKeys;
    const gaps = this.pendingGaps;
    const ids = this.pendingIds;
    return (element) => {
      pending.length = 0;
      ids.length = 0;
      try {
        head(element);
      } catch (error) {
        throw new StageError('transform', error);
      }
      keys.length = 0;
      gaps.length = 0;
      for (const out of pending) {
        keys.push(this.keyOf(out));
        gaps.push(this.gapOf(out));
      }
      for (let i = 0; i < pending.length; i++) this.windows.add(pending[i], keys[i]!, gaps[i]!);
      if (ids.length > 0) {
        const p = this.p!;
        const expiries = this.idTimersOf(p);
        for (const [id, expiry] of ids) {
          p.seenIds.set(id, expiry);
          expiries.push(expiry, id);
        }
      }
    };
  }

  /** The session gap of an element; 0 for fixed windows, which have none. */
  private gapOf(element: unknown): number {
    if (!this.merging) return 0;
    const gap = this.merging.sessionGap(element, this.cursor.timestamp);
    if (!Number.isSafeInteger(gap) || gap <= 0) {
      throw new Error(
        `Invalid session gap ${String(gap)}: the gap must be a positive whole number of milliseconds.`,
      );
    }
    return gap;
  }

  private firstSighting(id: Key, ttlMs: number): boolean {
    const p = this.p!;
    const expiry = p.seenIds.get(id);
    // Judged against the partition watermark at batch start, like lateness, so replays agree.
    if ((expiry !== undefined && expiry > p.watermark) || this.isPendingId(id)) {
      this.deduplicated++;
      return false;
    }
    this.pendingIds.push([id, this.cursor.timestamp + ttlMs]);
    return true;
  }

  private isPendingId(id: Key): boolean {
    for (const [pending] of this.pendingIds) if (pending === id) return true;
    return false;
  }

  private keyOf(element: unknown): Key {
    const selector = this.plan.keySelector;
    if (!selector) return GLOBAL_KEY;
    const key = selector(element);
    if (key === undefined || key === null || typeof key === 'object' || typeof key === 'function') {
      throw new Error(
        `The key selector returned ${key === null ? 'null' : typeof key}; keys must be strings, numbers, bigints or booleans.`,
      );
    }
    return key;
  }

  private idTimersOf(p: PartitionState): DueQueue<Key> {
    let timers = this.idTimers.get(p);
    if (!timers) {
      timers = new DueQueue();
      for (const [id, expiry] of p.seenIds) timers.push(expiry, id);
      this.idTimers.set(p, timers);
    }
    return timers;
  }

  // --- End of batch: watermarks, firing, cleanup -------------------------------------------

  private advanceAndFire(
    state: EngineState,
    delivered: ReadonlySet<PartitionState>,
    options: BatchOptions,
    out: WindowOutput,
  ): void {
    const { previous, jobBefore } = advanceWatermarks(state, delivered, options, this.plan.watermarks);
    if (this.plan.scope === 'partition') {
      for (const p of state.partitions.values()) this.windows.fire([p], previous.get(p)!, p.watermark, out);
    } else {
      this.windows.fire([...state.partitions.values()], jobBefore, state.jobWatermark, out);
    }
    this.windows.endBatch();

    for (const p of state.partitions.values()) {
      // An id pushed again with a later expiry leaves a stale entry: only the current one deletes.
      if (p.seenIds.size === 0) continue;
      this.idTimersOf(p).popDue(p.watermark, (id, expiry) => {
        if (p.seenIds.get(id) === expiry) p.seenIds.delete(id);
      });
    }
  }
}

function isKafkaEvent(batch: BatchInput): batch is KafkaEvent {
  return typeof (batch as KafkaEvent).records === 'object' && !Array.isArray(batch);
}

const STAGE_PREFIX: Record<DeadLetterStage, string> = {
  tombstone: '',
  oversized: '',
  decode: 'The value could not be decoded',
  timestamp: 'The event time could not be read',
  transform: 'A map, filter, flatMap or dedupe function threw',
  window: 'The record could not be windowed',
};

function oversizedDeadLetter(record: KafkaEventRecord, bytes: number): DeadLetter {
  return {
    ...recordDeadLetter(
      record,
      'oversized',
      `The record needs ${bytes} bytes in a Lambda event, over the ${LAMBDA_PAYLOAD_LIMIT_BYTES}-byte (6 MB) payload limit: the event source mapping cannot deliver it. Its value is not kept; its key and coordinates are.`,
    ),
    value: null,
  };
}

function reasonFor(error: StageError, record?: KafkaEventRecord): string {
  // Checked only once decoding failed, off the hot path: base64 that is not base64 decodes to
  // garbage, and the decoder's complaint about the garbage would hide the real mistake.
  if (error.stage === 'decode' && typeof record?.value === 'string') {
    const problem = base64Problem(record.value);
    if (problem !== undefined) {
      return `${STAGE_PREFIX.decode}: the value is not base64 (${problem}); Lambda delivers keys and values base64-encoded.`;
    }
  }
  return `${STAGE_PREFIX[error.stage]}: ${describeError(error.cause)}`;
}

function recordDeadLetter(record: KafkaEventRecord, stage: DeadLetterStage, reason: string) {
  return {
    kind: 'record' as const,
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    timestamp: record.timestamp,
    stage,
    reason,
    key: record.key ? record.key : null,
    value: record.value ?? null,
  };
}

function progressOf(state: EngineState): PartitionProgress[] {
  const out: PartitionProgress[] = [];
  for (const p of state.partitions.values()) {
    out.push({ id: p.id, offset: p.offset, watermark: p.watermark, idle: p.idle });
  }
  return out;
}
