/**
 * A lease that lets one process at a time consume the partition logs into the job group. It
 * saves work, not correctness: two consumers that both ran would race on the job group's head,
 * and the loser's commit would fail its condition and change nothing. Without the lease, every
 * invocation of a wide topic would consume at once and all but one would waste the round.
 *
 * The lease is one small item: `{ owner, until }`. Taking it is one conditional write; a process
 * that finds it held by another owner whose `until` has not passed skips the round (the holder
 * consumes what was appended meanwhile, see `CheckpointedProcessor`). A crashed holder's lease
 * lapses at `until`.
 */
import { randomUUID } from 'node:crypto';
import { ConditionFailedError, type StateStore } from '../stores/state-store.ts';
import { consumerLeaseKey } from './layout.ts';

/** A lease held by this process. */
export interface HeldLease {
  /** Extends the lease if less than half its time is left; false if it was lost meanwhile. */
  renew(): Promise<boolean>;
  /** Gives the lease up (best effort: a failure leaves it to lapse). */
  release(): Promise<void>;
}

export class ConsumerLease {
  private readonly owner = randomUUID();

  constructor(
    private readonly heads: StateStore,
    private readonly jobId: string,
    private readonly durationMs: number,
    private readonly clock: () => number,
  ) {}

  /**
   * Takes the lease, or returns undefined when another live holder has it, or when a consume
   * started less than `minIntervalMs` ago (the lease records when each one started).
   */
  async acquire(minIntervalMs = 0): Promise<HeldLease | undefined> {
    const key = consumerLeaseKey(this.jobId);
    const item = await this.heads.get(key);
    const now = this.clock();
    if (item !== undefined && !this.free(item.value, now)) return undefined;
    if (minIntervalMs > 0 && now - consumedAt(item?.value) < minIntervalMs) return undefined;
    let version: number;
    let until = now + this.durationMs;
    try {
      version = (
        await this.heads.put(
          key,
          { owner: this.owner, until, consumedAt: now },
          item === undefined ? { absent: true } : { expectedVersion: item.version },
        )
      ).version;
    } catch (error) {
      if (error instanceof ConditionFailedError) return undefined;
      throw error;
    }
    const renew = async (): Promise<boolean> => {
      const at = this.clock();
      if (until - at > this.durationMs / 2) return true;
      try {
        const next = at + this.durationMs;
        version = (
          await this.heads.put(
            key,
            { owner: this.owner, until: next, consumedAt: now },
            { expectedVersion: version },
          )
        ).version;
        until = next;
        return true;
      } catch (error) {
        if (error instanceof ConditionFailedError) return false;
        throw error;
      }
    };
    const release = async (): Promise<void> => {
      await this.heads
        .put(key, { owner: this.owner, until: 0, consumedAt: now }, { expectedVersion: version })
        .catch(() => undefined);
    };
    return { renew, release };
  }

  private free(value: unknown, now: number): boolean {
    if (typeof value !== 'object' || value === null) return true;
    const { owner, until } = value as { owner?: unknown; until?: unknown };
    return owner === this.owner || typeof until !== 'number' || until <= now;
  }
}

/** When the last consume started, from the lease's value (-infinity when it does not say). */
function consumedAt(value: unknown): number {
  const at = (value as { consumedAt?: unknown } | null | undefined)?.consumedAt;
  return typeof at === 'number' ? at : Number.NEGATIVE_INFINITY;
}
