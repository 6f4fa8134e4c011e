/**
 * Step 6 of a commit: publish a committed checkpoint's files to its Iceberg tables, each under the
 * snapshot id the manifest fixed. Idempotent: an append whose snapshot is in the table, or whose
 * epoch the table's mark for this history has reached, does nothing.
 */
import { FloeError } from '../errors.ts';
import { appendFiles, TableCache } from '../iceberg/append-files.ts';
import type { Columns, Table } from '../sink/table.ts';
import type { CheckpointStores } from '../stores/checkpoint-stores.ts';
import type { CheckpointManifest } from './manifest.ts';

export class TablePublisher {
  /** What this process's last append to each table left, to skip re-reading it (TableCache). */
  private readonly caches = new Map<string, TableCache>();
  /**
   * The last append of this process to each table, which the next one waits for. Commit groups
   * publish concurrently, and appends to one table from one process would only race on the
   * catalog's compare-and-swap: each loser deletes its manifest list and metadata file, backs off,
   * re-reads the table and writes them again. One after the other, each append finds the table as
   * the previous one left it (the warm TableCache) and commits at its first attempt. Other
   * processes still race through the compare-and-swap, as before.
   */
  private readonly tails = new Map<string, Promise<unknown>>();

  constructor(
    private readonly stores: CheckpointStores,
    private readonly tables: ReadonlyMap<string, Table<Columns>>,
  ) {}

  async publish(manifest: CheckpointManifest): Promise<void> {
    await Promise.all(
      manifest.publishes.map((p) => {
        const table = this.tables.get(p.table);
        if (table === undefined) {
          throw new FloeError(
            `Checkpoint ${manifest.group}/${manifest.epoch} of job ${manifest.job} publishes to table ${p.table}, which this job does not write. Was the job's table renamed? Publish it with the old job version, or start from a new run directory.`,
          );
        }
        return this.inTurn(table.name, () =>
          appendFiles(this.stores.catalog, this.stores.warehouse, table.name, table, p.files, {
            snapshotId: BigInt(p.snapshotId),
            cache: this.cacheOf(table.name),
            // A group publishes its epochs in order, so once the table's mark for this history
            // reaches the epoch, the publish happened, even if its snapshot has since expired.
            mark: { key: `floe.published.${manifest.lineage}.${manifest.group}`, value: manifest.epoch },
            summary: {
              'floe.job': manifest.job,
              'floe.commit-group': manifest.group,
              'floe.epoch': String(manifest.epoch),
              'floe.lineage': manifest.lineage,
            },
          }),
        );
      }),
    );
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
