/**
 * `floe run` and `floe invoke` type-check a job before running it, show syntax errors with their
 * place, and stop on a row that does not fit its table without committing anything, so that the
 * corrected job runs in the same run directory. Through the real `floe` process.
 *
 * The jobs are written under the project's .floe/ (ignored by git), as a user's jobs sit in their
 * project: the project's tsconfig.json applies and `import ... from 'floe'` resolves.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runDirectory } from '../adapters/local/run-directory.ts';
import { floe } from '../test/support/floe-cli.ts';
import { canonicalRows, readRunTables } from '../test/support/iceberg-tables.ts';
import { typecheckJob } from './typecheck.ts';

const PROJECT = join(import.meta.dirname, '..');
const EVENT = join(PROJECT, 'examples', 'events', 'msk-bids.json');
mkdirSync(join(PROJECT, '.floe'), { recursive: true });
const scratch = mkdtempSync(join(PROJECT, '.floe', 'typecheck-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
/** As the CLI prints paths: relative to its working directory, the project. */
const shown = (path: string) => relative(PROJECT, path);

/**
 * Clicks counted per user in 10 s windows. `userColumn` is the table's type for the user and
 * `userValue` the expression written into it.
 */
function clicksJob(userColumn: string, userValue: string): string {
  return `import { count, job, json, TumblingEventTimeWindows, table, WatermarkStrategy } from 'floe';

interface Click {
  readonly user: string;
  readonly ts: number;
}

export default job('clicks')
  .fromKafka({ value: json<Click>() })
  .assignTimestampsAndWatermarks(WatermarkStrategy.forMonotonousTimestamps<Click>().withTimestampAssigner((c) => c.ts))
  .keyBy((c) => c.user)
  .window(TumblingEventTimeWindows.of(10_000))
  .aggregate(count(), (user, window, n) => ({ user: ${userValue}, window_start: window.start, n }))
  .sinkTo(table('clicks.per_user', { user: '${userColumn}', window_start: 'timestamptz', n: 'long' }));
`;
}

function write(name: string, text: string): string {
  const path = join(scratch, name);
  writeFileSync(path, text);
  return path;
}

// 40 clicks of 4 users over 40 s, in one file read as one event: the first batch fires windows.
const INPUT = write(
  'clicks.jsonl',
  Array.from({ length: 40 }, (_, i) => `${JSON.stringify({ user: `u${i % 4}`, ts: i * 1_000 })}\n`).join(''),
);
const runArgs = (jobPath: string, dir: string, ...flags: string[]) => [
  'run',
  jobPath,
  '--input',
  INPUT,
  '--timestamp',
  'ts',
  '--batch-size',
  '10000',
  '--dir',
  dir,
  ...flags,
];

