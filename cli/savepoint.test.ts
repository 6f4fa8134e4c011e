/**
 * `floe savepoint create|list|restore` through the real CLI on local stores: a savepoint taken
 * midway through an input (after some `floe invoke`s), restored into a new run directory and
 * finished there with `floe run`, gives with the old run's rows exactly the rows of an
 * uninterrupted run, for a job keyed by the Kafka key (a commit group per partition) and one whose
 * keys span partitions (one group); a changed job with the same uid resumes; a missing uid, a
 * changed key layout, a non-empty directory and bad flags are refused in one line.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsCheckpointStores } from '../adapters/aws/aws-stores.ts';
import type { SavepointManifest } from '../runtime/checkpoint/savepoint.ts';
import { partitionForKey } from '../runtime/event-source-mapping/partitioner.ts';
import { floe } from '../test/support/floe-cli.ts';
import { canonicalRows, readRunTables, readTable } from '../test/support/iceberg-tables.ts';
import type { RunReport } from './run.ts';

const PROJECT = join(import.meta.dirname, '..');
mkdirSync(join(PROJECT, '.floe'), { recursive: true });
// Inside the project, so the job files written here import `floe`.
const scratch = mkdtempSync(join(PROJECT, '.floe', 'savepoint-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface JobShape {
  readonly name: string;
  /** Keyed by the Kafka key (a group per partition), or by a field spanning partitions (one group). */
  readonly scope: 'partition' | 'job';
  readonly uid?: string;
  readonly column?: string;
  readonly latenessMs?: number;
  readonly table?: string;
}

/** Records per key (partition scope) or per group field (job scope) in 10 s windows. */
function jobSource(shape: JobShape): string {
  const column = shape.column ?? 'n';
  const key = shape.scope === 'partition' ? '(r) => r.k, { isKafkaKey: true }' : '(r) => r.g';
  return `import { count, job, json, TumblingEventTimeWindows, table, WatermarkStrategy } from 'floe';

interface R {
  readonly k: string;
  readonly g: string;
  readonly ts: number;
}

export default job('${shape.name}')
  .fromKafka({ value: json<R>() })
  .assignTimestampsAndWatermarks(WatermarkStrategy.forBoundedOutOfOrderness<R>(2_000).withTimestampAssigner((r) => r.ts))
  .keyBy(${key})
  .window(TumblingEventTimeWindows.of(10_000))${shape.latenessMs === undefined ? '' : `\n  .allowedLateness(${shape.latenessMs})`}
  .aggregate(count(), (key, window, n) => ({ key, window_start: window.start, ${column}: n }))${shape.uid === undefined ? '' : `\n  .uid('${shape.uid}')`}
  .sinkTo(table('${shape.table ?? 'sp.counts'}', { key: 'string', window_start: 'timestamptz', ${column}: 'long' }));
`;
}

let jobCount = 0;
function writeJob(shape: JobShape): string {
  const path = join(scratch, `job-${++jobCount}.ts`);
  writeFileSync(path, jobSource(shape));
  return path;
}

/** Four Kafka keys, on partitions 0, 1, 0, 1 of 2. */
const KEYS = [0, 1, 0, 1].map((p, i) => {
  for (let n = i; ; n += 4) if (partitionForKey(`k${n}`, 2) === p) return `k${n}`;
});

// 60 records of 4 Kafka keys on 2 partitions, a little out of order (within the 2 s bound), cut
// into 6 events of 10: nothing is late, and a savepoint after 3 events has windows open in both
// partitions (whether events mix partitions in file order or hold one partition each).
const INPUT = join(scratch, 'in.jsonl');
writeFileSync(
  INPUT,
  Array.from(
    { length: 60 },
    (_, i) => `${JSON.stringify({ k: KEYS[i % 4], g: `g${i % 3}`, ts: i * 1_000 + ((i * 7) % 5) * 300 })}\n`,
  ).join(''),
);
const TOPIC_FLAGS = ['--key', 'k', '--partitions', '2', '--batch-size', '10', '--timestamp', 'ts'];
const EVENTS = join(scratch, 'events');
/** The events `floe run` cuts for a job keyed by the Kafka key: one partition each. */
const PARTITION_EVENTS = join(scratch, 'partition-events');
const SAVEPOINTS = join(scratch, 'savepoints');

const dir = (name: string) => join(scratch, name);

async function ok(...args: string[]): Promise<string> {
  const { code, stdout, stderr } = await floe(...args);
  expect(code, `floe ${args.join(' ')}\n${stderr}`).toBe(0);
  return stdout;
}

