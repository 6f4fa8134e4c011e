/**
 * What a new user hits with `floe run`, through the real CLI: each mistake or failure is one clear
 * line with its exit code, and the run directory works for the next, corrected run.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { TEMP_PREFIX } from '../adapters/local/durable-file.ts';
import { localCheckpointStores } from '../adapters/local/run-directory.ts';
import bidsPerAuction from '../examples/bids-per-auction.ts';
import { generateBids } from '../examples/nexmark/generator.ts';
import { CheckpointedProcessor } from '../runtime/checkpoint/checkpointed-processor.ts';
import { floe } from '../test/support/floe-cli.ts';
import { canonicalRows, readTable } from '../test/support/iceberg-tables.ts';
import { EXAMPLE_REFERENCES } from '../test/support/nexmark-reference.ts';
import { READ_WORKER_BYTES } from './jsonl-topic.ts';
import type { RunReport } from './run.ts';

const PROJECT = join(import.meta.dirname, '..');
const FLOE = join(PROJECT, 'bin', 'floe.js');
const ROWS = 'nexmark.bids_per_auction';
const JOB = join(PROJECT, 'examples', 'bids-per-auction.ts');

const scratch = mkdtempSync(join(tmpdir(), 'floe-run-errors-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const bids = generateBids({ seed: 7, count: 300, eventsPerSecond: 50, auctions: 10, bidders: 20 });
const INPUT = join(scratch, 'bids.jsonl');
writeFileSync(INPUT, bids.map((bid) => `${JSON.stringify(bid)}\n`).join(''));

const runArgs = (input: string, dir: string, ...flags: string[]) => [
  'run',
  JOB,
  '--input',
  input,
  '--key',
  'auction',
  '--batch-size',
  '50',
  '--dir',
  dir,
  ...flags,
];

describe('floe run: storage that cannot work', () => {
  it('a run directory blocked by a file is one line naming the path and what to do, exit 2, no retries; then the corrected run works', async () => {
    const blocker = join(scratch, 'blocker');
    writeFileSync(blocker, 'a file, not a directory');
    const dir = join(blocker, 'run');

    const started = Date.now();
    const { code, stdout, stderr } = await floe(...runArgs(INPUT, dir));

    expect(code).toBe(2);
    expect(stdout).toBe('');
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^floe: Cannot use .*blocker.*: a file is in the way of a directory; remove it, or use another directory \(ENOTDIR\)\.$/,
    );
    expect(stderr).not.toContain('tries');
    expect(Date.now() - started).toBeLessThan(20_000);

    rmSync(blocker);
    const fixed = await floe(...runArgs(INPUT, dir, '--json'));
    expect(fixed.code, fixed.stderr).toBe(0);
    expect((JSON.parse(fixed.stdout) as RunReport).records).toBe(300);
  });
});

/** Every temporary file under `dir`. */
const temporaryFiles = (dir: string) =>
  readdirSync(dir, { recursive: true })
    .map(String)
    .filter((path) => path.split('/').pop()!.startsWith(TEMP_PREFIX));

describe('floe run: a big input and a job that cannot run', () => {
  it('is one line and exit 2, with the input reader already started for the big file', async () => {
    // At least READ_WORKER_BYTES, so that floe starts reading it in a thread before loading the job.
    const big = join(scratch, 'big.jsonl');
    const lines = bids.map((bid) => `${JSON.stringify(bid)}\n`).join('');
    writeFileSync(big, lines.repeat(Math.ceil(READ_WORKER_BYTES / lines.length) + 1));
    const missing = join(scratch, 'no-such-job.ts');
    const { code, stdout, stderr } = await floe('run', missing, '--input', big, '--key', 'auction');
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toEqual([`floe: Job file not found: ${missing}`]);
  });
});

