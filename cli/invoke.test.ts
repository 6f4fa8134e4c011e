import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { removeScratch } from '../test/support/cleanup.ts';
import { floe } from '../test/support/floe-cli.ts';
import { canonicalRows, readRunTables, readTable } from '../test/support/iceberg-tables.ts';

const EVENT = join(import.meta.dirname, '..', 'examples', 'events', 'msk-bids.json');
const JOB = join(import.meta.dirname, '..', 'examples', 'bids-per-auction.ts');

describe('floe invoke', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'floe-invoke-'));
  });
  afterEach(async () => {
    await removeScratch(dir);
  });

  it('prints the rows of an MSK test event and turns the malformed record into a dead letter', async () => {
    const { code, stdout } = await floe('invoke', JOB, '--event', EVENT, '--dir', dir, '--drain');
    expect(code).toBe(0);
    expect(stdout).toContain('Rows for nexmark.bids_per_auction (8):');
    expect(stdout).toMatch(/1001\s+2023-11-14T22:13:20\.000Z\s+2023-11-14T22:13:30\.000Z\s+3/);
    expect(stdout).toContain('bids partition 1 offset 20 [decode]');

    const deadLetters = (await readTable(dir, 'nexmark.bids_per_auction_dead_letters')).rows;
    expect(deadLetters).toEqual([
      expect.objectContaining({ topic: 'bids', partition: 1, offset: 20, stage: 'decode', key: 'MTAwMg==' }),
    ]);
    expect(Buffer.from(String(deadLetters[0]!.value), 'base64').toString()).toBe(
      '{"auction":1002,"bidder":2008,"price":',
    );
    expect((await readTable(dir, 'nexmark.bids_per_auction')).rows).toHaveLength(8);
  });

  it('changes nothing when the same event is invoked again, as a Lambda redelivery', async () => {
    await floe('invoke', JOB, '--event', EVENT, '--dir', dir, '--json');
    const before = await readRunTables(dir);
    const again = await floe('invoke', JOB, '--event', EVENT, '--dir', dir, '--json');
    const result = JSON.parse(again.stdout);
    expect(result.metrics).toMatchObject({ records: 12, redelivered: 12, rows: 0, deadLetters: 0 });
    expect(result.commits).toEqual([]);
    const after = await readRunTables(dir);
    expect([...after.keys()]).toEqual([...before.keys()]);
    for (const [name, table] of before) {
      expect(after.get(name)!.snapshots).toBe(table.snapshots);
      expect(canonicalRows(after.get(name)!.rows)).toEqual(canonicalRows(table.rows));
    }
  });

  it('reports a missing flag in one line and exits with 2', async () => {
    const { code, stderr, stdout } = await floe('invoke', JOB);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toEqual([
      'floe: invoke needs --event <file.json>, a Lambda Kafka event.',
    ]);
  });

  it.each([
    [['invoke', JOB, '--event', EVENT, '--bogus'], /Unknown option '--bogus'/],
    [['invoke', 'missing-job.ts', '--event', EVENT], /Job file not found: missing-job.ts/],
    [['invoke', JOB, '--event', 'missing.json'], /Event file not found or unreadable: missing.json/],
    [['frobnicate'], /Unknown command "frobnicate"/],
  ])('rejects %j with a clear error', async (args, message) => {
    const { code, stderr } = await floe(...args);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });
});
