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
        return appendFiles(this.stores.catalog, this.stores.warehouse, table.name, table, p.files, {
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
        });
      }),
    );
  }

  private cacheOf(name: string): TableCache {
    const cache = this.caches.get(name) ?? new TableCache();
    this.caches.set(name, cache);
    return cache;
  }
}
