/**
 * A min-heap of (time, item) pairs: the engine's timers. Firing and expiry pop what is due instead
 * of scanning all state, so a batch costs what it fires, not what is stored; with batches of one
 * record, a scan of all sessions per batch would make a run quadratic.
 *
 * Entries are never updated in place: a session that grows pushes a new entry, and the stale one
 * is dropped when popped (the caller checks the item against the state).
 */
export class DueQueue<T> {
  private readonly times: number[] = [];
  private readonly items: T[] = [];

  get size(): number {
    return this.times.length;
  }

  push(time: number, item: T): void {
    const times = this.times;
    const items = this.items;
    let i = times.length;
    times.push(time);
    items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (times[parent]! <= time) break;
      times[i] = times[parent]!;
      items[i] = items[parent]!;
      i = parent;
    }
    times[i] = time;
    items[i] = item;
  }

  /** Removes every entry with time <= `until` and hands it to `visit`, earliest first. */
  popDue(until: number, visit: (item: T, time: number) => void): void {
    while (this.times.length > 0 && this.times[0]! <= until) {
      const time = this.times[0]!;
      const item = this.items[0]!;
      this.removeTop();
      visit(item, time);
    }
  }

  private removeTop(): void {
    const times = this.times;
    const items = this.items;
    const lastTime = times.pop()!;
    const lastItem = items.pop()!;
    const n = times.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && times[right]! < times[left]! ? right : left;
      if (times[child]! >= lastTime) break;
      times[i] = times[child]!;
      items[i] = items[child]!;
      i = child;
    }
    times[i] = lastTime;
    items[i] = lastItem;
  }
}
