/**
 * Floe as a package, end to end: `npm pack` this repository, `floe init` a project in a temporary
 * folder outside it, install the tarball there from the registry's point of view (`npm install`),
 * then run the project's own tests and `floe run` on its sample input with the installed `floe`
 * (compiled JavaScript from dist/, the user's TypeScript job through tsx).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { floe } from '../support/floe-cli.ts';
import { readTable } from '../support/iceberg-tables.ts';
import { copyOfRepository, npmEnvironment } from '../support/repository-copy.ts';

const exec = promisify(execFile);
const REPO = join(import.meta.dirname, '..', '..');
const MINUTES = 60_000;

const env = npmEnvironment();

async function npm(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await exec('npm', args, { cwd, env, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

describe('floe init on the packed package', () => {
  const temp = realpathSync(mkdtempSync(join(tmpdir(), 'floe-package-')));
  afterAll(() => rmSync(temp, { recursive: true, force: true }));

  it(
    'creates a project whose tests pass and whose job runs with the installed floe',
    async () => {
      expect(relative(REPO, temp).startsWith('..')).toBe(true);

      const source = await copyOfRepository(join(temp, 'floe-source'));
      const packed = JSON.parse(await npm(source, 'pack', '--json', '--pack-destination', temp)) as {
        filename: string;
        files: { path: string }[];
      }[];
      const tarball = join(temp, packed[0]!.filename);
      const paths = packed[0]!.files.map((f) => f.path);
      expect(paths).toContain('dist/runtime/index.js');
      expect(paths).toContain('dist/runtime/index.d.ts');
      expect(paths).toContain('dist/cli/main.js');
      expect(paths.filter((p) => p.endsWith('.ts') && !p.endsWith('.d.ts'))).toEqual([]);
      expect(paths.filter((p) => p.includes('.test.'))).toEqual([]);

      // Inside another project whose vitest config would find none of this one's tests: the
      // new project's own config keeps vitest from taking the parent's.
      const parent = join(temp, 'monorepo');
      mkdirSync(parent);
      writeFileSync(join(parent, 'vitest.config.ts'), "export default { test: { include: ['none/**'] } };\n");
      const project = join(parent, 'my-jobs');
      const created = await floe('init', project, '--floe', `file:${tarball}`);
      expect(created.stderr).toBe('');
      expect(created.code).toBe(0);
      expect(await floe('init', project)).toMatchObject({
        code: 2,
        stderr: `floe: ${project} is not empty; floe init needs a new or empty directory.\n`,
      });

      // A registry request that stalls is retried after a minute, not after npm's five.
      await npm(project, 'install', '--no-audit', '--no-fund', '--fetch-timeout=60000', '--fetch-retries=4');
      expect(await npm(project, 'test')).toMatch(/Tests\s+3 passed/);
      await npm(project, 'run', 'typecheck');
      // The installed declarations check rows against their table, as the sources do: a count
      // written to a boolean column is a compile error in the user's project.
      const wrong = join(project, 'jobs', 'wrong-column.ts');
      writeFileSync(
        wrong,
        [
          "import { count, job, json, TumblingEventTimeWindows, table, WatermarkStrategy } from 'floe';",
          "export default job('wrong-column')",
          '  .fromKafka({ value: json<{ page: string; ts: number }>() })',
          '  .assignTimestampsAndWatermarks(WatermarkStrategy.forMonotonousTimestamps<{ page: string; ts: number }>().withTimestampAssigner((v) => v.ts))',
          '  .keyBy((v) => v.page)',
          '  .window(TumblingEventTimeWindows.of(60_000))',
          '  .aggregate(count(), (page, _window, views) => ({ page, views }))',
          "  .sinkTo(table('web.wrong', { page: 'string', views: 'boolean' }));",
          '',
        ].join('\n'),
      );
      await expect(npm(project, 'run', 'typecheck')).rejects.toMatchObject({
        stdout: expect.stringContaining('wrong-column.ts'),
      });
      rmSync(wrong);

      const summary = JSON.parse(
        await npm(
          project,
          'exec',
          '--',
          'floe',
          'run',
          'jobs/page-views.ts',
          '--input',
          'data/sample.jsonl',
          '--key',
          'page',
          '--timestamp',
          'ts',
          '--batch-size',
          '5',
          '--json',
        ),
      ) as { records: number; rows: number; late: number; deadLetters: number; dir: string };
      expect(summary).toMatchObject({ records: 15, rows: 9, late: 1, deadLetters: 0 });

      const dir = join(project, summary.dir);
      const t = Date.UTC(2024, 0, 1, 12, 0);
      const { rows } = await readTable(dir, 'web.page_views');
      const counts = rows.map((r) => `${(Number(r.window_start) - t) / MINUTES} ${r.page} ${r.views}`).sort();
      expect(counts).toEqual([
        '0 /docs 1',
        '0 /home 3',
        '0 /pricing 1',
        '1 /docs 2',
        '1 /home 2',
        '1 /pricing 1',
        '2 /docs 1',
        '2 /home 2',
        '2 /pricing 1',
      ]);
      const late = await readTable(dir, 'web.page_views_late');
      expect(late.rows).toHaveLength(1);
    },
    10 * MINUTES,
  );

  it('tells how to set up a project when a job outside one imports floe', async () => {
    const loose = join(temp, 'loose');
    mkdirSync(loose);
    writeFileSync(join(loose, 'job.ts'), "import { job } from 'floe';\nexport default job('x');\n");
    writeFileSync(join(loose, 'in.jsonl'), '{}\n');
    const result = await floe('run', join(loose, 'job.ts'), '--input', join(loose, 'in.jsonl'));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/is not in a project that installs floe .*npx floe init <dir>/);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});
