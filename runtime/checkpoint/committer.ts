/**
 * The table committer: publishes what the commit groups committed, in rounds, instead of every
 * commit appending its own snapshot to every table. See "The table committer" in docs/design.md.
 *
 * A round:
 * 1. reads the committer item (committer-item.ts) and lists the heads, in parallel. A round due
 *    after a commit first takes the lease: it writes the item's `roundAt` on condition that the
 *    item is as it read it; a process that loses skips the round (another one runs it);
 * 2. per group whose head is above the epoch the item says is published, walks the manifest
 *    chain from the head down to that epoch (manifests this process holds are not read again;
 *    one cleaned away means everything below it is published: cleanup deletes only those);
 * 3. appends to each table, as ONE snapshot, the files of every such epoch above its group's
 *    mark in the table, and sets all those marks in the same metadata commit (publish.ts);
 * 4. once every table holds them, records each group's head epoch as published in the item.
 *
 * Safe concurrently with commits (a round publishes only manifests the heads it read name) and
 * with other rounds, stale ones included: the marks decide, on every attempt of every append,
 * what is still to publish.
 */
import { FloeError } from '../errors.ts';
import type { CheckpointStores } from '../stores/checkpoint-stores.ts';
import { ConditionFailedError } from '../stores/state-store.ts';
import type { CheckpointReader } from './committed-state.ts';
import {
  type CommitterItem,
  NO_COMMITTER_ITEM,
  publishedThrough,
  readCommitterItem,
  recordRound,
  type StoredCommitterItem,
  writeCommitterItem,
} from './committer-item.ts';
import { type Head, listHeads } from './head.ts';
import { manifestPrefix, parseEpochAttempt } from './layout.ts';
import { type CheckpointManifest, chainKeys } from './manifest.ts';
import type { GroupBacklog, RoundSnapshot, TablePublisher } from './publish.ts';

export type { RoundSnapshot } from './publish.ts';

/** What a publish round did. */
export interface RoundReport {
  /** False when no round ran: not due yet, or another process holds the lease. */
  readonly ran: boolean;
  /** Groups that had committed epochs the round found unpublished. */
  readonly groups: number;
  /** Those epochs, over all groups (those that named no data file included). */
  readonly epochs: number;
  /** The snapshots it appended: at most one per table. */
  readonly snapshots: readonly RoundSnapshot[];
  /** Why a round after a commit failed (the batch stays committed; the next round catches up). */
  readonly error?: string;
}

export const NO_ROUND: RoundReport = { ran: false, groups: 0, epochs: 0, snapshots: [] };

export interface TableCommitterOptions {
  readonly stores: CheckpointStores;
  readonly jobId: string;
  readonly jobName: string;
  /** A round is due after a commit once this long has passed since the last one started. */
  readonly intervalMs: number;
  readonly clock: () => number;
  readonly reader: CheckpointReader;
  readonly publisher: TablePublisher;
  /** A manifest this process already holds (they are immutable), so that a walk need not read it. */
  readonly known: (group: string, key: string) => CheckpointManifest | undefined;
}

export class TableCommitter {
  /** The committer item as this process last read or wrote it. */
  private item: CommitterItem | undefined;

  constructor(private readonly options: TableCommitterOptions) {}

  /** The epoch through which the group's history is published, as far as this process knows (0: unknown). */
  publishedThrough(group: string, lineage: string): number {
    return publishedThrough(this.item, group, lineage);
  }

  /**
   * After a commit: whether a round is due, by what this process knows, without I/O. With an
   * interval of 0 every commit is followed by a round.
   */
  mayBeDue(): boolean {
    return this.item === undefined || this.overdue(this.item.roundAt, this.options.clock());
  }

  /**
   * The round after a commit: runs only if the interval has passed since the last round started
   * and this process takes the lease. Throws if it ran and failed.
   */
  dueRound(): Promise<RoundReport> {
    return this.round('due');
  }

  /**
   * A round now, whatever the interval and the lease (a flush): once it returns, every epoch
   * committed before it started is in the tables. Throws if it failed; retrying is safe.
   */
  flush(): Promise<RoundReport> {
    return this.round('flush');
  }

  private overdue(roundAt: number, now: number): boolean {
    const { intervalMs } = this.options;
    // A start further in the future than the interval is a skewed clock's, not a round to wait for.
    return now - roundAt >= intervalMs || roundAt - now > intervalMs;
  }