describe('floe run: Ctrl-C', () => {
  it('stops between batches, leaves no temporary files, says where it stopped and how to resume, exit 130; the resume finishes the tables', async () => {
    const many = generateBids({ seed: 8, count: 4_000, eventsPerSecond: 50, auctions: 30, bidders: 40 });
    const input = join(scratch, 'many.jsonl');
    writeFileSync(input, many.map((bid) => `${JSON.stringify(bid)}\n`).join(''));
    const dir = join(scratch, 'interrupted');
    const child = spawn(
      process.execPath,
      [
        FLOE,
        'run',
        JOB,
        '--input',
        input,
        '--key',
        'auction',
        '--partitions',
        '2',
        '--batch-size',
        '10',
        '--dir',
        dir,
      ],
      { cwd: PROJECT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const progress = () =>
      new CheckpointedProcessor(bidsPerAuction, { stores: localCheckpointStores(dir) }).committed();
    for (;;) {
      const { offsets } = await progress().catch(() => ({ offsets: new Map<string, number>() }));
      if (offsets.size === 2 && [...offsets.values()].every((offset) => offset >= 100)) break;
      await sleep(10);
    }
    child.kill('SIGINT');

    expect(await exited, stderr).toBe(130);
    expect(stderr).toContain('SIGINT: stopping after the current batch');
    expect(stdout).toMatch(
      /^floe run bids-per-auction: stopped by SIGINT; every batch committed so far is kept\.$/m,
    );
    expect(stdout).toMatch(
      /committed [\d,]+ of 4,000 records \(many-0 at offset \d+, many-1 at offset \d+\)/,
    );
    const lines = stdout.trim().split('\n');
    expect(lines.at(-2)).toBe('Resume where it stopped with:');
    const resume = lines.at(-1)!.trim();
    expect(resume).toBe(
      `npx floe run ${JOB} --input ${input} --key auction --partitions 2 --batch-size 10 --dir ${dir}`,
    );
    expect(temporaryFiles(dir)).toEqual([]);

    // A temporary file a kill -9 left (its writer is gone) is removed by the next run.
    const gone = Number(
      spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout,
    );
    mkdirSync(join(dir, 'state', 'leftover'), { recursive: true });
    writeFileSync(join(dir, 'state', 'leftover', `${TEMP_PREFIX}${gone}-kill-9`), 'half written');

    const [, , ...args] = resume.split(' ');
    const resumed = await floe(...args, '--json');
    expect(resumed.code, resumed.stderr).toBe(0);
    const report = JSON.parse(resumed.stdout) as RunReport;
    expect(report.skippedBatches).toBeGreaterThan(0);
    expect(report.stopped).toBeNull();
    expect(temporaryFiles(dir)).toEqual([]);
    expect(canonicalRows((await readTable(dir, ROWS)).rows)).toEqual(
      canonicalRows(EXAMPLE_REFERENCES['bids-per-auction'](many)),
    );
  }, 120_000);
});

describe('floe run: mostly dead letters', () => {
  const few = bids.slice(0, 40);
  const array = join(scratch, 'bids.json');
  writeFileSync(array, `${JSON.stringify(few, null, 2)}\n`);
  const args = (input: string, dir: string, ...flags: string[]) => [
    ...['run', JOB, '--input', input, '--key', 'auction', '--timestamp', 'dateTime', '--dir', dir],
    ...flags,
  ];

  it('warns with the reason and, for a JSON array, how to convert it to JSON lines; exit 0', async () => {
    const { code, stdout, stderr } = await floe(...args(array, join(scratch, 'array')));

    expect(code, stderr).toBe(0);
    expect(stdout).toContain('dead letters');
    const warnings = stderr.trim().split('\n');
    expect(warnings[0]).toMatch(
      /^floe: warning: [\d,]+ of [\d,]+ records \(100 %\) became dead letters, in nexmark\.bids_per_auction_dead_letters\.$/,
    );
    expect(warnings[1]).toMatch(
      /^floe: the most common reason \(\d+ records\): The (value could not be decoded|event time could not be read): /,
    );
    expect(warnings[2]).toBe(
      `floe: bids.json starts with "[": it looks like a JSON array, but --input takes JSON lines, one object per line. Convert it with: jq -c '.[]' bids.json > bids.jsonl`,
    );
  });

  it('--fail-on-dead-letters exits 1 when any record is a dead letter, also when run again; JSON lines then run clean', async () => {
    const dir = join(scratch, 'array-strict');
    const first = await floe(...args(array, dir, '--fail-on-dead-letters'));
    expect(first.code).toBe(1);
    expect(first.stderr).toMatch(
      /floe: \d+ records became dead letters .*; exit 1 because of --fail-on-dead-letters\.$/m,
    );

    const again = await floe(...args(array, dir, '--fail-on-dead-letters'));
    expect(again.code).toBe(1);
    expect(again.stdout).toContain('already complete');

    // The corrected input, as jq -c '.[]' writes it.
    const lines = join(scratch, 'bids-fixed.jsonl');
    writeFileSync(lines, few.map((bid) => `${JSON.stringify(bid)}\n`).join(''));
    const fixedDir = join(scratch, 'fixed');
    const fixed = await floe(...args(lines, fixedDir, '--fail-on-dead-letters'));
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(fixed.stderr).toBe('');
    expect(canonicalRows((await readTable(fixedDir, ROWS)).rows)).toEqual(
      canonicalRows(EXAMPLE_REFERENCES['bids-per-auction'](few)),
    );
  });
});

describe('floe run: a record over the 6 MB Lambda event limit', () => {
  it('becomes a dead letter with its coordinates and the reason, and the partition keeps moving; a second run finds it complete', async () => {
    const huge = JSON.stringify({ ...bids[10]!, note: 'x'.repeat(7 * 1024 * 1024) });
    const lines = bids.map((bid) => JSON.stringify(bid));
    const input = join(scratch, 'with-huge-record.jsonl');
    writeFileSync(input, `${[...lines.slice(0, 10), huge, ...lines.slice(10)].join('\n')}\n`);
    const dir = join(scratch, 'huge');
    const args = [
      ...['run', JOB, '--input', input, '--key', 'auction', '--timestamp', 'dateTime', '--batch-size', '50'],
      ...['--dir', dir, '--json'],
    ];

    const { code, stdout, stderr } = await floe(...args);

    expect(code, stderr).toBe(0);
    expect(stderr).toBe('');
    const report = JSON.parse(stdout) as RunReport;
    expect(report).toMatchObject({ records: 301, deadLetters: 1 });
    // One partition: the huge line is offset 10, and the offsets after it are committed too.
    expect(report.offsets).toEqual({ 'with-huge-record-0': 300 });
    const dead = (await readTable(dir, 'nexmark.bids_per_auction_dead_letters')).rows;
    expect(dead).toEqual([
      expect.objectContaining({
        kind: 'record',
        topic: 'with-huge-record',
        partition: 0,
        offset: 10,
        stage: 'oversized',
        key: Buffer.from(String(bids[10]!.auction)).toString('base64'),
        value: null,
      }),
    ]);
    expect(dead[0]!.reason).toMatch(
      /^The record needs \d+ bytes in a Lambda event, over the 6291456-byte \(6 MB\) payload limit/,
    );
    expect(canonicalRows((await readTable(dir, ROWS)).rows)).toEqual(
      canonicalRows(EXAMPLE_REFERENCES['bids-per-auction'](bids)),
    );

    const again = await floe(...args);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ alreadyComplete: true, deadLetters: 1 });
  }, 60_000);
});
