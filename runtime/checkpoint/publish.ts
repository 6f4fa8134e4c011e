/**
 * The appends of a publish round (committer.ts): every commit group's committed but unpublished
 * epochs go into each table as ONE snapshot, and every involved group's mark
 * `floe.published.<lineage>.<group>` moves in the same metadata commit. Idempotent: each attempt
 * of an append keeps only the epochs above their group's mark in the table as it finds it
 * (publisher-marks.ts), so a retried, racing or stale round adds nothing twice, even after the
 * snapshots that published an epoch expired.
 */
import { FloeError } from '../errors.ts';
import { appendPlanned, TableCache } from '../iceberg/append-files.ts';
import { type DataFile, writePreparedDataFile } from '../iceberg/data-file.ts';
import { DataFileConflictError } from '../iceberg/errors.ts';
import { aboveMarks, type BacklogEpoch, type PublisherBacklog } from '../iceberg/publisher-marks.ts';
import { dataFileKey } from '../iceberg/table-layout.ts';
import type { Columns, Table } from '../sink/table.ts';
import type { CheckpointStores } from '../stores/checkpoint-stores.ts';
import { decodeInlineRows, type InlineRows } from './inline-rows.ts';
import { newAttemptId, roundDataFileName, roundSnapshotId } from './layout.ts';
import type { CheckpointManifest } from './manifest.ts';

/** A group's committed epochs that a round found unpublished: from its head back to its published mark. */
export interface GroupBacklog {
  readonly group: string;
  readonly lineage: string;
  /** The epoch the group was published through before the round (0: none). */
  readonly from: number;
  /** The head's epoch: the group is published through it once the round's appends succeed. */
  readonly through: number;
  /**
   * Its committed manifests above the published mark, oldest first: those in the checkpoint store
   * (every epoch that names data files) and the head's own. Epochs between them named none.
   */
  readonly manifests: readonly CheckpointManifest[];
}

/** What a round appended to one table: one snapshot. */
export interface RoundSnapshot {
  readonly table: string;
  /** Decimal: 63 bits. */
  readonly snapshotId: string;
  readonly files: number;
  readonly records: number;
  /** Groups whose epochs it holds. */
  readonly groups: number;
  /** The metadata file it installed. */
  readonly metadataLocation: string;
}

interface GroupEpoch extends BacklogEpoch {
  readonly records: number;
  /** Rows its manifest holds instead of a file (`files` is then empty). */
  readonly rows?: InlineRows;
}

interface GroupPublisher extends PublisherBacklog<GroupEpoch> {
  readonly group: string;
  readonly lineage: string;
}

export class TablePublisher {
  /** What this process's last append to each table left, to skip re-reading it (TableCache). */
  private readonly caches = new Map<string, TableCache>();
  /**
   * The last append of this process to each table, which the next one waits for: two rounds of
   * one process (a flush during a round) would only race on the catalog's compare-and-swap. One
   * after the other, each append finds the table as the previous one left it (the warm
   * TableCache). Other processes still race through the compare-and-swap.
   */
  private readonly tails = new Map<string, Promise<unknown>>();

  constructor(
    private readonly stores: CheckpointStores,
    private readonly tables: ReadonlyMap<string, Table<Columns>>,
    private readonly job: string,
  ) {}

  /**
   * Where each table was left by the last round, by the committer item: a cache elsewhere is
   * stale, and dropping it now saves an attempt that would lose its compare-and-swap.
   */
  hint(tables: Readonly<Record<string, string>>): void {
    for (const [name, cache] of this.caches) {
      const location = tables[name];
      if (location !== undefined) cache.forgetUnlessAt(location);
    }
  }

  /**
   * Appends the backlogs' files to their tables, one snapshot per table with files (in
   * parallel), each keeping only the epochs above their group's mark as the table then stands.
   * Resolves once every table holds every epoch of the backlogs; throws if an append failed
   * (retrying the round is safe).
   */
  async publish(backlogs: readonly GroupBacklog[]): Promise<RoundSnapshot[]> {
    const byTable = new Map<string, GroupPublisher[]>();
    for (const backlog of backlogs) {
      const perTable = new Map<string, GroupEpoch[]>();
      for (const manifest of backlog.manifests) {
        if (manifest.lineage !== backlog.lineage || manifest.group !== backlog.group) {
          throw new FloeError(
            `Job ${this.job}, commit group ${backlog.group}: checkpoint ${manifest.group}/${manifest.epoch} of history ${manifest.lineage} is on the chain of history ${backlog.lineage}; the checkpoint store holds objects of another job or run. Start from new stores.`,
          );
        }
        for (const p of manifest.publishes) {
          if (!this.tables.has(p.table)) {
            throw new FloeError(
              `Checkpoint ${manifest.group}/${manifest.epoch} of job ${manifest.job} publishes to table ${p.table}, which this job does not write. Was the job's table renamed? Publish it with the old job version, or start from a new run directory.`,
            );
          }
          const epochs = perTable.get(p.table) ?? [];
          epochs.push({
            epoch: manifest.epoch,
            files: p.files,
            records: p.records,
            ...(p.rows === undefined ? {} : { rows: p.rows }),
          });
          perTable.set(p.table, epochs);
        }
      }
      for (const [table, epochs] of perTable) {
        const publishers = byTable.get(table) ?? [];
        publishers.push({
          mark: `floe.published.${backlog.lineage}.${backlog.group}`,
          through: backlog.through,
          epochs,
          group: backlog.group,
          lineage: backlog.lineage,
        });
        byTable.set(table, publishers);
      }
    }
    const appended = await Promise.all(
      [...byTable].map(([name, publishers]) =>
        this.inTurn(name, () => this.append(this.tables.get(name)!, publishers)),
      ),
    );
    return appended.filter((s) => s !== undefined);
  }

