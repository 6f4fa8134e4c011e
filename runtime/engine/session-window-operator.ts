import type { AggregateFunction } from '../aggregates/aggregate-function.ts';
import { describeError } from '../errors.ts';
import type { Key, WindowScope } from '../job/plan.ts';
import { DueQueue } from './due-queue.ts';
import type { PartitionState, SessionPartial } from './state.ts';
import {
  compareKeys,
  type LateRecords,
  type RecordCursor,
  type WindowOperator,
  type WindowOutput,
} from './window-operator.ts';

type Partial = { p: PartitionState; s: SessionPartial };

/**
 * Session windows: each record opens [ts, ts + gap), and windows of a key that overlap or touch
 * merge. Each partition keeps a key's sessions sorted and disjoint; partials of one key from
 * several partitions merge into sessions only when they fire, so partitions never wait for each
 * other while records arrive.
 *
 * A timer queue per partition holds session ends by key, so firing looks only at keys whose
 * session may be due, not at every key.
 */
export class SessionWindowOperator implements WindowOperator {
  /** Session ends (and, with allowed lateness, cleanup times) by key, per partition. */
  private readonly timers = new WeakMap<PartitionState, DueQueue<Key>>();
  private readonly touchedSessions = new Set<SessionPartial>();
  private readonly touchedKeys = new Map<PartitionState, Set<Key>>();

  constructor(
    private readonly aggregate: AggregateFunction<unknown, unknown, unknown>,
    private readonly lateness: number,
    private readonly scope: WindowScope,
    private readonly cursor: RecordCursor,
    private readonly late: LateRecords,
  ) {}

  add(element: unknown, key: Key, gap: number): void {
    const cursor = this.cursor;
    const start = cursor.timestamp;
    const end = start + gap;
    const watermark = cursor.watermarkAtStart;
    // A record whose own window is already cleared still belongs to a session it touches that is
    // kept for allowed lateness (and may bridge two of them); only then is it late.
    if (end - 1 + this.lateness <= watermark && !this.touchesRetainedSession(key, start, end)) {
      this.late.add(element);
      return;
    }
    const aggregate = this.aggregate;
    const p = cursor.p;
    const sessions = p.sessions.get(key);
    if (sessions === undefined) {
      const session = { start, end, acc: aggregate.add(element, aggregate.createAccumulator()) };
      p.sessions.set(key, [session]);
      this.touch(p, key, session);
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
      this.touch(p, key, session);
      return;
    }
    // Usually the record falls into one session: add to its accumulator directly. The new
    // bounds and the merged accumulator are computed before the list changes, so a throwing
    // merge cannot leave overlapping sessions behind. Sessions from before this batch are
    // copied before the aggregate sees them (see SessionPartial), even those merged away, since
    // a throwing add or merge may have changed them already.
    let touched = true;
    for (let i = first; i < last; i++) {
      const s = sessions[i]!;
      if (this.touchedSessions.has(s)) continue;
      sessions[i] = { start: s.start, end: s.end, acc: s.acc };
      if (i === first) touched = false;
    }
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
    if (grew || !touched) this.touch(p, key, merged, grew);
  }

  enterPartition(): void {
    // Build the partition's timers before its first record, from its restored sessions.
    this.timersOf(this.cursor.p);
  }

  endBatch(): void {
    this.touchedSessions.clear();
    this.touchedKeys.clear();
  }

  fire(partitions: PartitionState[], before: number, after: number, out: WindowOutput): void {
    // Only keys with a session end that is due, or with a session touched in this batch (a late
    // firing), can fire or be cleared.
    const candidates = new Set<Key>();
    for (const p of partitions) {
      this.timersOf(p).popDue(after + 1, (key) => candidates.add(key));
      for (const key of this.touchedKeys.get(p) ?? []) candidates.add(key);
    }
    if (candidates.size === 0) return;
    const owners = new Map<Key, Partial[]>();
    for (const key of candidates) {
      const list: Partial[] = [];
      for (const p of partitions) for (const s of p.sessions.get(key) ?? []) list.push({ p, s });
      if (list.length > 0) owners.set(key, list);
    }
    const due: { key: Key; group: Partial[]; end: number; onTime: boolean }[] = [];
    const cleared: { key: Key; group: Partial[] }[] = [];
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
        const kept = end - 1 + this.lateness > after;
        if (onTime || group.some(({ s }) => this.touchedSessions.has(s))) {
          // The window function sees the accumulator: a kept session is copied first (see
          // SessionPartial), since it may come back changed.
          if (kept) this.copyBeforeFiring(key, group);
          due.push({ key, group, end, onTime });
        }
        if (!kept) cleared.push({ key, group });
        // Fired (or due) but kept for allowed lateness: wake up again to clear it.
        else this.timersOf(group[0]!.p).push(end + this.lateness, key);
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
        out.emit(key, window, acc, !onTime);
      } catch (error) {
        out.windowFailed(key, window, `The aggregate's merge threw: ${describeError(error)}`);
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

  /** Replaces each session of the group from before this batch with a copy, in its list too. */
  private copyBeforeFiring(key: Key, group: Partial[]): void {
    for (const partial of group) {
      const s = partial.s;
      if (this.touchedSessions.has(s)) continue;
      const copy = { start: s.start, end: s.end, acc: s.acc };
      const sessions = partial.p.sessions.get(key)!;
      sessions[sessions.indexOf(s)] = copy;
      partial.s = copy;
      this.touchedSessions.add(copy);
    }
  }

  /** Marks a session as changed in this batch and keeps a timer at its end. */
  private touch(p: PartitionState, key: Key, session: SessionPartial, endChanged = true): void {
    this.touchedSessions.add(session);
    let keys = this.touchedKeys.get(p);
    if (!keys) {
      keys = new Set();
      this.touchedKeys.set(p, keys);
    }
    keys.add(key);
    if (endChanged) this.timersOf(p).push(session.end, key);
  }

  private timersOf(p: PartitionState): DueQueue<Key> {
    let timers = this.timers.get(p);
    if (!timers) {
      timers = new DueQueue();
      for (const [key, list] of p.sessions) for (const s of list) timers.push(s.end, key);
      this.timers.set(p, timers);
    }
    return timers;
  }

  private touchesRetainedSession(key: Key, start: number, end: number): boolean {
    const scope = this.scope === 'partition' ? [this.cursor.p] : this.cursor.state.partitions.values();
    for (const p of scope) {
      const sessions = p.sessions.get(key);
      if (sessions?.some((s) => s.start <= end && s.end >= start)) return true;
    }
    return false;
  }
}
