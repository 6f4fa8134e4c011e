import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { localCheckpointStores } from '../adapters/local/run-directory.ts';
import bidsPerAuction from '../examples/bids-per-auction.ts';
import { generateBids } from '../examples/nexmark/generator.ts';
import { CheckpointedProcessor } from '../runtime/checkpoint/checkpointed-processor.ts';
import { partitionForKey } from '../runtime/event-source-mapping/partitioner.ts';
import { removeScratch, track } from '../test/support/cleanup.ts';
import { floe } from '../test/support/floe-cli.ts';
import { canonicalRows, readTable } from '../test/support/iceberg-tables.ts';
import { EXAMPLE_REFERENCES } from '../test/support/nexmark-reference.ts';
import type { RunReport } from './run.ts';

const PROJECT = join(import.meta.dirname, '..');
const FLOE = join(PROJECT, 'bin', 'floe.js');
const JOB = join(PROJECT, 'examples', 'bids-per-auction.ts');
const ROWS = 'nexmark.bids_per_auction';
const DEAD_LETTERS = 'nexmark.bids_per_auction_dead_letters';

const scratch = mkdtempSync(join(tmpdir(), 'floe-run-'));
afterAll(() => removeScratch(scratch));

// 1,500 bids over 30 auctions: 3 partitions by auction, each cut into events of 50 of its records.
const bids = generateBids({ seed: 5, count: 1_500, eventsPerSecond: 50, auctions: 30, bidders: 40 });
const perPartition = [0, 1, 2].map(
  (p) => bids.filter((b) => partitionForKey(String(b.auction), 3) === p).length,
);
const EVENTS = perPartition.reduce((sum, n) => sum + Math.ceil(n / 50), 0);
const INPUT = join(scratch, 'bids.jsonl');
writeFileSync(INPUT, bids.map((bid) => `${JSON.stringify(bid)}\n`).join(''));
const expectedRows = canonicalRows(EXAMPLE_REFERENCES['bids-per-auction'](bids));

function runArgs(dir: string, ...flags: string[]): string[] {
  return [
    'run',
    JOB,
    '--input',
    INPUT,
    '--key',
    'auction',
    '--partitions',
    '3',
    '--batch-size',
    '50',
    '--dir',
    dir,
    ...flags,
  ];
}

async function runJson(dir: string): Promise<RunReport> {
  const { code, stdout, stderr } = await floe(...runArgs(dir, '--json'));
  expect(code, stderr).toBe(0);
  return JSON.parse(stdout) as RunReport;
}

