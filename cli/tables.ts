import { existsSync } from 'node:fs';
import { runDirectory } from '../adapters/local/run-directory.ts';
import { queryCommand, renderTable } from './render.ts';
import { UsageError } from './usage-error.ts';

/** `floe tables --dir DIR [--json]`: the Iceberg tables of a run and their current metadata files. */
export async function tables(
  options: { readonly dir: string; readonly json: boolean },
  out: (text: string) => void,
) {
  if (!existsSync(options.dir)) throw new UsageError(`No run directory at ${options.dir}.`);
  const list = await runDirectory(options.dir).catalog.listTables();
  if (options.json) {
    out(JSON.stringify(list.map(({ name, metadataLocation }) => ({ name, metadataLocation }))));
    return;
  }
  out(`Tables in ${options.dir} (${list.length}):`);
  out(renderTable(list.map(({ name, metadataLocation }) => ({ table: name, metadata: metadataLocation }))));
  if (list.length > 0) {
    out(`\nRead one with SQL: ${queryCommand(`select * from ${list[0]!.name} limit 10`, options.dir)}`);
    out('Or with pyiceberg: StaticTable.from_metadata("<metadata>").scan().to_arrow()');
  }
}