  private async round(mode: 'due' | 'flush'): Promise<RoundReport> {
    const { stores, jobId, clock } = this.options;
    const startedAt = clock();
    let base: StoredCommitterItem | undefined;
    let heads: { group: string; head: Head }[];
    if (mode === 'due' && this.options.intervalMs > 0) {
      base = await readCommitterItem(stores.heads, jobId);
      if (base !== undefined && !this.overdue(base.value.roundAt, startedAt)) {
        this.item = base.value;
        return NO_ROUND;
      }
      // The lease: of the processes that found the round due, the one whose write lands runs it.
      const lease = { ...(base?.value ?? NO_COMMITTER_ITEM), roundAt: startedAt };
      const [taken, listed] = await Promise.allSettled([
        writeCommitterItem(stores.heads, jobId, lease, base),
        listHeads(stores.heads, jobId),
      ]);
      if (taken.status === 'rejected') {
        if (!(taken.reason instanceof ConditionFailedError)) throw taken.reason;
        this.item = lease; // another process started a round just now
        return NO_ROUND;
      }
      if (listed.status === 'rejected') throw listed.reason;
      base = taken.value;
      this.item = base.value;
      heads = listed.value;
    } else {
      [base, heads] = await Promise.all([
        readCommitterItem(stores.heads, jobId),
        listHeads(stores.heads, jobId),
      ]);
      if (base !== undefined) this.item = base.value;
    }

    const backlogs = (await Promise.all(heads.map((h) => this.backlogOf(h, base?.value)))).filter(
      (b) => b !== undefined,
    );
    const tables: Record<string, string> = {};
    let snapshots: RoundSnapshot[] = [];
    if (backlogs.length > 0) {
      if (base !== undefined) this.options.publisher.hint(base.value.tables);
      snapshots = await this.options.publisher.publish(backlogs);
      for (const s of snapshots) tables[s.table] = s.metadataLocation;
    }
    // Every table holds every epoch of the backlogs: record them (also those without files).
    const published: Record<string, readonly [string, number]> = {};
    for (const b of backlogs) published[b.group] = [b.lineage, b.through];
    if (backlogs.length > 0 || base === undefined) {
      try {
        const written = await recordRound(
          stores.heads,
          jobId,
          base,
          { roundAt: startedAt, published, tables },
          this.options.intervalMs,
        );
        this.item = written.value;
      } catch (error) {
        // Other rounds kept writing the item first (a busy fleet publishing every commit). The
        // tables hold this round's epochs; the record lagging only costs a longer walk next time.
        if (!(error instanceof ConditionFailedError)) throw error;
      }
    }
    return {
      ran: true,
      groups: backlogs.length,
      epochs: backlogs.reduce((sum, b) => sum + b.through - b.from, 0),
      snapshots,
    };
  }

  /**
   * The group's committed manifests above the epoch the item says is published, oldest first; or
   * undefined when there are none, or when the head's own manifest is gone (the head moved on
   * meanwhile: a later round publishes it).
   */
  private async backlogOf(
    { group, head }: { group: string; head: Head },
    item: CommitterItem | undefined,
  ): Promise<GroupBacklog | undefined> {
    const { lineage, epoch, manifest: headKey } = head.value;
    const from = publishedThrough(item, group, lineage);
    if (headKey === null || epoch <= from) return undefined;
    const top =
      head.value.inline === undefined
        ? await this.manifest(group, headKey)
        : (this.options.known(group, headKey) ??
          (await this.options.reader.manifestOf(this.options.jobId, group, head)));
    if (top === undefined) return undefined;
    const manifests: CheckpointManifest[] = [top];
    const folder = manifestPrefix(this.options.jobId, group);
    // Down the chain of stored manifests in waves: each names the EARLIER_MANIFESTS before it
    // (`previous`, `earlier`), and their names carry their epochs, so one wave reads every one of
    // them still above `from`.
    for (let last = top; last.epoch - 1 > from; ) {
      const keys = chainKeys(last, folder);
      const wanted = keys.filter((key) => (parseEpochAttempt(key)?.epoch ?? Number.POSITIVE_INFINITY) > from);
      const wave = await Promise.all(wanted.map((key) => this.manifest(group, key)));
      for (const [i, m] of wave.entries()) {
        // Cleanup deletes a committed manifest only once a round recorded its epoch as
        // published, so from a missing one down everything is published.
        if (m === undefined) return { group, lineage, from, through: epoch, manifests: manifests.reverse() };
        if (m.epoch >= manifests.at(-1)!.epoch || m.lineage !== lineage) {
          throw new FloeError(
            `Job ${this.options.jobName}, commit group ${group}: checkpoint ${wanted[i]} (epoch ${m.epoch}, history ${m.lineage}) follows epoch ${manifests.at(-1)!.epoch} of history ${lineage} on the chain from the head; the checkpoint store is corrupt.`,
          );
        }
        manifests.push(m);
      }
      if (wanted.length < keys.length || wave.length === 0) break;
      last = manifests.at(-1)!;
    }
    return { group, lineage, from, through: epoch, manifests: manifests.reverse() };
  }

  /** A manifest of the group, from this process's memory or the store; undefined when it is gone. */
  private async manifest(group: string, key: string): Promise<CheckpointManifest | undefined> {
    return this.options.known(group, key) ?? (await this.options.reader.manifestIfPresent(key));
  }
}
