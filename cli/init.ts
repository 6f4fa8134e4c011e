/**
 * `floe init <dir>`: a new project that uses Floe as a package: one job, a sample input, a test of
 * the job, and the scripts to type-check, test and run it.
 *
 * Floe is not published to a registry, so the project's `floe` dependency defaults to this Floe
 * itself: `file:` + the root of the running package (a source checkout, or the copy installed in
 * another project). `--floe <spec>` gives any npm spec instead: a tarball from `npm pack`
 * (`file:/path/floe-0.1.0.tgz`), a git URL, or a version once Floe is published.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { UsageError } from './usage-error.ts';

export interface InitOptions {
  /** The project directory: created, or empty. */
  readonly dir: string;
  /** The npm spec of the `floe` dependency. @default `file:<the running Floe's root>` */
  readonly floe?: string;
}

const JOB = 'page-views';

/** The command: writes the project and prints what to do next. */
export async function init(options: InitOptions, out: (text: string) => void): Promise<void> {
  const dir = resolve(options.dir);
  if (existsSync(dir) && readdirSync(dir).length > 0)
    throw new UsageError(`${options.dir} is not empty; floe init needs a new or empty directory.`);
  const root = floeRoot();
  const floe = options.floe ?? `file:${root}`;
  const files = projectFiles(packageName(dir), floe, devDependencies(root));
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  const fromHere = relative(process.cwd(), dir);
  const shown = fromHere.startsWith('..') ? dir : fromHere || '.';
  out(`Created a Floe project in ${shown} (floe: ${floe}):`);
  for (const path of Object.keys(files)) out(`  ${path}`);
  // The project links to this Floe: a source checkout must be built for its types and JavaScript.
  if (options.floe === undefined && !existsSync(join(root, 'dist'))) await build(root);
  out(`\nNext:\n  cd ${shown}\n  npm install\n  npm test\n  npm start`);
}

/** Builds a source checkout of Floe (`npm run build`: tsc into dist/), printing progress. */
async function build(root: string): Promise<void> {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!existsSync(tsc))
    throw new UsageError(
      `Floe at ${root} is not built and has no TypeScript to build it: run \`npm ci && npm run build\` there.`,
    );
  process.stderr.write(`floe: building Floe in ${root} (npm run build, once; about 20 s)...\n`);
  try {
    await promisify(execFile)(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root });
  } catch (error) {
    const { stdout } = error as { stdout?: string };
    throw new UsageError(
      `Building Floe in ${root} failed (npm run build there shows why): ${(stdout ?? String(error)).split('\n')[0]}`,
    );
  }
}

/** The root of the running Floe package: the nearest folder up with a package.json named floe. */
export function floeRoot(): string {
  for (let dir = import.meta.dirname; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (
      existsSync(manifest) &&
      (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'floe'
    )
      return dir;
    if (dirname(dir) === dir) throw new Error(`No Floe package.json above ${import.meta.dirname}.`);
  }
}

/** The new project's dev tools, at the versions Floe itself uses; `node` pins the runtime for npx and npm scripts. */
function devDependencies(root: string): Record<string, string> {
  const own = (
    JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      devDependencies?: Record<string, string>;
    }
  ).devDependencies;
  const pick = (name: string, fallback: string) => own?.[name] ?? fallback;
  return {
    '@types/node': pick('@types/node', '^24.0.0'),
    node: pick('node', '^24.0.0'),
    typescript: pick('typescript', '~5.9.3'),
    vitest: pick('vitest', '^4.0.0'),
  };
}

/** A valid npm package name from the directory's name. */
function packageName(dir: string): string {
  const name = basename(dir)
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[._-]+/, '');
  return name === '' ? 'floe-jobs' : name;
}

const RUN = `floe run jobs/${JOB}.ts --input data/sample.jsonl --key page --timestamp ts --batch-size 5`;