/** A usage error: exit 2 and one line on stderr, starting `floe: `. */
async function refused(...args: string[]): Promise<string> {
  const { code, stderr } = await floe(...args);
  expect(code, stderr).toBe(2);
  const lines = stderr.trimEnd().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^floe: /);
  return lines[0]!;
}

/** Invokes the first `n` events into `runDir`, as Lambda would deliver them; nothing is drained. */
async function invokeFirst(job: string, runDir: string, n: number, events = EVENTS): Promise<void> {
  for (let i = 1; i <= n; i++) {
    const event = join(events, `event-${String(i).padStart(5, '0')}.json`);
    await ok('invoke', job, '--event', event, '--dir', runDir, '--no-typecheck', '--json');
  }
}

async function run(job: string, runDir: string): Promise<RunReport> {
  return JSON.parse(
    await ok('run', job, '--input', INPUT, ...TOPIC_FLAGS, '--dir', runDir, '--no-typecheck', '--json'),
  ) as RunReport;
}

async function create(job: string, runDir: string, ...flags: string[]): Promise<string> {
  const out = JSON.parse(
    await ok(
      'savepoint',
      'create',
      job,
      '--dir',
      runDir,
      '--to',
      SAVEPOINTS,
      '--no-typecheck',
      '--json',
      ...flags,
    ),
  ) as SavepointManifest & { savepoint: string };
  expect(out.savepoint).toMatch(/^file:\/\//);
  return join(SAVEPOINTS, out.id);
}

async function rows(runDir: string, table = 'sp.counts'): Promise<Record<string, unknown>[]> {
  return (await readTable(runDir, table)).rows;
}

async function tableSizes(runDir: string): Promise<Record<string, number>> {
  const sizes: Record<string, number> = {};
  for (const [name, contents] of await readRunTables(runDir)) sizes[name] = contents.rows.length;
  return sizes;
}

beforeAll(async () => {
  await ok('events', '--input', INPUT, ...TOPIC_FLAGS, '--out', EVENTS);
  await ok('events', '--input', INPUT, ...TOPIC_FLAGS, '--per-partition', '--out', PARTITION_EVENTS);
}, 60_000);

describe('floe savepoint', { timeout: 120_000 }, () => {
  const partitionJob = writeJob({ name: 'sp-keys', scope: 'partition' });
  const groupJob = writeJob({ name: 'sp-groups', scope: 'job', uid: 'per-group' });
  let partitionSavepoint = '';
  let groupSavepoint = '';

  it('partition scope: old rows up to the savepoint plus the restored run finishing the input = an uninterrupted run', async () => {
    await invokeFirst(partitionJob, dir('p-old'), 3, PARTITION_EVENTS);
    partitionSavepoint = await create(partitionJob, dir('p-old'));
    const saved = JSON.parse(
      readFileSync(join(partitionSavepoint, 'savepoint.json'), 'utf8'),
    ) as SavepointManifest;
    expect(saved).toMatchObject({
      format: 'floe-savepoint',
      job: 'sp-keys',
      scope: 'partition',
      operators: [{ uid: 'sp-keys.window', windows: 'fixed' }],
      counts: { groups: 2, partitions: 2, records: 30 },
    });
    expect(saved.definition).toContain('TumblingEventTimeWindows');

    await ok(
      'savepoint',
      'restore',
      partitionSavepoint,
      partitionJob,
      '--dir',
      dir('p-new'),
      '--no-typecheck',
    );
    const resumed = await run(partitionJob, dir('p-new'));
    expect(resumed.skippedBatches).toBe(3);
    const whole = await run(partitionJob, dir('p-whole'));

    const [before, after] = [await rows(dir('p-old')), await rows(dir('p-new'))];
    expect(before.length).toBeGreaterThan(0);
    expect(after.length).toBeGreaterThan(0);
    expect(canonicalRows([...before, ...after])).toEqual(canonicalRows(await rows(dir('p-whole'))));
    // The restored run's tables hold only what it produced: its totals count from the restore.
    expect(resumed.rows).toBe(after.length);
    expect(whole.late + resumed.late).toBe(0);
  });

  it('job scope: the same with keys spanning partitions (one commit group)', async () => {
    await invokeFirst(groupJob, dir('g-old'), 3);
    groupSavepoint = await create(groupJob, dir('g-old'));
    await ok('savepoint', 'restore', groupSavepoint, groupJob, '--dir', dir('g-new'), '--no-typecheck');
    expect((await run(groupJob, dir('g-new'))).skippedBatches).toBe(3);
    await run(groupJob, dir('g-whole'));
    const [before, after] = [await rows(dir('g-old')), await rows(dir('g-new'))];
    expect(before.length).toBeGreaterThan(0);
    expect(after.length).toBeGreaterThan(0);
    expect(canonicalRows([...before, ...after])).toEqual(canonicalRows(await rows(dir('g-whole'))));
    expect((await tableSizes(dir('g-new')))['sp.sp_groups_late']).toBeUndefined();
  });

  it('lists the savepoints of a location: time, job, records and offsets', async () => {
    const out = await ok('savepoint', 'list', SAVEPOINTS);
    expect(out).toContain('sp-keys');
    expect(out).toContain('sp-groups');
    expect(out).toMatch(/in-0@\d+, in-1@\d+/);
    const listed = JSON.parse(await ok('savepoint', 'list', SAVEPOINTS, '--json')) as {
      job: string;
      records: number;
      offsets: Record<string, number>;
    }[];
    expect(listed.map((s) => s.job).sort()).toEqual(['sp-groups', 'sp-keys']);
    for (const s of listed) expect(s.records).toBe(30);
  });

  it('restores into a changed job with the same uid: another column name and allowed lateness', async () => {
    const changed = writeJob({
      name: 'sp-groups-v2',
      scope: 'job',
      uid: 'per-group',
      column: 'records',
      latenessMs: 5_000,
      table: 'sp.counts_v2',
    });
    await ok('savepoint', 'restore', groupSavepoint, changed, '--dir', dir('g-v2'), '--no-typecheck');
    await run(changed, dir('g-v2'));
    const after = (await rows(dir('g-v2'), 'sp.counts_v2')).map(({ records, ...rest }) => ({
      ...rest,
      n: records,
    }));
    expect(canonicalRows([...(await rows(dir('g-old'))), ...after])).toEqual(
      canonicalRows(await rows(dir('g-whole'))),
    );
  });

  it('refuses a savepoint whose operator id the job lacks, unless --allow-non-restored-state drops its state', async () => {
    const other = writeJob({ name: 'sp-groups', scope: 'job', uid: 'renamed' });
    const line = await refused(
      'savepoint',
      'restore',
      groupSavepoint,
      other,
      '--dir',
      dir('g-uid'),
      '--no-typecheck',
    );
    expect(line).toContain('"per-group"');
    expect(line).toContain('--allow-non-restored-state');
    // Nothing was written: the same directory takes the restore with the flag.
    const out = await ok(
      'savepoint',
      'restore',
      groupSavepoint,
      other,
      '--dir',
      dir('g-uid'),
      '--allow-non-restored-state',
      '--no-typecheck',
      '--json',
    );
    expect(JSON.parse(out)).toMatchObject({ dropped: ['per-group'], restored: [] });
    const resumed = await run(other, dir('g-uid'));
    expect(resumed.skippedBatches).toBe(3);
    // The windows open at the savepoint restart empty: fewer records counted than in the whole run.
    const sum = (rs: Record<string, unknown>[]) => rs.reduce((s, r) => s + Number(r.n), 0);
    expect(sum(await rows(dir('g-uid')))).toBeLessThan(
      sum(await rows(dir('g-whole'))) - sum(await rows(dir('g-old'))),
    );

    // A job without a uid gets <job name>.window: a renamed job no longer matches.
    const renamed = writeJob({ name: 'sp-keys-renamed', scope: 'partition' });
    expect(
      await refused(
        'savepoint',
        'restore',
        partitionSavepoint,
        renamed,
        '--dir',
        dir('p-renamed'),
        '--no-typecheck',
      ),
    ).toContain('"sp-keys.window"');
  });

  it('refuses a changed key layout (per partition vs the whole job)', async () => {
    const spanning = writeJob({ name: 'sp-keys', scope: 'job' });
    const line = await refused(
      'savepoint',
      'restore',
      partitionSavepoint,
      spanning,
      '--dir',
      dir('p-layout'),
      '--no-typecheck',
    );
    expect(line).toContain('key layout');
  });

  it('refuses to restore into a directory that is not empty', async () => {
    const line = await refused(
      'savepoint',
      'restore',
      partitionSavepoint,
      partitionJob,
      '--dir',
      dir('p-old'),
      '--no-typecheck',
    );
    expect(line).toContain('not empty');
  });

  it('--drain fires every open window and commits that before saving', async () => {
    const rowsBefore = (await rows(dir('p-old'))).length;
    const drained = await create(partitionJob, dir('p-old'), '--drain');
    const saved = JSON.parse(readFileSync(join(drained, 'savepoint.json'), 'utf8')) as SavepointManifest;
    expect(saved.groups.every((g) => g.drained)).toBe(true);
    for (const g of saved.groups) {
      for (const p of Object.values(g.partitions)) {
        const state = JSON.parse(readFileSync(join(drained, p.state), 'utf8')) as {
          partition: { windows: unknown[] };
        };
        expect(state.partition.windows).toEqual([]);
      }
    }
    const after = await rows(dir('p-old'));
    expect(after.length).toBeGreaterThan(rowsBefore);
    // Every record applied so far is now counted in some fired window.
    expect(after.reduce((s, r) => s + Number(r.n), 0)).toBe(saved.counts.records);
  });

  it('bad flags are one line, exit 2', async () => {
    await refused('savepoint');
    await refused('savepoint', 'frob');
    await refused('savepoint', 'create', partitionJob, '--dir', dir('p-old'));
    await refused('savepoint', 'create', partitionJob, '--to', SAVEPOINTS);
    await refused('savepoint', 'create', partitionJob, '--dir', dir('p-old'), '--to', SAVEPOINTS, '--bogus');
    await refused('savepoint', 'list');
    await refused('savepoint', 'restore', partitionSavepoint, '--dir', dir('x'));
    await refused(
      'savepoint',
      'restore',
      join(scratch, 'nowhere'),
      partitionJob,
      '--dir',
      dir('x'),
      '--no-typecheck',
    );
    await refused(
      'savepoint',
      'create',
      partitionJob,
      '--dir',
      dir('missing'),
      '--to',
      SAVEPOINTS,
      '--no-typecheck',
    );
  });
});

describe('floe savepoint on DynamoDB and S3', { timeout: 120_000 }, () => {
  it('saves to s3://, restores into new AWS stores, and the runs together equal an uninterrupted one', async () => {
    const job = writeJob({ name: 'sp-aws', scope: 'partition' });
    const id = randomUUID().slice(0, 8);
    const storeFlags = (name: string) => [
      '--state',
      `dynamodb://floe-sp-${name}-${id}`,
      '--objects',
      `s3://floe-sp/${name}-${id}`,
      '--catalog',
      `dynamodb://floe-sp-${name}-${id}-iceberg`,
      '--create',
    ];
    const storesOf = (name: string) =>
      awsCheckpointStores({
        job: 'sp-aws',
        stateTable: `floe-sp-${name}-${id}`,
        catalogTable: `floe-sp-${name}-${id}-iceberg`,
        objects: `s3://floe-sp/${name}-${id}`,
      });
    for (let i = 1; i <= 3; i++) {
      const event = join(PARTITION_EVENTS, `event-${String(i).padStart(5, '0')}.json`);
      await ok('invoke', job, '--event', event, ...storeFlags('old'), '--no-typecheck', '--json');
    }
    const to = `s3://floe-sp/savepoints-${id}`;
    const created = JSON.parse(
      await ok('savepoint', 'create', job, ...storeFlags('old'), '--to', to, '--no-typecheck', '--json'),
    ) as { savepoint: string; counts: { records: number } };
    expect(created.savepoint).toMatch(new RegExp(`^${to}/savepoint-sp-aws-`));
    expect(created.counts.records).toBe(30);
    expect(await ok('savepoint', 'list', to)).toContain('sp-aws');

    await ok('savepoint', 'restore', created.savepoint, job, ...storeFlags('new'), '--no-typecheck');
    // The restored stores are no longer empty.
    await refused('savepoint', 'restore', created.savepoint, job, ...storeFlags('new'), '--no-typecheck');
    const resumed = JSON.parse(
      await ok(
        'run',
        job,
        '--input',
        INPUT,
        ...TOPIC_FLAGS,
        '--dir',
        dir('aws-run'),
        ...storeFlags('new'),
        '--no-typecheck',
        '--json',
      ),
    ) as RunReport;
    expect(resumed.skippedBatches).toBe(3);
    await run(job, dir('aws-whole'));
    const [before, after] = [
      (await readTable(storesOf('old'), 'sp.counts')).rows,
      (await readTable(storesOf('new'), 'sp.counts')).rows,
    ];
    expect(canonicalRows([...before, ...after])).toEqual(canonicalRows(await rows(dir('aws-whole'))));
  });
});
