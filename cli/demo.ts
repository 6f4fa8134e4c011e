import { existsSync, readdirSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TEMP_PREFIX } from '../adapters/local/durable-file.ts';
import { EXAMPLE_JOBS } from '../examples/index.ts';
import { generateBids } from '../examples/nexmark/generator.ts';
import type { Job } from '../runtime/job/job.ts';
import type { CatalogTable } from '../runtime/stores/catalog.ts';
import type { StatusStream } from './progress.ts';
import { formatTime, queryCommand, renderTable, shellWord } from './render.ts';
import { openRunInput, runDirectoryEntries, runJob } from './run.ts';
import { UsageError } from './usage-error.ts';

export interface DemoOptions {
  /**
   * Bids to generate.
   * @default 20_000 (lowered from 50,000 when every batch began to commit to Iceberg tables, so
   * that `npm start` stays under 15 s on two cores)
   */
  readonly bids?: number;
  /** @default 4 */
  readonly partitions?: number;
  /** Records per Lambda event. @default 500 */
  readonly batchSize?: number;
  /** @default 42 */
  readonly seed?: number;
  /** Where the bids and the tables go; wiped at the start. @default .floe/demo */
  readonly dir?: string;
}

export const DEMO_DEFAULTS = { bids: 20_000, partitions: 4, batchSize: 500, seed: 42, dir: '.floe/demo' };

/** The demo's input file, in its directory. */
const BIDS_FILE = 'bids.jsonl';

/**
 * What the demo leaves in its directory: its input and what `floe run` writes there (taken from
 * the runner's layout, so a new entry there cannot make a second demo refuse its own directory).
 * A directory holding anything else is not wiped.
 */
const demoEntries = () => new Set([BIDS_FILE, ...runDirectoryEntries()]);

/**
 * `npm start`: generates Nexmark bids into a JSON lines file and runs every example job over it
 * with `floe run`'s runner (the Lambda handler, exactly-once commits, Iceberg tables), then shows
 * what each one produced and where the tables are.
 */
export async function demo(
  options: DemoOptions,
  out: (text: string) => void,
  status: StatusStream | undefined = process.stderr,
): Promise<void> {
  const { bids: count, partitions, batchSize, seed, dir } = { ...DEMO_DEFAULTS, ...defined(options) };
  await resetDemoDirectory(dir);
  const bids = generateBids({ count, seed, skew: 0.8, eventsPerSecond: 250 });
  const path = join(dir, BIDS_FILE);
  await writeFile(path, bids.map((bid) => `${JSON.stringify(bid)}\n`).join(''));
  const input = await openRunInput({
    input: path,
    partitions,
    batchSize,
    key: 'auction',
    timestamp: 'dateTime',
  });

  out(
    `Floe demo: ${n(bids.length)} Nexmark bids from ${formatTime(bids[0]?.dateTime ?? 0)} in ${path}, ` +
      `read as topic ${input.params.topic} with ${partitions} partitions (key = auction), batches of up to ${n(batchSize)} records, seed ${seed}.`,
  );
  if (options.bids === undefined) {
    out(
      `(${n(count)} bids by default, down from 50,000 now that every batch commits exactly once to Iceberg tables; npm start -- --bids 50000 for more.)`,
    );
  }
  out('Each example runs through its Lambda handler, as `floe run` does.\n');

  let firstTable: CatalogTable | undefined;
  const tableNames: string[] = [];
  for (const [name, job] of Object.entries(EXAMPLE_JOBS) as [string, Job<unknown>][]) {
    const rows: Record<string, unknown>[] = [];
    const report = await runJob(job, input, {
      dir,
      status,
      onOutcome: (outcome) => {
        for (const r of outcome.rows) rows.push(r.row as Record<string, unknown>);
      },
    });
    firstTable ??= report.tables.find((t) => t.name === report.tableNames.rows);
    tableNames.push(...report.tables.map((t) => t.name));

    out(`== ${name} -> ${job.plan.table.name}`);
    out(
      `   ${job.plan.assigner}, ${job.plan.scope === 'partition' ? 'fired per partition (Kafka key)' : 'merged across partitions'}`,
    );
    out(
      `   ${n(report.batches)} batches, ${n(report.newCommits)} commits, ${n(report.rows)} rows, ${n(report.late)} late, ` +
        `${n(report.deadLetters)} dead letters, ${n(report.recordsPerSecond)} records/s`,
    );
    out(renderTable(highlights(rows), 5));
    out('');
  }

  out(`Tables: ${tableNames.length} Iceberg tables in ${dir}: ${tableNames.join(', ')}.`);
  out(`  npx floe tables --dir ${shellWord(dir)}    (each table with its current metadata file)`);
  if (firstTable !== undefined) {
    out(
      `  python -c "from pyiceberg.table import StaticTable; print(StaticTable.from_metadata('${firstTable.metadataLocation}').scan().to_arrow())"`,
    );
  }
  out(`\nRun one example yourself (resumes after a crash; run it twice to see "already complete"):`);
  out(
    `  npx floe run examples/hot-items.ts --input ${path} --key auction --timestamp dateTime --partitions ${partitions}`,
  );
  out('Or one Lambda test event (with a malformed record that becomes a dead letter):');
  out('  npx floe invoke examples/bids-per-auction.ts --event examples/events/msk-bids.json');
  out(
    `\nQuery the tables with SQL (DuckDB; add --json for JSON lines), e.g. the latest windows' hottest items:`,
  );
  out(`  ${queryCommand(demoQuery(tableNames), dir)}`);
}

/** The query the demo suggests: the hot items of the latest windows, or any table's first rows. */
export function demoQuery(tableNames: readonly string[]): string {
  const hotItems = EXAMPLE_JOBS['hot-items'].plan.table.name;
  return tableNames.includes(hotItems)
    ? `select * from ${hotItems} order by window_end desc, bids desc limit 5`
    : `select * from ${tableNames[0] ?? 'information_schema.tables'} limit 5`;
}

/** Empties the demo directory, so the demo always runs in full; refuses a directory holding other things. */
async function resetDemoDirectory(dir: string): Promise<void> {
  if (existsSync(dir)) {
    const ours = demoEntries();
    const foreign = readdirSync(dir).filter((entry) => !ours.has(entry) && !entry.startsWith(TEMP_PREFIX));
    if (foreign.length > 0) {
      throw new UsageError(
        `${dir} holds files the demo did not write (${foreign.slice(0, 3).join(', ')}); the demo wipes its --dir, so give an empty or new one.`,
      );
    }
    await rm(dir, { recursive: true, force: true });
  }
  await mkdir(dir, { recursive: true });
}

/** The rows worth looking at first: the largest measure, latest window first on ties. */
function highlights(rows: readonly Record<string, unknown>[]): Record<string, unknown>[] {
  const measure = (row: Record<string, unknown>) =>
    Number(row.bids ?? row.revenue ?? row.max_price ?? row.total_price ?? 0);
  return [...rows].sort((a, b) => measure(b) - measure(a) || Number(b.window_end) - Number(a.window_end));
}

function defined<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function n(value: number): string {
  return value.toLocaleString('en');
}
