/**
 * `floe produce`, `floe run --kafka` and `floe events` against a real broker (scripts/local-kafka,
 * started on first use by test/support/local-kafka.ts): a topic run gives the tables of
 * `floe run --input` over the same records, also after a SIGKILL mid-topic and a restart; the
 * events `floe events` writes give the same rows through `floe invoke`; mistakes are one line.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KafkaRunReport } from '../../cli/kafka-run.ts';
import { generateBids } from '../../examples/nexmark/generator.ts';
import { partitionForKey } from '../../runtime/event-source-mapping/partitioner.ts';
import { removeScratch, track } from '../support/cleanup.ts';
import { floe } from '../support/floe-cli.ts';
import { canonicalRows, readTable } from '../support/iceberg-tables.ts';
import { kafkaBrokers, uniqueTopic } from '../support/local-kafka.ts';
import { EXAMPLE_REFERENCES } from '../support/nexmark-reference.ts';

const PROJECT = join(import.meta.dirname, '..', '..');
const FLOE = join(PROJECT, 'bin', 'floe.js');
const JOB = join(PROJECT, 'examples', 'bids-per-auction.ts');
const ROWS = 'nexmark.bids_per_auction';

const scratch = mkdtempSync(join(tmpdir(), 'floe-kafka-'));
afterAll(() => removeScratch(scratch));

// 2,000 bids keyed by auction on 4 partitions, none on partition 3: an empty partition.
const bids = generateBids({ seed: 11, count: 4_000, eventsPerSecond: 100, auctions: 40, bidders: 50 })
  .filter((bid) => partitionForKey(String(bid.auction), 4) !== 3)
  .slice(0, 2_000);
const INPUT = join(scratch, 'bids.jsonl');
writeFileSync(INPUT, bids.map((bid) => `${JSON.stringify(bid)}\n`).join(''));
const expectedRows = canonicalRows(EXAMPLE_REFERENCES['bids-per-auction'](bids));

let brokers: string;
const topic = uniqueTopic('bids');
const fileDir = join(scratch, 'file-run');

async function rowsOf(dir: string): Promise<string[]> {
  return canonicalRows((await readTable(dir, ROWS)).rows);
}

beforeAll(async () => {
  brokers = await kafkaBrokers();
  const produced = await floe(
    'produce',
    '--kafka',
    brokers,
    '--topic',
    topic,
    '--input',
    INPUT,
    '--key',
    'auction',
    '--partitions',
    '4',
  );
  expect(produced.code, produced.stderr).toBe(0);
  expect(produced.stdout).toContain('2,000 records');
  expect(produced.stdout).toContain('3: 0');
  const fileRun = await floe(
    'run',
    JOB,
    '--input',
    INPUT,
    '--key',
    'auction',
    '--partitions',
    '4',
    '--dir',
    fileDir,
  );
  expect(fileRun.code, fileRun.stderr).toBe(0);
}, 180_000);

/**
 * The most commits any commit group of a run directory has made: the highest version of the
 * items in its state store (a head's versions count its writes), 0 before any.
 */
function committedBatches(dir: string): number {
  const state = join(dir, 'state');
  if (!existsSync(state)) return 0;
  let most = 0;
  for (const item of readdirSync(state)) {
    if (!item.includes('heads')) continue;
    for (const file of readdirSync(join(state, item))) {
      const version = /^v(\d+)\.json$/.exec(file);
      if (version !== null) most = Math.max(most, Number(version[1]));
    }
  }
  return most;
}

function kafkaArgs(dir: string, group: string, ...flags: string[]): string[] {
  return [
    'run',
    JOB,
    '--kafka',
    brokers,
    '--topic',
    topic,
    '--group',
    group,
    '--dir',
    dir,
    '--stop-at-end',
    '--drain',
    '--json',
    ...flags,
  ];
}

