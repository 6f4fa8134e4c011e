/**
 * A lease that lets one process at a time consume the partition logs into the job group. It
 * saves work, not correctness: two consumers that both ran would race on the job group's head,
 * and the loser's commit would fail its condition and change nothing. Without the lease, every
 * invocation of a wide topic would consume at once and all but one would waste the round.
 *
 * The lease is one small item: `{ owner, until, epoch }`. Taking it is one conditional write; a
 * process that finds it held skips the round (the holder consumes what was appended meanwhile,
 * see `CheckpointedProcessor`). It is held while its `until` has not passed and the job group's
 * head is still at the `epoch` it was taken at: the holder's commit ends it, without a write of
 * its own (a write unit and a round trip less per consume; only a holder that did not commit
 * releases it). A crashed holder's lease lapses at `until`. Whoever else moves the job group's
 * epoch without the lease (a drain, a process that does not use partition logs) ends it too: the
 * holder's next commit then fails its condition and reloads, as with any race.
 */
import { randomUUID } from 'node:crypto';
import { ConditionFailedError, type StateStore } from '../stores/state-store.ts';
import { type Head, readHead } from './head.ts';
import { consumerLeaseKey } from './layout.ts';

/** A lease held by this process. */
export interface HeldLease {
  /** The job group's head as read when the lease was taken (undefined: none yet). */
  readonly jobHead?: Head;
  /**
   * Keeps the lease for another round: takes it again at `committed`, the epoch this process's
   * last round committed (that commit ended it), else extends it if less than half its time is
   * left. False if it was lost meanwhile.
   */
  renew(committed?: number): Promise<boolean>;
  /**
   * Gives the lease up: nothing to write when this process committed `committed` since it took
   * the lease last (the commit ended it); otherwise one write (best effort: a failure leaves it
   * to lapse).
   */
  release(committed?: number): Promise<void>;
}

/** What an attempt to take the lease found: the lease when taken, and the job group's head it read. */
export interface LeaseAttempt {
  readonly lease: HeldLease | undefined;
  readonly jobHead: Head | undefined;
}

export class ConsumerLease {
  private readonly owner = randomUUID();

  constructor(
    private readonly heads: StateStore,
    private readonly jobId: string,
    private readonly durationMs: number,
    private readonly clock: () => number,
    /** Reads the job group's head. @default - from `heads` */
    private readonly jobHead: () => Promise<Head | undefined> = () => readHead(heads, jobId, 'job'),
  ) {}

  /**
   * Takes the lease, or returns undefined when another live holder has it, or when a consume
   * started less than `minIntervalMs` ago (the lease records when each one started).
   */
  async acquire(minIntervalMs = 0): Promise<HeldLease | undefined> {
    return (await this.attempt(minIntervalMs)).lease;
  }

  /**
   * As {@link acquire}, and also returns the job group's head the attempt read, taken or not: a
   * process that goes on to append needs the group's committed offsets, and this head gives them
   * without another read (a head read a moment earlier only appends a record or two more, which
   * the consume skips).
   */
  async attempt(minIntervalMs = 0): Promise<LeaseAttempt> {
    const key = consumerLeaseKey(this.jobId);
    // Read together: the head only says whether the holder has committed since it took the lease.
    const [item, jobHead] = await Promise.all([this.heads.get(key), this.jobHead()]);
    const jobEpoch = jobHead?.value.epoch ?? 0;
    const now = this.clock();
    const notTaken = { lease: undefined, jobHead };
    if (item !== undefined && !this.free(item.value, now, jobEpoch)) return notTaken;
    if (minIntervalMs > 0 && now - consumedAt(item?.value) < minIntervalMs) return notTaken;
    let version: number;
    let until = now + this.durationMs;
    let epoch = jobEpoch;
    try {
      version = (
        await this.heads.put(
          key,
          { owner: this.owner, until, consumedAt: now, epoch },
          item === undefined ? { absent: true } : { expectedVersion: item.version },
        )
      ).version;
    } catch (error) {
      if (error instanceof ConditionFailedError) return notTaken;
      throw error;
    }
    const ended = (committed: number | undefined) => committed !== undefined && committed > epoch;
    const renew = async (committed?: number): Promise<boolean> => {
      const at = this.clock();
      if (!ended(committed) && until - at > this.durationMs / 2) return true;
      try {
        const next = at + this.durationMs;
        const nextEpoch = ended(committed) ? committed! : epoch;
        version = (
          await this.heads.put(
            key,
            { owner: this.owner, until: next, consumedAt: now, epoch: nextEpoch },
            { expectedVersion: version },
          )
        ).version;
        until = next;
        epoch = nextEpoch;
        return true;
      } catch (error) {
        if (error instanceof ConditionFailedError) return false;
        throw error;
      }
    };
    const release = async (committed?: number): Promise<void> => {
      if (ended(committed)) return;
      await this.heads
        .put(key, { owner: this.owner, until: 0, consumedAt: now, epoch }, { expectedVersion: version })
        .catch(() => undefined);
    };
    return { lease: { jobHead, renew, release }, jobHead };
  }

  /** Whether a lease item leaves the lease to this process, the job group being at `jobEpoch`. */
  private free(value: unknown, now: number, jobEpoch: number): boolean {
    if (typeof value !== 'object' || value === null) return true;
    const { owner, until, epoch } = value as { owner?: unknown; until?: unknown; epoch?: unknown };
    return (
      owner === this.owner ||
      typeof until !== 'number' ||
      until <= now ||
      // The holder committed (or someone else moved the group on): its round is over.
      (typeof epoch === 'number' && jobEpoch > epoch)
    );
  }
}

/** When the last consume started, from the lease's value (-infinity when it does not say). */
function consumedAt(value: unknown): number {
  const at = (value as { consumedAt?: unknown } | null | undefined)?.consumedAt;
  return typeof at === 'number' ? at : Number.NEGATIVE_INFINITY;
}