  private async append(
    table: Table<Columns>,
    publishers: readonly GroupPublisher[],
  ): Promise<RoundSnapshot | undefined> {
    let groups = 0;
    // The file of each group's rows held in manifests, per selection of epochs: an attempt that
    // selects what an earlier one did names the same snapshot id, so the same files.
    const roundFiles = new Map<string, Promise<DataFile>>();
    const result = await appendPlanned(
      this.stores.catalog,
      this.stores.warehouse,
      table.name,
      table,
      async (current) => {
        const selection = aboveMarks(current.properties, publishers, current.name);
        // The groups' files of rows held in manifests, written in parallel.
        const written: Promise<DataFile>[] = [];
        for (const { backlog, epochs } of selection.included) {
          const held = epochs.filter((e) => e.rows !== undefined);
          if (held.length === 0) continue;
          const { group, lineage } = backlog as GroupPublisher;
          const selected = `${group} ${held.map((e) => e.epoch).join(',')}`;
          let file = roundFiles.get(selected);
          if (file === undefined) {
            file = this.writeRoundFile(table, group, lineage, held);
            // A failed write fails this attempt; a later one writes again.
            file.catch(() => roundFiles.delete(selected));
            roundFiles.set(selected, file);
          }
          written.push(file);
        }
        const files = [...selection.files, ...(await Promise.all(written))];
        if (files.length === 0) return undefined;
        const included = selection.included.map(({ backlog, epochs }) => {
          const { group, lineage } = backlog as GroupPublisher;
          return { group, lineage, epochs: epochs.map((e) => e.epoch) };
        });
        groups = included.length;
        return {
          snapshotId: roundSnapshotId(table.name, included),
          files,
          properties: selection.marks,
          summary: roundSummary(this.job, included),
        };
      },
      { cache: this.cacheOf(table.name) },
    );
    if (!result.committed) return undefined;
    const { plan } = result;
    return {
      table: table.name,
      snapshotId: String(plan.snapshotId),
      files: plan.files.length,
      records: plan.files.reduce((sum, file) => sum + file.recordCount, 0),
      groups,
      metadataLocation: result.metadataLocation,
    };
  }

  /**
   * Writes the rows that the manifests of `epochs` hold (oldest first) as one Parquet file, named
   * by the group and the epochs (layout.ts `roundDataFileName`): rounds racing over the same
   * epochs write the same bytes under the same name, and the one whose snapshot lands names it.
   */
  private async writeRoundFile(
    table: Table<Columns>,
    group: string,
    lineage: string,
    epochs: readonly GroupEpoch[],
  ): Promise<DataFile> {
    const prepared = {
      table,
      ...decodeInlineRows(
        table,
        epochs.map((e) => e.rows!),
      ),
    };
    const [first, last] = [epochs[0]!.epoch, epochs.at(-1)!.epoch];
    const key = (attempt?: string) =>
      dataFileKey(table.name, roundDataFileName(this.job, group, lineage, first, last, attempt));
    try {
      return await writePreparedDataFile(this.stores.warehouse, prepared, key());
    } catch (error) {
      // Taken by other bytes for the same rows (another Floe version encodes them otherwise): a
      // name of this attempt's own, left unnamed if this round does not land.
      if (!(error instanceof DataFileConflictError)) throw error;
      return writePreparedDataFile(this.stores.warehouse, prepared, key(newAttemptId(Date.now())));
    }
  }

  /** Runs `append` after this process's previous append to `table` has settled. */
  private inTurn<T>(table: string, append: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(table) ?? Promise.resolve();
    const next = previous.then(append, append);
    const tail = next.catch(() => undefined);
    this.tails.set(table, tail);
    void tail.then(() => {
      if (this.tails.get(table) === tail) this.tails.delete(table);
    });
    return next;
  }

  private cacheOf(name: string): TableCache {
    const cache = this.caches.get(name) ?? new TableCache();
    this.caches.set(name, cache);
    return cache;
  }
}

/**
 * The snapshot summary of a round's append: the job and how many groups it holds, and for a
 * single group its history and epochs, as a commit's own publish recorded them.
 */
function roundSummary(
  job: string,
  included: readonly {
    readonly group: string;
    readonly lineage: string;
    readonly epochs: readonly number[];
  }[],
): Record<string, string> {
  const summary: Record<string, string> = { 'floe.job': job, 'floe.commit-groups': String(included.length) };
  const only = included.length === 1 ? included[0]! : undefined;
  if (only !== undefined) {
    summary['floe.commit-group'] = only.group;
    summary['floe.lineage'] = only.lineage;
    if (only.epochs.length === 1) summary['floe.epoch'] = String(only.epochs[0]);
    else summary['floe.epochs'] = only.epochs.join(',');
  }
  return summary;
}