describe('floe run --kafka', () => {
  it('gives the tables of floe run --input over the same records (one partition empty)', async () => {
    const dir = join(scratch, 'kafka-run');
    const { code, stdout, stderr } = await floe(...kafkaArgs(dir, uniqueTopic('g'), '--batch-size', '50'));
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout) as KafkaRunReport;
    expect(report).toMatchObject({ records: 2_000, partitions: 4, drained: true, late: 0, deadLetters: 0 });
    expect(report.endOffsets[3]).toBe(0);
    expect(report.offsetCommits).toBe(report.batches);
    expect(await rowsOf(dir)).toEqual(expectedRows);
    expect(await rowsOf(dir)).toEqual(await rowsOf(fileDir));

    // The group's offsets are at the end: a second run reads nothing and commits nothing.
    const again = JSON.parse((await floe(...kafkaArgs(dir, report.group))).stdout) as KafkaRunReport;
    expect(again).toMatchObject({ records: 0, commits: 0, rows: report.rows });
  }, 120_000);

  it('killed with SIGKILL mid-topic and restarted, ends with the same tables', async () => {
    const dir = join(scratch, 'kafka-killed');
    const group = uniqueTopic('g');
    // Small batches: 2,000 records take a few hundred commits, so the kill lands mid-topic.
    const args = kafkaArgs(dir, group, '--batch-size', '10');
    const child = track(spawn(process.execPath, [FLOE, ...args], { cwd: PROJECT, stdio: 'ignore' }));
    const deadline = Date.now() + 60_000;
    while (committedBatches(dir) < 3 && Date.now() < deadline) await sleep(10);
    // Killed at its first commits: the whole topic takes it about two seconds (200 batches). A run
    // that had ended already would have emitted its exit before a listener was there.
    const exited =
      child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve()
        : new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;

    const { code, stdout, stderr } = await floe(...args);
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout) as KafkaRunReport;
    // It resumed: the killed run had delivered part of the topic, and left part of it.
    expect(report.records).toBeLessThan(2_000);
    expect(report.records).toBeGreaterThan(0);
    expect(report.startOffsets.some((offset) => offset > 0)).toBe(true);
    expect(await rowsOf(dir)).toEqual(expectedRows);
  }, 120_000);

  it('floe events writes events that floe invoke turns into the rows of floe run --input', async () => {
    const out = join(scratch, 'events');
    const written = await floe(
      'events',
      '--input',
      INPUT,
      '--key',
      'auction',
      '--partitions',
      '4',
      '--batch-size',
      '400',
      '--out',
      out,
    );
    expect(written.code, written.stderr).toBe(0);
    const files = readdirSync(out).sort();
    expect(files.length).toBeGreaterThan(1);
    const dir = join(scratch, 'invoked');
    for (const [i, file] of files.entries()) {
      const last = i === files.length - 1;
      const invoked = await floe(
        'invoke',
        JOB,
        '--event',
        join(out, file),
        '--dir',
        dir,
        ...(last ? ['--drain'] : []),
      );
      expect(invoked.code, invoked.stderr).toBe(0);
    }
    expect(await rowsOf(dir)).toEqual(await rowsOf(fileDir));
  }, 120_000);
});

describe('one-line errors, exit 2', () => {
  const expectUsage = (r: { code: number; stderr: string }, pattern: RegExp) => {
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(pattern);
  };

  it('an unreachable broker, within the connect timeout', async () => {
    const began = Date.now();
    const r = await floe('run', JOB, '--kafka', '127.0.0.1:1', '--topic', 'x', '--stop-at-end');
    expectUsage(r, /^floe: Cannot reach Kafka at 127\.0\.0\.1:1/);
    expect(Date.now() - began).toBeLessThan(30_000);
    expectUsage(
      await floe('produce', '--kafka', '127.0.0.1:1', '--topic', 'x', '--bids', '5'),
      /Cannot reach Kafka/,
    );
  }, 60_000);

  it('a missing topic', async () => {
    const r = await floe('run', JOB, '--kafka', brokers, '--topic', uniqueTopic('missing'), '--stop-at-end');
    expectUsage(r, /Topic missing-\S+ does not exist on /);
  }, 60_000);

  it('bad flags', async () => {
    const base = ['run', JOB, '--kafka', brokers, '--topic', topic];
    expectUsage(
      await floe(...base, '--batch-size', '20000'),
      /--batch-size must be a whole number from 1 to 10,000/,
    );
    expectUsage(await floe(...base, '--drain'), /--drain ends the input, so it needs --stop-at-end/);
    expectUsage(await floe(...base, '--key', 'auction'), /--key is for a run over a file/);
    expectUsage(await floe(...base, '--batching-window-ms', '400000'), /--batching-window-ms/);
    expectUsage(await floe('run', JOB, '--kafka', brokers), /needs --topic/);
    expectUsage(
      await floe('run', JOB, '--input', INPUT, '--stop-at-end'),
      /--stop-at-end is for a run against Kafka/,
    );
    expectUsage(
      await floe('produce', '--kafka', brokers, '--topic', topic),
      /either --input <file.jsonl> or --bids N/,
    );
    expectUsage(
      await floe('produce', '--kafka', brokers, '--topic', topic, '--bids', '5', '--partitions', '2'),
      /exists with 4 partitions, not 2/,
    );
    expectUsage(await floe('events', '--input', INPUT), /needs --out/);
  }, 60_000);
});