describe('floe run', () => {
  const dir = join(scratch, 'clean');

  it('writes the rows a brute-force count per auction gives, into an Iceberg table', async () => {
    const report = await runJson(dir);

    expect(canonicalRows((await readTable(dir, ROWS)).rows)).toEqual(expectedRows);
    expect(report).toMatchObject({
      records: 1_500,
      batches: EVENTS,
      skippedBatches: 0,
      rows: expectedRows.length,
      late: 0,
      deadLetters: 0,
      alreadyComplete: false,
    });
    expect(report.newCommits).toBe(report.commits);
    expect(report.tables.map((t) => t.name)).toEqual([ROWS]);
    expect(JSON.parse(await readFile(join(dir, 'run.json'), 'utf8'))).toMatchObject({
      input: INPUT,
      topic: 'bids',
      partitions: 3,
      key: 'auction',
      batchSize: 50,
      timestamp: null,
    });
  });

  it('never loads the AWS SDK: a local run would pay about 0.1 s of start-up for it', async () => {
    const log = join(scratch, 'modules.log');
    const hook = join(scratch, 'module-trace.mjs');
    writeFileSync(
      hook,
      `import { registerHooks } from 'node:module';
import { appendFileSync } from 'node:fs';
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r; } });
`,
    );
    const dir = join(scratch, 'no-sdk');
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', hook, FLOE, ...runArgs(dir)], {
        cwd: PROJECT,
        stdio: 'ignore',
      });
      track(child);
      child.on('error', reject);
      child.on('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`floe run exited with ${code}`)),
      );
    });
    const modules = (await readFile(log, 'utf8')).split('\n');
    // The trace sees the modules the run loads (so an empty list below means something)…
    expect(modules.some((url) => url.includes('hyparquet-writer'))).toBe(true);
    // …and none of the SDK's.
    expect(modules.filter((url) => /@aws-sdk|@smithy/.test(url))).toEqual([]);
  });

  it('commits nothing when run again after it finished, and says so', async () => {
    const before = await readTable(dir, ROWS);

    const { code, stdout } = await floe(...runArgs(dir));

    expect(code).toBe(0);
    expect(stdout).toContain('already complete, nothing new committed');
    const after = await readTable(dir, ROWS);
    expect(after.snapshots).toBe(before.snapshots);
    expect(canonicalRows(after.rows)).toEqual(expectedRows);
  });

  it('resumes from the last commit after kill -9 and ends with the tables of an uninterrupted run', async () => {
    const crashed = join(scratch, 'crashed');
    const child = track(
      spawn(process.execPath, [FLOE, ...runArgs(crashed)], { cwd: PROJECT, stdio: 'ignore' }),
    );
    let running = true;
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, signal) => {
        running = false;
        resolve(signal);
      }),
    );
    // Kill once every partition has committed a few batches, well before the end.
    const progress = () =>
      new CheckpointedProcessor(bidsPerAuction, { stores: localCheckpointStores(crashed) }).committed();
    while (running) {
      const { offsets } = await progress().catch(() => ({ offsets: new Map<string, number>() }));
      if (offsets.size === 3 && [...offsets.values()].every((offset) => offset >= 60)) break;
      await sleep(10);
    }
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');

    const resumed = await runJson(crashed);

    expect(resumed.skippedBatches).toBeGreaterThan(0);
    expect(resumed.newCommits).toBeGreaterThan(0);
    expect(resumed.records).toBe(1_500);
    const table = await readTable(crashed, ROWS);
    expect(canonicalRows(table.rows)).toEqual(canonicalRows((await readTable(dir, ROWS)).rows));
    // Cleanup removed what the killed attempt staged: the data folder holds the table's files only,
    // so reading it directly (the DuckDB hint) gives the table.
    const data = join(crashed, 'warehouse', 'nexmark', 'bids_per_auction', 'data');
    expect(readdirSync(data).sort()).toEqual(table.files.map((f) => f.split('/').pop()).sort());
  });

  it('refuses to resume with other flags, in one line, exit 2', async () => {
    const { code, stderr } = await floe(
      ...['run', JOB, '--input', INPUT, '--key', 'auction', '--partitions', '4', '--batch-size', '50'],
      ...['--dir', dir],
    );
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toEqual([
      `floe: ${dir} holds a run of ${INPUT} with --partitions 3; use the same flags or another --dir.`,
    ]);
  });

  it('by default cuts events at 6 MB only, one partition each for a job keyed by the Kafka key', async () => {
    const whole = join(scratch, 'defaults');
    const { code, stdout, stderr } = await floe(
      ...['run', JOB, '--input', INPUT, '--key', 'auction', '--partitions', '3', '--dir', whole, '--json'],
    );
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout) as RunReport;
    // The 1,500 bids are far below 6 MB: one event per partition.
    expect(report).toMatchObject({ records: 1_500, batches: 3, batchSize: null, withoutKey: 0 });
    expect(canonicalRows((await readTable(whole, ROWS)).rows)).toEqual(expectedRows);
    expect(JSON.parse(await readFile(join(whole, 'run.json'), 'utf8'))).toMatchObject({
      format: 2,
      batchSize: null,
    });
  });

  it('refuses a run directory of an earlier version, which cut its batches otherwise', async () => {
    const old = join(scratch, 'format-1');
    mkdirSync(old, { recursive: true });
    writeFileSync(join(old, 'run.json'), JSON.stringify({ format: 1, input: INPUT, batchSize: 10_000 }));
    const { code, stderr } = await floe(...runArgs(old));
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(
      `floe: ${join(old, 'run.json')} records a run of an earlier floe version, which cut its batches differently; finish it with that version, or use another --dir.`,
    );
  });

  it('puts a line that is not JSON in the dead-letter table with its partition and offset; blank lines take no offset', async () => {
    const broken = '{"auction":1007,"bidder":1003,"price":';
    const input = join(scratch, 'with-broken-line.jsonl');
    const lines = bids.map((bid) => JSON.stringify(bid));
    writeFileSync(input, `${[...lines.slice(0, 100), '', '  ', broken, ...lines.slice(100)].join('\n')}\n`);
    // Without a key (not JSON) the line goes round-robin, starting at partition 0; its offset is
    // the number of bids before it that Kafka's partitioner put on partition 0.
    const offset = bids.slice(0, 100).filter((bid) => partitionForKey(String(bid.auction), 3) === 0).length;
    const out = join(scratch, 'broken');

    const { code, stdout } = await floe(
      ...['run', JOB, '--input', input, '--key', 'auction', '--partitions', '3', '--timestamp', 'dateTime'],
      ...['--dir', out, '--json'],
    );

    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ records: 1_501, deadLetters: 1, topic: 'with-broken-line' });
    expect((await readTable(out, DEAD_LETTERS)).rows).toEqual([
      expect.objectContaining({
        kind: 'record',
        topic: 'with-broken-line',
        partition: 0,
        offset,
        stage: 'decode',
        // No dateTime field to take the timestamp from: the file's modification time.
        timestamp: Math.floor(statSync(input).mtimeMs),
        value: Buffer.from(broken).toString('base64'),
      }),
    ]);
    expect(canonicalRows((await readTable(out, ROWS)).rows)).toEqual(expectedRows);
  });

  it.each([
    { problem: 'no --input', args: ['run', JOB], message: /^floe: run needs --input <file.jsonl>/ },
    {
      problem: 'no job file',
      args: ['run', '--input', INPUT],
      message: /^floe: run takes exactly one job file/,
    },
    {
      problem: 'an unknown flag',
      args: ['run', JOB, '--input', INPUT, '--bogus'],
      message: /Unknown option '--bogus'/,
    },
    {
      problem: 'a partition count that is not a number',
      args: ['run', JOB, '--input', INPUT, '--partitions', 'two'],
      message: /--partitions must be a positive whole number, got "two"/,
    },
    {
      problem: 'a batch size above the ESM maximum',
      args: ['run', JOB, '--input', INPUT, '--batch-size', '10001'],
      message: /--batch-size must be a whole number from 1 to 10,000, got 10001/,
    },
    {
      problem: 'a missing input file',
      args: ['run', JOB, '--input', join(scratch, 'missing.jsonl')],
      message: /Input file .*missing.jsonl: not found\. --input takes a JSON lines file/,
    },
    {
      problem: 'a missing job file',
      args: ['run', join(scratch, 'missing-job.ts'), '--input', INPUT],
      message: /Job file not found/,
    },
    {
      problem: 'a Kafka-keyed job on several partitions without --key',
      args: ['run', JOB, '--input', INPUT, '--partitions', '3'],
      message: /keys by the Kafka key .* give --key <field>, or --partitions 1/,
    },
  ])('rejects $problem in one line, exit 2', async ({ args, message }) => {
    const { code, stdout, stderr } = await floe(...args);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });
});
