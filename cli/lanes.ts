/**
 * Runs work items in lanes, as the event source mapping runs a topic's partitions: the items of one
 * lane one after another in the order given, different lanes at the same time, at most
 * `concurrency` items at once. The producer waits while `maxWaiting` items wait to start, so
 * reading ahead stays bounded. The first failure stops everything: no item starts after it, the
 * running ones are awaited, and `push` and `finish` throw it.
 */
export class Lanes<T> {
  /** Items not started yet, in the order pushed. */
  private readonly waiting: { readonly lane: number; readonly item: T }[] = [];
  /** Lanes with an item running. */
  private readonly busy = new Set<number>();
  private failed: { readonly error: unknown } | undefined;
  private changed: (() => void) | undefined;

  constructor(
    private readonly work: (item: T, lane: number) => Promise<void>,
    private readonly concurrency: number,
    private readonly maxWaiting: number,
  ) {
    if (!(concurrency >= 1) || !(maxWaiting >= 1))
      throw new RangeError('concurrency and maxWaiting must be >= 1');
  }

  /** Queues `item` on `lane`; returns once fewer than `maxWaiting` items wait. */
  async push(lane: number, item: T): Promise<void> {
    this.throwIfFailed();
    this.waiting.push({ lane, item });
    this.start();
    while (this.waiting.length >= this.maxWaiting && this.failed === undefined) await this.change();
    this.throwIfFailed();
  }

  /** Waits until every item has run (or, after a failure, every running one has ended). */
  async finish(): Promise<void> {
    while (this.busy.size > 0 || (this.waiting.length > 0 && this.failed === undefined)) await this.change();
    this.throwIfFailed();
  }

  private start(): void {
    while (this.failed === undefined && this.busy.size < this.concurrency) {
      const next = this.waiting.findIndex((w) => !this.busy.has(w.lane));
      if (next < 0) return;
      const [{ lane, item }] = this.waiting.splice(next, 1) as [{ lane: number; item: T }];
      this.busy.add(lane);
      this.work(item, lane).then(
        () => this.settle(lane),
        (error: unknown) => {
          this.failed ??= { error };
          this.waiting.length = 0;
          this.settle(lane);
        },
      );
    }
  }

  private settle(lane: number): void {
    this.busy.delete(lane);
    this.start();
    const changed = this.changed;
    this.changed = undefined;
    changed?.();
  }

  private change(): Promise<void> {
    return new Promise((resolve) => {
      const previous = this.changed;
      this.changed = () => {
        previous?.();
        resolve();
      };
    });
  }

  private throwIfFailed(): void {
    if (this.failed !== undefined) throw this.failed.error;
  }
}