function projectFiles(name: string, floe: string, dev: Record<string, string>): Record<string, string> {
  const packageJson = {
    name,
    version: '0.1.0',
    private: true,
    type: 'module',
    scripts: {
      test: 'vitest run',
      typecheck: 'tsc --noEmit',
      start: RUN,
      floe: 'floe',
    },
    dependencies: { floe },
    devDependencies: dev,
  };
  const tsconfig = {
    compilerOptions: {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      lib: ['ES2023'],
      types: ['node'],
      strict: true,
      noUncheckedIndexedAccess: true,
      allowImportingTsExtensions: true,
      noEmit: true,
      verbatimModuleSyntax: true,
      isolatedModules: true,
      skipLibCheck: true,
    },
    include: ['jobs', 'test', 'vitest.config.ts'],
  };
  return {
    'package.json': `${JSON.stringify(packageJson, null, 2)}\n`,
    'tsconfig.json': `${JSON.stringify(tsconfig, null, 2)}\n`,
    '.gitignore': 'node_modules/\n.floe/\n',
    [`jobs/${JOB}.ts`]: JOB_SOURCE,
    [`test/${JOB}.test.ts`]: TEST_SOURCE,
    'vitest.config.ts': VITEST_CONFIG,
    'data/sample.jsonl': sampleInput(),
    'README.md': readme(name),
  };
}

// Without a config of its own, vitest takes the nearest one in a parent folder (a monorepo's,
// another checkout's), with that project's test paths and setup files.
const VITEST_CONFIG = `import { defineConfig } from 'vitest/config';

// This project's own test settings: vitest's defaults (every *.test.ts outside node_modules).
// Without this file, vitest would use the nearest config in a folder above this one.
export default defineConfig({});
`;

const JOB_SOURCE = `import { count, job, json, TumblingEventTimeWindows, table, WatermarkStrategy } from 'floe';

/** A page view as the producer writes it to Kafka: JSON, keyed by page. */
export interface PageView {
  readonly page: string;
  readonly user: string;
  /** When the page was viewed: epoch milliseconds. */
  readonly ts: number;
}

/**
 * Views per page and minute. Views may arrive up to 5 s out of order; a view that arrives after
 * its minute has fired goes to the late table, web.page_views_late, never dropped.
 */
export default job('page-views')
  .fromKafka({ value: json<PageView>() })
  .assignTimestampsAndWatermarks(
    WatermarkStrategy.forBoundedOutOfOrderness<PageView>(5_000).withTimestampAssigner((view) => view.ts),
  )
  .keyBy((view) => view.page, { isKafkaKey: true })
  .window(TumblingEventTimeWindows.of(60_000))
  .aggregate(count(), (page, window, views) => ({
    page,
    window_start: window.start,
    window_end: window.end,
    views,
  }))
  .sinkTo(
    table('web.page_views', {
      page: 'string',
      window_start: 'timestamptz',
      window_end: 'timestamptz',
      views: 'long',
    }),
  );
`;

const TEST_SOURCE = `import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KafkaEvent } from 'floe';
import { CheckpointedProcessor } from 'floe/advanced';
import { localCheckpointStores } from 'floe/local';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pageViews, { type PageView } from '../jobs/page-views.ts';

const MINUTE = 60_000;
const T = Date.UTC(2024, 0, 1, 12, 0);

/**
 * A Lambda event as the Kafka event source mapping delivers it: records of partition 0 of the
 * topic page-views, from \`offset\` on, keyed by page, values as base64 JSON.
 */
function kafkaEvent(views: readonly PageView[], offset = 0): KafkaEvent {
  const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
  return {
    eventSource: 'SelfManagedKafka',
    records: {
      'page-views-0': views.map((view, i) => ({
        topic: 'page-views',
        partition: 0,
        offset: offset + i,
        timestamp: view.ts,
        timestampType: 'CREATE_TIME',
        key: base64(view.page),
        value: base64(JSON.stringify(view)),
        headers: [],
      })),
    },
  };
}

/**
 * The job as the Lambda handler (createHandler from floe/lambda) runs it: every batch committed
 * exactly once into Iceberg tables, here on local stores in a temporary directory.
 */
const start = (dir: string) => new CheckpointedProcessor(pageViews, { stores: localCheckpointStores(dir) });

describe('page-views', () => {
  let dir: string;
  let processor: ReturnType<typeof start>;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'page-views-'));
    processor = start(dir);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('counts views per page and minute when the watermark passes the minute', async () => {
    const first = await processor.process(
      kafkaEvent([
        { page: '/home', user: 'ann', ts: T + 1_000 },
        { page: '/home', user: 'bob', ts: T + 20_000 },
        { page: '/docs', user: 'ann', ts: T + 30_000 },
        { page: '/home', user: 'cy', ts: T + MINUTE + 10_000 },
      ]),
    );
    // The watermark is T + 1 min 5 s less 1 ms (the latest view less 5 s): the first minute fires.
    expect(first.rows.map((r) => r.row)).toEqual([
      { page: '/home', window_start: T, window_end: T + MINUTE, views: 2 },
      { page: '/docs', window_start: T, window_end: T + MINUTE, views: 1 },
    ]);

    // At the end of the input (floe run does this; a Kafka topic has no end) every window fires.
    const end = await processor.drain();
    expect(end.rows.map((r) => r.row)).toEqual([
      { page: '/home', window_start: T + MINUTE, window_end: T + 2 * MINUTE, views: 1 },
    ]);
  });

  it('sends a view that arrives after its minute fired to the late table', async () => {
    await processor.process(
      kafkaEvent([
        { page: '/home', user: 'ann', ts: T + 1_000 },
        { page: '/home', user: 'bob', ts: T + MINUTE + 10_000 },
      ]),
    );
    const next = await processor.process(kafkaEvent([{ page: '/home', user: 'cy', ts: T + 2_000 }], 2));
    expect(next.rows).toEqual([]);
    expect(next.late).toMatchObject([{ offset: 2, timestamp: T + 2_000, element: { user: 'cy' } }]);
  });

  it('skips a batch delivered twice, as Lambda may redeliver it', async () => {
    const event = kafkaEvent([
      { page: '/home', user: 'ann', ts: T + 1_000 },
      { page: '/home', user: 'bob', ts: T + MINUTE + 10_000 },
    ]);
    expect((await processor.process(event)).rows).toHaveLength(1);
    const again = await processor.process(event);
    expect(again.metrics).toMatchObject({ records: 2, redelivered: 2, rows: 0 });
  });
});
`;

