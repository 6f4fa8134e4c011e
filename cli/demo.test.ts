import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { EXAMPLE_JOBS, type ExampleName } from '../examples/index.ts';
import type { Bid } from '../examples/nexmark/bid.ts';
import { removeScratch } from '../test/support/cleanup.ts';
import { floe } from '../test/support/floe-cli.ts';
import { canonicalRows, readRunTables } from '../test/support/iceberg-tables.ts';
import { EXAMPLE_REFERENCES } from '../test/support/nexmark-reference.ts';
import { copyOfRepository, npmEnvironment } from '../test/support/repository-copy.ts';

const PROJECT = join(import.meta.dirname, '..');

/** Runs a command line with sh from the project root, `$NODE` and `$FLOE` naming this Node and bin/floe.js. */
async function sh(line: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, NODE: process.execPath, FLOE: join(PROJECT, 'bin', 'floe.js') };
  try {
    const { stdout, stderr } = await promisify(execFile)('sh', ['-c', line], { cwd: PROJECT, env });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const scratch = mkdtempSync(join(tmpdir(), 'floe-demo-'));
afterAll(() => removeScratch(scratch));

describe('floe demo (npm start)', () => {
  it('runs every example over the generated bids into Iceberg tables holding exactly the right rows', async () => {
    const dir = join(scratch, 'demo');

    const { code, stdout, stderr } = await floe('demo', '--bids', '3000', '--partitions', '3', '--dir', dir);

    expect(code, stderr).toBe(0);
    const bids = (await readFile(join(dir, 'bids.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Bid);
    expect(bids).toHaveLength(3000);
    const tables = await readRunTables(dir);
    // No late records and no dead letters: only the five examples' own tables exist.
    expect([...tables.keys()].sort()).toEqual(
      Object.values(EXAMPLE_JOBS)
        .map((job) => job.plan.table.name)
        .sort(),
    );
    for (const [name, job] of Object.entries(EXAMPLE_JOBS)) {
      const rows = canonicalRows(tables.get(job.plan.table.name)!.rows);
      expect(rows.length, name).toBeGreaterThan(0);
      expect(rows, name).toEqual(canonicalRows(EXAMPLE_REFERENCES[name as ExampleName](bids)));
      expect(stdout).toContain(`== ${name} -> ${job.plan.table.name}`);
    }
    expect(
      stdout.split('\n').filter((line) => / commits, [1-9][\d,]* rows, 0 late, 0 dead letters/.test(line)),
    ).toHaveLength(5);
    expect(stdout).toContain(`Tables: 5 Iceberg tables in ${dir}: `);
    expect(stdout).toContain(`npx floe tables --dir ${dir}`);
    expect(stdout).toContain('StaticTable.from_metadata(');

    // It ends with a floe query command that works as printed, from the project root.
    const command = stdout.trimEnd().split('\n').at(-1)!.trim();
    expect(command).toMatch(/^npx floe query "select \* from nexmark\.hot_items .*" --dir /);
    const query = await sh(command.replace(/^npx floe /, '"$NODE" "$FLOE" '));
    expect(query.code, query.stderr).toBe(0);
    expect(query.stdout).toMatch(/^ {2}auction +window_start +window_end +bids\n/);
    expect(query.stdout.trimEnd().split('\n').at(-1)).toBe('(5 rows)');
  });

  it('npm start works twice in a row in a fresh copy of the repository, and its printed query works', async () => {
    const copy = await copyOfRepository(join(scratch, 'checkout'));
    const run = promisify(execFile);
    const env = npmEnvironment();
    let stdout = '';
    for (let i = 0; i < 2; i++) {
      ({ stdout } = await run('npm', ['start', '--', '--bids', '2000'], { cwd: copy, env }));
    }
    // The last line is the query to try; run it as printed (npx floe, from the copy).
    const query = stdout.trimEnd().split('\n').at(-1)!.trim();
    expect(query).toMatch(/^npx floe query ".+" --dir \.floe\/demo$/);
    const result = await run('sh', ['-c', query], { cwd: copy, env });
    expect(result.stdout).toMatch(/\(5 rows\)\s*$/);
  });

  it('runs again on its own directory: a second demo wipes what the first wrote and succeeds', async () => {
    const dir = join(scratch, 'twice');
    const first = await floe('demo', '--bids', '300', '--partitions', '2', '--dir', dir);
    expect(first.code, first.stderr).toBe(0);
    // What the first run left: the bids, run.json, jobs/ and the stores' folders.
    expect(readdirSync(dir).sort()).toEqual(
      ['bids.jsonl', 'catalog', 'checkpoints', 'jobs', 'run.json', 'state', 'warehouse'].sort(),
    );

    const second = await floe('demo', '--bids', '300', '--partitions', '2', '--dir', dir);

    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).not.toContain('did not write');
    expect(second.stdout).toContain(`Tables: 5 Iceberg tables in ${dir}: `);
    // Wiped, not resumed: every example committed again.
    expect(second.stdout.split('\n').filter((line) => / [1-9][\d,]* commits, /.test(line))).toHaveLength(5);
  });

  it('refuses to wipe a --dir that holds files it did not write', async () => {
    const dir = join(scratch, 'precious');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    writeFileSync(join(dir, 'notes.txt'), 'keep me');

    const { code, stderr } = await floe('demo', '--bids', '10', '--dir', dir);

    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain('notes.txt');
    expect(await readFile(join(dir, 'notes.txt'), 'utf8')).toBe('keep me');
  });
});
