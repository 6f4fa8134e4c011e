import { existsSync } from 'node:fs';
import { queryCommand, renderTable } from './render.ts';
import { onAws, type StoreFlags, storesFor, storesLocation } from './stores.ts';
import { UsageError } from './usage-error.ts';

/**
 * `floe tables --dir DIR [--json]`, or `--state ... --objects ...`: the Iceberg tables of a run
 * and their current metadata files (`s3://` locations on AWS).
 */
export async function tables(
  options: { readonly dir?: string | undefined; readonly json: boolean; readonly stores?: StoreFlags },
  out: (text: string) => void,
) {
  const aws = onAws(options.stores);
  const dir = options.dir;
  if (!aws && dir === undefined)
    throw new UsageError(
      'tables needs --dir DIR, the run directory (or --state and --objects for AWS stores).',
    );
  if (!aws && !existsSync(dir!)) throw new UsageError(`No run directory at ${dir}.`);
  // Only the catalog is read: it is one table for every job.
  const { catalog } = await storesFor('tables', options.stores, dir ?? '.');
  const list = await catalog.listTables();
  if (options.json) {
    out(JSON.stringify(list.map(({ name, metadataLocation }) => ({ name, metadataLocation }))));
    return;
  }
  out(`Tables in ${storesLocation(options.stores, dir ?? '')} (${list.length}):`);
  out(renderTable(list.map(({ name, metadataLocation }) => ({ table: name, metadata: metadataLocation }))));
  if (list.length > 0 && !aws) {
    out(`\nRead one with SQL: ${queryCommand(`select * from ${list[0]!.name} limit 10`, dir!)}`);
    out('Or with pyiceberg: StaticTable.from_metadata("<metadata>").scan().to_arrow()');
  }
}