/** Views of three pages over three minutes, keyed by page; one arrives after its minute fired. */
function sampleInput(): string {
  const t = Date.UTC(2024, 0, 1, 12, 0);
  const s = 1_000;
  const views: [string, string, number][] = [
    ['/home', 'ann', 2 * s],
    ['/docs', 'bob', 5 * s],
    ['/home', 'cy', 14 * s],
    ['/pricing', 'ann', 31 * s],
    ['/home', 'dee', 47 * s],
    ['/docs', 'ann', 63 * s],
    ['/home', 'bob', 71 * s],
    ['/home', 'eve', 68 * s],
    ['/pricing', 'cy', 95 * s],
    ['/docs', 'dee', 118 * s],
    ['/home', 'fay', 40 * s], // late: its minute fired after the previous batch
    ['/home', 'ann', 126 * s],
    ['/docs', 'bob', 140 * s],
    ['/home', 'cy', 171 * s],
    ['/pricing', 'eve', 179 * s],
  ];
  return views.map(([page, user, at]) => `${JSON.stringify({ page, user, ts: t + at })}\n`).join('');
}

function readme(name: string): string {
  return `# ${name}

Stream processing jobs on Floe: exactly-once, event-time windows over Kafka on AWS Lambda, in
TypeScript.

\`\`\`sh
npm install
npm test            # the job's tests (vitest)
npm run typecheck   # tsc
npm start           # runs the job over data/sample.jsonl
\`\`\`

- \`jobs/${JOB}.ts\`: views per page and minute (tumbling event-time windows, 5 s out of order).
- \`test/${JOB}.test.ts\`: drives the job batch by batch through the same exactly-once processor
  as the Lambda handler, on local stores in a temporary directory, and checks its rows and late
  records.
- \`data/sample.jsonl\`: page views, one JSON record per line.
- \`vitest.config.ts\`: the tests' settings (vitest's defaults), so that vitest never takes the
  config of a project this one sits in.

\`npm start\` is

\`\`\`sh
npx ${RUN}
\`\`\`

Each line is one Kafka record (key: its \`page\`, timestamp: its \`ts\`), delivered to the job's
Lambda handler in batches of 5 with exactly-once commits into Iceberg tables under
\`.floe/run/${JOB}\`: \`web.page_views\`, \`web.page_views_late\` (the view at 12:00:40 arrives after
its minute fired) and \`web.page_views_dead_letters\`. Run again, it commits nothing; delete
\`.floe/\` to start over. \`npx floe tables --dir .floe/run/${JOB}\` lists the tables' metadata files.

In Lambda, behind a Kafka event source mapping:

\`\`\`ts
import { createHandler } from 'floe/lambda';
import job from './jobs/${JOB}.ts';

export const handler = createHandler(job);
\`\`\`

\`npx floe help\` lists the commands.
`;
}