describe('type-checked jobs', () => {
  // The user (a string) written into a long column: a compile error, and a row error when run.
  const broken = write('broken.ts', clicksJob('long', 'user'));
  const dir = join(scratch, 'run');

  it('does not run a job with a type error, and names the file and line', async () => {
    const { code, stdout, stderr } = await floe(...runArgs(broken, dir));

    expect(code).toBe(2);
    expect(stdout).toBe('');
    const lines = stderr.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^${shown(broken)}:\\d+:\\d+ - error TS\\d+: `));
    expect(stderr).toContain("Types of property 'user' are incompatible.");
    expect(lines.at(-1)).toBe(`floe: ${broken} has 1 type error; fix it or pass --no-typecheck`);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(await runDirectory(dir).catalog.listTables()).toEqual([]);
  });

  it('with --no-typecheck runs it, and stops at the row that does not fit, naming column, value and coordinates; nothing is committed', async () => {
    const { code, stdout, stderr } = await floe(...runArgs(broken, dir, '--no-typecheck'));

    expect(code).toBe(2);
    expect(stdout).toBe('');
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^floe: Job clicks emitted a row that does not fit table clicks\.per_user: column user \(long\) cannot hold the string "(u\d)"; it accepts a safe integer .* The row came from window \[1970-01-01T00:00:[0-2]0\.000Z, 1970-01-01T00:00:[1-3]0\.000Z\) of key "\1", fired by the batch clicks-0 offsets 0\.\.39\. Nothing of the batch was committed; fix the job \(or the table's column types\) and run it again\.$/,
    );
    const run = runDirectory(dir);
    expect(await run.catalog.listTables()).toEqual([]);
    // The head exists (it holds the lineage of the attempt's staged files) but names no commit.
    const heads = await run.heads.list('');
    expect(heads.map((h) => h.value)).toEqual([expect.objectContaining({ epoch: 0, manifest: null })]);
  });

  it('runs the corrected job (another column type) in the same directory, with the tables of a fresh run', async () => {
    const fixed = write('fixed.ts', clicksJob('string', 'user'));

    const resumed = await floe(...runArgs(fixed, dir, '--json'));
    const fresh = await floe(...runArgs(fixed, join(scratch, 'fresh'), '--json'));

    expect(resumed.code, resumed.stderr).toBe(0);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({
      rows: 16,
      records: 40,
      typecheck: { outcome: 'checked' },
    });
    // The same file in another directory: its check is cached.
    expect(JSON.parse(fresh.stdout)).toMatchObject({ rows: 16, typecheck: { outcome: 'cached' } });
    const [a, b] = [await readRunTables(dir), await readRunTables(join(scratch, 'fresh'))];
    expect([...a.keys()]).toEqual(['clicks.per_user']);
    expect(canonicalRows(a.get('clicks.per_user')!.rows)).toEqual(
      canonicalRows(b.get('clicks.per_user')!.rows),
    );
  });

  it('skips the check of an unchanged job, and checks again when the job or a file it imports changes', async () => {
    const helper = write('user-helper.ts', 'export const label = (user: string): string => user;\n');
    const job = write(
      'cached.ts',
      `import { label } from './user-helper.ts';\n${clicksJob('string', 'label(user)')}`,
    );
    const outcome = async () => {
      const { code, stdout, stderr } = await floe(
        ...runArgs(job, join(scratch, `cached-${Math.random()}`), '--json'),
      );
      expect(code, stderr).toBe(0);
      return (JSON.parse(stdout) as { typecheck: { outcome: string } }).typecheck.outcome;
    };

    expect(await outcome()).toBe('checked');
    expect(await outcome()).toBe('cached');
    writeFileSync(helper, "export const label = (user: string): string => 'user ' + user;\n");
    expect(await outcome()).toBe('checked');
    expect(await outcome()).toBe('cached');
  });
});

describe('syntax errors', () => {
  const job = write('syntax.ts', "import { job } from 'floe';\n\nconst broken = ;\nexport default job;\n");
  const expected = new RegExp(
    `^${shown(job)}:3:16 - error( TS1109)?: (Expression expected\\.|Unexpected ";")$`,
  );

  it.each([
    ['run', []],
    ['run', ['--no-typecheck']],
    ['invoke', []],
    ['invoke', ['--no-typecheck']],
  ])('floe %s %j names file:line:col and the message, exit 2, no stack', async (command, flags) => {
    const args =
      command === 'run'
        ? runArgs(job, join(scratch, 'syntax'), ...flags)
        : ['invoke', job, '--event', EVENT, '--dir', join(scratch, 'syntax-invoke'), ...flags];

    const { code, stdout, stderr } = await floe(...args);

    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toEqual([
      expect.stringMatching(expected),
      `floe: ${job} has 1 syntax error; fix it.`,
    ]);
  });
});

describe('typecheckJob', () => {
  it("applies the job's nearest tsconfig.json, and checks again when it changes", async () => {
    const project = join(scratch, 'with-tsconfig');
    mkdirSync(project);
    const settings = (extra: Record<string, unknown>) =>
      writeFileSync(
        join(project, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            target: 'ES2022',
            strict: true,
            allowImportingTsExtensions: true,
            types: [],
            // Inside this repository `floe` resolves to its sources, as the repository's own
            // tsconfig.json says; a user's project resolves it to the installed package.
            customConditions: ['floe-source'],
            ...extra,
          },
        }),
      );
    const job = join(project, 'job.ts');
    writeFileSync(job, `const unused = 1;\n${clicksJob('string', 'user')}`);
    const cacheDir = join(scratch, 'cache');
    let errors = '';
    const check = () => typecheckJob(job, { cacheDir, errors: (text) => (errors += text) });

    settings({ noUnusedLocals: true });
    await expect(check()).rejects.toThrow(`${job} has 1 type error; fix it or pass --no-typecheck`);
    expect(errors).toBe(
      `${shown(job)}:1:7 - error TS6133: 'unused' is declared but its value is never read.\n`,
    );

    settings({});
    await expect(check()).resolves.toMatchObject({ outcome: 'checked' });
    await expect(check()).resolves.toMatchObject({ outcome: 'cached' });
  });
});
