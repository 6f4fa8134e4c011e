import type { AggregateFunction } from '../aggregates/aggregate-function.ts';
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
} from '../source/kafka-event.ts';
import { kafkaMessage } from '../source/kafka-message.ts';
import type { TimeWindow } from '../windows/time-window.ts';
import type { FixedWindowAssigner, MergingWindowAssigner } from '../windows/window-assigner.ts';
import type {
  BatchResult,
  DeadLetter,
  DeadLetterStage,
  EmittedRow,
  LateRecord,
  PartitionProgress,
} from './batch-result.ts';
import { DueQueue } from './due-queue.ts';
import {
  type EngineState,
  newPartitionState,
  type PartitionState,
  partitionId,
  type SessionPartial,
} from './state.ts';

export interface BatchOptions {
  /** Processing time in epoch ms, for idleness. Injected so that runs are reproducible. */
  readonly now: number;
  /** The input is bounded and has ended: the watermark goes to +infinity and every window fires. */
  readonly endOfInput?: boolean;
}

/** The records of one micro-batch, grouped by partition, each group in offset order. */
export type BatchInput = KafkaEvent | Iterable<readonly KafkaEventRecord[]>;

interface PartitionTimers {
  /** Session ends (and, with allowed lateness, cleanup times) by key. */
  readonly sessions: DueQueue<Key>;
  /** dedupeBy expiries by id. */
  readonly ids: DueQueue<Key>;
}

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
 * Semantics follow Flink's event time (docs/design.md): the watermark advances once, at the end of a batch, and
 * the batch's records are judged late against the watermark as it stood when the batch began,
 * so a replayed batch gives the same result.
 *
 * The state passed in is updated in place. A caller that may have to discard a batch (its
 * commit failed) must reload the state from its last checkpoint.
 */
export class Engine<Row> {
  private readonly plan: JobPlan;
  private readonly aggregate: AggregateFunction<unknown, unknown, unknown>;
  private readonly fixed: FixedWindowAssigner | undefined;
  private readonly merging: MergingWindowAssigner<unknown> | undefined;
  private readonly lateness: number;
  private readonly pipeline: (element: unknown) => void;

  // Per-batch context, in fields so that the per-record path allocates nothing.
  private state!: EngineState;
  private p!: PartitionState;
  private record!: KafkaEventRecord;
  private timestamp = 0;
  private watermarkAtStart = 0;
  private readonly ends: number[];
  private cachedEnd = Number.NaN;
  private cachedWindow: Map<Key, unknown> | undefined;
  private lateOut: LateRecord[] = [];
  private deduplicated = 0;
  /** Fixed windows that fired before and received records in this batch: end → keys. */
  private readonly dirtyWindows = new Map<PartitionState, Map<number, Set<Key>>>();
  /** Sessions that received records in this batch. */
  private readonly touchedSessions = new Set<SessionPartial>();
  /** The keys of touched sessions, per partition: candidates for late firings. */
  private readonly touchedKeys = new Map<PartitionState, Set<Key>>();
  /** Per-partition timers, rebuilt from the state when a state object is first seen. */
  private readonly timers = new WeakMap<PartitionState, PartitionTimers>();
  /** Partitions whose records carried an event time in this batch (the idleness clock). */
  private readonly delivered = new Set<PartitionState>();
  private activePartition: PartitionState | undefined;
  /** dedupeBy ids of the current record, remembered only once the record is fully windowed. */
  private readonly pendingIds: [Key, number][] = [];
  private readonly pendingKeys: Key[] = [];
  private readonly pendingGaps: number[] = [];

  constructor(job: Job<Row>) {
    this.plan = job.plan;
    this.aggregate = this.plan.aggregate;
    this.lateness = this.plan.allowedLatenessMs;
    const { assigner } = this.plan;
    if (assigner.merging) this.merging = assigner;
    else this.fixed = assigner;
    this.ends = new Array<number>(this.fixed?.maxWindowsPerRecord ?? 1).fill(0);
    this.pipeline = this.buildPipeline();
  }

