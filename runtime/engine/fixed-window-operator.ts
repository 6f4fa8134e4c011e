import type { AggregateFunction } from '../aggregates/aggregate-function.ts';
import { describeError } from '../errors.ts';
import type { Key } from '../job/plan.ts';
import type { TimeWindow } from '../windows/time-window.ts';
import type { FixedWindowAssigner } from '../windows/window-assigner.ts';
import type { PartitionState } from './state.ts';
import type { LateRecords, RecordCursor, WindowOperator, WindowOutput } from './window-operator.ts';

/**
 * Windows that depend only on the timestamp (tumbling, sliding, cumulative). A window is named
 * by its end, and each partition keeps `end → key → accumulator`, so firing finds due windows by
 * end and merges a key's partials from several partitions with the aggregate's `merge`.
 *
 * Records arrive in runs of one window, so the last window's map is cached: most records cost
 * one assigner call and one `Map.get`/`Map.set` per window.
 */
export class FixedWindowOperator implements WindowOperator {
  private readonly ends: number[];
  private cachedEnd = Number.NaN;
  private cachedWindow: Map<Key, unknown> | undefined;
  /** Windows that already fired and got records in this batch: they fire again (late firing). */
  private readonly dirtyWindows = new Map<PartitionState, Map<number, Set<Key>>>();

  constructor(
    private readonly assigner: FixedWindowAssigner,
    private readonly aggregate: AggregateFunction<unknown, unknown, unknown>,
    private readonly lateness: number,
    private readonly cursor: RecordCursor,
    private readonly late: LateRecords,
  ) {
    this.ends = new Array<number>(assigner.maxWindowsPerRecord).fill(0);
  }

  add(element: unknown, key: Key): void {
    const cursor = this.cursor;
    const watermark = cursor.watermarkAtStart;
    const ends = this.ends;
    const count = this.assigner.assignWindowEnds(cursor.timestamp, ends);
    const aggregate = this.aggregate;
    const p = cursor.p;
    let accepted = 0;
    for (let i = 0; i < count; i++) {
      const end = ends[i]!;
      // The window was cleared (or would have been): this record is late for it.
      if (end - 1 + this.lateness <= watermark) continue;
      accepted++;
      let window = end === this.cachedEnd ? this.cachedWindow : p.windows.get(end);
      if (window === undefined) {
        window = new Map();
        p.windows.set(end, window);
      }
      this.cachedEnd = end;
      this.cachedWindow = window;
      const acc = window.get(key);
      window.set(key, aggregate.add(element, acc === undefined ? aggregate.createAccumulator() : acc));
      if (end - 1 <= watermark) this.markDirty(p, end, key);
    }
    if (accepted === 0) this.late.add(element);
  }

  enterPartition(): void {
    this.cachedEnd = Number.NaN;
    this.cachedWindow = undefined;
  }

  endBatch(): void {
    this.dirtyWindows.clear();
  }

  fire(partitions: PartitionState[], before: number, after: number, out: WindowOutput): void {
    const due = new Set<number>();
    for (const p of partitions) for (const end of p.windows.keys()) if (end - 1 <= after) due.add(end);
    if (due.size === 0) return;
    const ends = [...due].sort((a, b) => a - b);
    for (const end of ends) {
      const window: TimeWindow = { start: this.assigner.windowStart(end), end };
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
          acc = this.merged(partitions, end, key);
        } catch (error) {
          out.windowFailed(key, window, `The aggregate's merge threw: ${describeError(error)}`);
          continue;
        }
        out.emit(key, window, acc, !onTime);
      }
      if (end - 1 + this.lateness <= after) for (const p of partitions) p.windows.delete(end);
    }
  }

  private markDirty(p: PartitionState, end: number, key: Key): void {
    let byEnd = this.dirtyWindows.get(p);
    if (!byEnd) {
      byEnd = new Map();
      this.dirtyWindows.set(p, byEnd);
    }
    let keys = byEnd.get(end);
    if (!keys) {
      keys = new Set();
      byEnd.set(end, keys);
    }
    keys.add(key);
  }

  private merged(partitions: PartitionState[], end: number, key: Key): unknown {
    if (partitions.length === 1) return partitions[0]!.windows.get(end)!.get(key);
    const aggregate = this.aggregate;
    let merged = aggregate.createAccumulator();
    for (const p of partitions) {
      const acc = p.windows.get(end)?.get(key);
      if (acc !== undefined) merged = aggregate.merge(merged, acc);
    }
    return merged;
  }
}

function unionKeys(partitions: PartitionState[], end: number): Set<Key> {
  const keys = new Set<Key>();
  for (const p of partitions) for (const key of p.windows.get(end)?.keys() ?? []) keys.add(key);
  return keys;
}