  /** Processes one micro-batch. Records of several partitions may be mixed in one batch. */
  processBatch(state: EngineState, batch: BatchInput, options: BatchOptions): BatchResult<Row> {
    const groups = isKafkaEvent(batch) ? Object.values(batch.records) : batch;
    const deadLetters: DeadLetter[] = [];
    this.state = state;
    this.resetPartitionCursor();
    this.lateOut = [];
    this.deduplicated = 0;
    let records = 0;
    let redelivered = 0;
    let tombstones = 0;
    const delivered = this.delivered;
    delivered.clear();

    for (const group of groups) {
      for (const record of group) {
        records++;
        const p = this.partition(state, record);
        if (record.offset <= p.offset) {
          redelivered++;
          continue;
        }
        if (p !== this.p) this.enterPartition(state, p);
        p.offset = record.offset;
        this.record = record;
        if (record.value === null || record.value === undefined) {
          tombstones++;
          if (this.plan.source.tombstones === 'dead-letter') {
            deadLetters.push(
              recordDeadLetter(record, 'tombstone', 'The record is a tombstone (null value).'),
            );
          }
          continue;
        }
        const oversized = oversizedRecordBytes(record);
        if (oversized > 0) {
          deadLetters.push({
            ...recordDeadLetter(
              record,
              'oversized',
              `The record needs ${oversized} bytes in a Lambda event, over the ${LAMBDA_PAYLOAD_LIMIT_BYTES}-byte (6 MB) payload limit: the event source mapping cannot deliver it. Its value is not kept; its key and coordinates are.`,
            ),
            value: null,
          });
          continue;
        }
        try {
          this.processRecord(record, record.value);
        } catch (error) {
          const stageError = error instanceof StageError ? error : new StageError('window', error);
          deadLetters.push(recordDeadLetter(record, stageError.stage, reasonFor(stageError, record)));
        }
      }
    }
    this.resetPartitionCursor();

    const rows: EmittedRow<Row>[] = [];
    this.advanceAndFire(state, delivered, options, rows, deadLetters);

    const late = this.lateOut;
    this.lateOut = [];
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
    this.p = undefined as unknown as PartitionState;
    this.activePartition = undefined;
    this.cachedWindow = undefined;
    this.cachedEnd = Number.NaN;
  }

  /** Ends a bounded input: the watermark goes to +infinity and every pending window fires. */
  drain(state: EngineState, now: number): BatchResult<Row> {
    return this.processBatch(state, [], { now, endOfInput: true });
  }

  private partition(state: EngineState, record: KafkaEventRecord): PartitionState {
    if (this.p !== undefined && this.p.partition === record.partition && this.p.topic === record.topic)
      return this.p;
    const id = partitionId(record.topic, record.partition);
    let p = state.partitions.get(id);
    if (!p) {
      p = newPartitionState(record.topic, record.partition);
      state.partitions.set(id, p);
    }
    return p;
  }

  private enterPartition(state: EngineState, p: PartitionState): void {
    this.timersOf(p);
    this.p = p;
    this.watermarkAtStart = this.plan.scope === 'partition' ? p.watermark : state.jobWatermark;
    this.cachedEnd = Number.NaN;
    this.cachedWindow = undefined;
  }

  private processRecord(record: KafkaEventRecord, value: string): void {
    let element: unknown;
    try {
      element = this.plan.source.value.decode(value);
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
    const p = this.p;
    if (timestamp > p.maxTimestamp) p.maxTimestamp = timestamp;
    // Only records with an event time make a partition active: one that delivers nothing but
    // undecodable values must still be able to go idle instead of holding the watermark.
    if (this.activePartition !== p) {
      this.delivered.add(p);
      this.activePartition = p;
    }
    this.timestamp = timestamp;
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
        this.intoWindow(element, key, this.gapOf(element));
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
      for (let i = 0; i < pending.length; i++) this.intoWindow(pending[i], keys[i]!, gaps[i]!);
      if (ids.length > 0) {
        const expiries = this.timersOf(this.p).ids;
        for (const [id, expiry] of ids) {
          this.p.seenIds.set(id, expiry);
          expiries.push(expiry, id);
        }
      }
    };
  }

  private intoWindow(element: unknown, key: Key, gap: number): void {
    if (this.fixed) this.addToFixedWindows(element, key);
    else this.addToSession(element, key, gap);
  }

  /** The session gap of an element; 0 for fixed windows, which have none. */
  private gapOf(element: unknown): number {
    if (!this.merging) return 0;
    const gap = this.merging.sessionGap(element, this.timestamp);
    if (!Number.isSafeInteger(gap) || gap <= 0) {
      throw new Error(
        `Invalid session gap ${String(gap)}: the gap must be a positive whole number of milliseconds.`,
      );
    }
    return gap;
  }

  private firstSighting(id: Key, ttlMs: number): boolean {
    const p = this.p;
    const expiry = p.seenIds.get(id);
    // Judged against the partition watermark at batch start, like lateness, so replays agree.
    if ((expiry !== undefined && expiry > p.watermark) || this.isPendingId(id)) {
      this.deduplicated++;
      return false;
    }
    this.pendingIds.push([id, this.timestamp + ttlMs]);
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

  private addToFixedWindows(element: unknown, key: Key): void {
    const timestamp = this.timestamp;
    const watermark = this.watermarkAtStart;
    const ends = this.ends;
    const count = this.fixed!.assignWindowEnds(timestamp, ends);
    const aggregate = this.aggregate;
    let accepted = 0;
    for (let i = 0; i < count; i++) {
      const end = ends[i]!;
      // The window was cleared (or would have been): this record is late for it.
      if (end - 1 + this.lateness <= watermark) continue;
      accepted++;
      let window = end === this.cachedEnd ? this.cachedWindow : this.p.windows.get(end);
      if (window === undefined) {
        window = new Map();
        this.p.windows.set(end, window);
      }
      this.cachedEnd = end;
      this.cachedWindow = window;
      const acc = window.get(key);
      window.set(key, aggregate.add(element, acc === undefined ? aggregate.createAccumulator() : acc));
      if (end - 1 <= watermark) this.markDirty(end, key);
    }
    if (accepted === 0) this.emitLate(element);
  }

  private markDirty(end: number, key: Key): void {
    let byEnd = this.dirtyWindows.get(this.p);
    if (!byEnd) {
      byEnd = new Map();
      this.dirtyWindows.set(this.p, byEnd);
    }
    let keys = byEnd.get(end);
    if (!keys) {
      keys = new Set();
      byEnd.set(end, keys);
    }
    keys.add(key);
  }

  private emitLate(element: unknown): void {
    const record = this.record;
    this.lateOut.push({
      topic: record.topic,
      partition: record.partition,
      offset: record.offset,
      timestamp: this.timestamp,
      watermark: this.watermarkAtStart,
      element,
    });
  }

  private addToSession(element: unknown, key: Key, gap: number): void {
    const start = this.timestamp;
    const end = start + gap;
    const watermark = this.watermarkAtStart;
    // A record whose own window is already cleared still belongs to a session it touches that is
    // kept for allowed lateness (and may bridge two of them); only then is it late.
    if (end - 1 + this.lateness <= watermark && !this.touchesRetainedSession(key, start, end)) {
      this.emitLate(element);
      return;
    }
    const aggregate = this.aggregate;
    const p = this.p;
    const sessions = p.sessions.get(key);
    if (sessions === undefined) {
      const session = { start, end, acc: aggregate.add(element, aggregate.createAccumulator()) };
      p.sessions.set(key, [session]);
      this.touchSession(p, key, session);
      return;
    }
    // Sessions are sorted and neither overlap nor touch: find the run that [start, end) touches.
    let first = 0;
    while (first < sessions.length && sessions[first]!.end < start) first++;
    let last = first;
    while (last < sessions.length && sessions[last]!.start <= end) last++;
    if (first === last) {
      const session = { start, end, acc: aggregate.add(element, aggregate.createAccumulator()) };
      sessions.splice(first, 0, session);
      this.touchSession(p, key, session);
      return;
    }
    // Usually the record falls into one session: add to its accumulator directly. The new
    // bounds and the merged accumulator are computed before the list changes, so a throwing
    // merge cannot leave overlapping sessions behind.
    const merged = sessions[first]!;
    let acc = aggregate.add(element, merged.acc);
    let mergedEnd = Math.max(merged.end, end);
    for (let i = first + 1; i < last; i++) {
      const other = sessions[i]!;
      acc = aggregate.merge(acc, other.acc);
      mergedEnd = Math.max(mergedEnd, other.end);
    }
    for (let i = first + 1; i < last; i++) this.touchedSessions.delete(sessions[i]!);
    if (last - first > 1) sessions.splice(first + 1, last - first - 1);
    merged.acc = acc;
    merged.start = Math.min(merged.start, start);
    const grew = mergedEnd !== merged.end;
    merged.end = mergedEnd;
    if (grew || !this.touchedSessions.has(merged)) this.touchSession(p, key, merged, grew);
  }

  /** Marks a session as changed in this batch and keeps a timer at its end. */
  private touchSession(p: PartitionState, key: Key, session: SessionPartial, endChanged = true): void {
    this.touchedSessions.add(session);
    let keys = this.touchedKeys.get(p);
    if (!keys) {
      keys = new Set();
      this.touchedKeys.set(p, keys);
    }
    keys.add(key);
    if (endChanged) this.timersOf(p).sessions.push(session.end, key);
  }

  private timersOf(p: PartitionState): PartitionTimers {
    let timers = this.timers.get(p);
    if (!timers) {
      timers = { sessions: new DueQueue(), ids: new DueQueue() };
      for (const [key, list] of p.sessions) for (const s of list) timers.sessions.push(s.end, key);
      for (const [id, expiry] of p.seenIds) timers.ids.push(expiry, id);
      this.timers.set(p, timers);
    }
    return timers;
  }

  private touchesRetainedSession(key: Key, start: number, end: number): boolean {
    const scope = this.plan.scope === 'partition' ? [this.p] : this.state.partitions.values();
    for (const p of scope) {
      const sessions = p.sessions.get(key);
      if (sessions?.some((s) => s.start <= end && s.end >= start)) return true;
    }
    return false;
  }

  // --- End of batch: watermarks, firing, cleanup -------------------------------------------

  private advanceAndFire(
    state: EngineState,
    delivered: ReadonlySet<PartitionState>,
    options: BatchOptions,
    rows: EmittedRow<Row>[],
    deadLetters: DeadLetter[],
  ): void {
    const { outOfOrdernessMs, idlenessMs } = this.plan.watermarks;
    const previous = new Map<PartitionState, number>();
    for (const p of state.partitions.values()) {
      previous.set(p, p.watermark);
      if (delivered.has(p) || p.lastActiveAt === null) {
        p.lastActiveAt = options.now;
        p.idle = false;
      }
      const candidate = options.endOfInput ? Number.POSITIVE_INFINITY : p.maxTimestamp - outOfOrdernessMs - 1;
      if (candidate > p.watermark) p.watermark = candidate;
      if (idlenessMs !== undefined && !delivered.has(p) && options.now - p.lastActiveAt! >= idlenessMs)
        p.idle = true;
    }

    const jobBefore = state.jobWatermark;
    let lowest = Number.POSITIVE_INFINITY;
    let active = 0;
    for (const p of state.partitions.values()) {
      if (p.idle) continue;
      active++;
      if (p.watermark < lowest) lowest = p.watermark;
    }
    if (options.endOfInput) state.jobWatermark = Number.POSITIVE_INFINITY;
    // With every partition idle, the watermark holds.
    else if (active > 0 && lowest > state.jobWatermark) state.jobWatermark = lowest;

    if (this.plan.scope === 'partition') {
      for (const p of state.partitions.values()) {
        this.fireScope([p], previous.get(p)!, p.watermark, rows, deadLetters);
      }
    } else {
      this.fireScope([...state.partitions.values()], jobBefore, state.jobWatermark, rows, deadLetters);
    }
    this.dirtyWindows.clear();
    this.touchedSessions.clear();
    this.touchedKeys.clear();

    for (const p of state.partitions.values()) {
      // An id pushed again with a later expiry leaves a stale entry: only the current one deletes.
      if (p.seenIds.size === 0) continue;
      this.timersOf(p).ids.popDue(p.watermark, (id, expiry) => {
        if (p.seenIds.get(id) === expiry) p.seenIds.delete(id);
      });
    }
  }

  private fireScope(
    partitions: PartitionState[],
    before: number,
    after: number,
    rows: EmittedRow<Row>[],
    deadLetters: DeadLetter[],
  ): void {
    if (this.fixed) this.fireFixed(partitions, before, after, rows, deadLetters);
    else this.fireSessions(partitions, before, after, rows, deadLetters);
  }

  private fireFixed(
    partitions: PartitionState[],
    before: number,
    after: number,
    rows: EmittedRow<Row>[],
    deadLetters: DeadLetter[],
  ): void {
    const due = new Set<number>();
    for (const p of partitions) for (const end of p.windows.keys()) if (end - 1 <= after) due.add(end);
    if (due.size === 0) return;
    const ends = [...due].sort((a, b) => a - b);
    for (const end of ends) {
      const window: TimeWindow = { start: this.fixed!.windowStart(end), end };
      const onTime = end - 1 > before;
      let keys: Iterable<Key>;
      if (onTime) {
        keys =
          partitions.length === 1
            ? (partitions[0]!.windows.get(end)?.keys() ?? [])
            : unionKeys(partitions, end);
      } else {
        const dirty = new Set<Key>();
        for (const p of partitions)
          for (const key of this.dirtyWindows.get(p)?.get(end) ?? []) dirty.add(key);
        keys = dirty;
      }
      for (const key of keys) {
        let acc: unknown;
        try {
          acc = this.mergedFixed(partitions, end, key);
        } catch (error) {
          this.windowFailed(key, window, `The aggregate's merge threw: ${describeError(error)}`, deadLetters);
          continue;
        }
        this.emit(key, window, acc, !onTime, rows, deadLetters);
      }
      if (end - 1 + this.lateness <= after) for (const p of partitions) p.windows.delete(end);
    }
  }

  private mergedFixed(partitions: PartitionState[], end: number, key: Key): unknown {
    if (partitions.length === 1) return partitions[0]!.windows.get(end)!.get(key);
    const aggregate = this.aggregate;
    let merged = aggregate.createAccumulator();
    for (const p of partitions) {
      const acc = p.windows.get(end)?.get(key);
      if (acc !== undefined) merged = aggregate.merge(merged, acc);
    }
    return merged;
  }

  private fireSessions(
    partitions: PartitionState[],
    before: number,
    after: number,
    rows: EmittedRow<Row>[],
    deadLetters: DeadLetter[],
  ): void {
    // Only keys with a session end that is due, or with a session touched in this batch (a late
    // firing), can fire or be cleared.
    const candidates = new Set<Key>();
    for (const p of partitions) {
      this.timersOf(p).sessions.popDue(after + 1, (key) => candidates.add(key));
      for (const key of this.touchedKeys.get(p) ?? []) candidates.add(key);
    }
    if (candidates.size === 0) return;
    const owners = new Map<Key, { p: PartitionState; s: SessionPartial }[]>();
    for (const key of candidates) {
      const list: { p: PartitionState; s: SessionPartial }[] = [];
      for (const p of partitions) for (const s of p.sessions.get(key) ?? []) list.push({ p, s });
      if (list.length > 0) owners.set(key, list);
    }
    const due: {
      key: Key;
      group: { p: PartitionState; s: SessionPartial }[];
      end: number;
      onTime: boolean;
    }[] = [];
    const cleared: { key: Key; group: { p: PartitionState; s: SessionPartial }[] }[] = [];
    for (const [key, partials] of owners) {
      // Partials from several partitions merge into sessions here, touching ones included.
      partials.sort((a, b) => a.s.start - b.s.start);
      let i = 0;
      while (i < partials.length) {
        let j = i + 1;
        let end = partials[i]!.s.end;
        while (j < partials.length && partials[j]!.s.start <= end) {
          end = Math.max(end, partials[j]!.s.end);
          j++;
        }
        const group = partials.slice(i, j);
        i = j;
        if (end - 1 > after) continue;
        const onTime = end - 1 > before;
        if (onTime || group.some(({ s }) => this.touchedSessions.has(s)))
          due.push({ key, group, end, onTime });
        if (end - 1 + this.lateness <= after) cleared.push({ key, group });
        // Fired (or due) but kept for allowed lateness: wake up again to clear it.
        else this.timersOf(group[0]!.p).sessions.push(end + this.lateness, key);
      }
    }
    // Emitted in time order, so the output does not depend on how timers were built.
    due.sort(
      (a, b) => a.end - b.end || a.group[0]!.s.start - b.group[0]!.s.start || compareKeys(a.key, b.key),
    );
    const aggregate = this.aggregate;
    for (const { key, group, end, onTime } of due) {
      const window = { start: group[0]!.s.start, end };
      // emit catches the window function's errors itself: only a merge can throw here.
      try {
        let acc: unknown;
        if (group.length === 1) acc = group[0]!.s.acc;
        else {
          acc = aggregate.createAccumulator();
          for (const { s } of group) acc = aggregate.merge(acc, s.acc);
        }
        this.emit(key, window, acc, !onTime, rows, deadLetters);
      } catch (error) {
        this.windowFailed(key, window, `The aggregate's merge threw: ${describeError(error)}`, deadLetters);
      }
    }
    for (const { key, group } of cleared) {
      for (const { p, s } of group) {
        const sessions = p.sessions.get(key)!;
        sessions.splice(sessions.indexOf(s), 1);
        if (sessions.length === 0) p.sessions.delete(key);
      }
    }
  }

  /** A window whose result could not be computed or turned into rows: its rows go to the dead letters. */
  private windowFailed(key: Key, window: TimeWindow, reason: string, deadLetters: DeadLetter[]): void {
    deadLetters.push({ kind: 'window', key: this.plan.keySelector ? key : undefined, window, reason });
  }

  private emit(
    key: Key,
    window: TimeWindow,
    acc: unknown,
    update: boolean,
    rows: EmittedRow<Row>[],
    deadLetters: DeadLetter[],
  ): void {
    const publicKey = this.plan.keySelector ? key : undefined;
    let out: unknown;
    try {
      out = this.plan.emit(key, window, this.aggregate.getResult(acc));
    } catch (error) {
      this.windowFailed(key, window, `The window function threw: ${describeError(error)}`, deadLetters);
      return;
    }
    if (Array.isArray(out)) {
      for (const row of out) rows.push({ row: row as Row, key: publicKey, window, update });
    } else {
      rows.push({ row: out as Row, key: publicKey, window, update });
    }
  }
}

/** A total order over keys of mixed types, for a deterministic output order. */
function compareKeys(a: Key, b: Key): number {
  if (typeof a === typeof b) return a < b ? -1 : a > b ? 1 : 0;
  return typeof a < typeof b ? -1 : 1;
}

function unionKeys(partitions: PartitionState[], end: number): Set<Key> {
  const keys = new Set<Key>();
  for (const p of partitions) for (const key of p.windows.get(end)?.keys() ?? []) keys.add(key);
  return keys;
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
