import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { removeScratch } from '../test/support/cleanup.ts';
import { floe } from '../test/support/floe-cli.ts';
import { canonicalRows, readTable } from '../test/support/iceberg-tables.ts';

const EVENT = join(import.meta.dirname, '..', 'examples', 'events', 'msk-bids.json');
const JOB = join(import.meta.dirname, '..', 'test', 'support', 'jobs', 'idle-bids-per-bidder.ts');
const TABLE = 'nexmark.idle_bids_per_bidder';

describe('floe tick', () => {
  const dirs: string[] = [];
  const scratch = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'floe-tick-'));
    dirs.push(dir);
    return dir;
  };
  beforeEach(() => {
    dirs.length = 0;
  });
  afterEach(async () => {
    for (const dir of dirs) await removeScratch(dir);
  });

  it('fires the windows of a topic gone silent once every partition is idle, as a drain would', async () => {
    const dir = await scratch();
    const invoked = await floe('invoke', JOB, '--event', EVENT, '--dir', dir, '--json');
    expect(invoked.code, invoked.stderr).toBe(0);
    const start = Date.now();
    const openWindows = (await readTable(dir, TABLE)).rows.length;

    const tick = async (offsetMs?: number) => {
      const args = ['tick', JOB, '--dir', dir, '--json', '--no-typecheck'];
      if (offsetMs !== undefined) args.push('--now', new Date(start + offsetMs).toISOString());
      const result = await floe(...args);
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(result.stdout) as { commits: unknown[]; metrics: { rows: number } };
    };
    // Right after the batch: nothing to do, nothing committed.
    expect((await tick()).commits).toEqual([]);
    // 40 s later: the downtime rule counts at most 30 s since the last commit, so the tick records
    // its processing time (a checkpoint without output); 60 s after that every partition is idle
    // and the watermark follows the wall clock, past every bid of 2023.
    expect(await tick(40_000)).toMatchObject({ commits: [expect.anything()], metrics: { rows: 0 } });
    const fired = await tick(100_000);
    expect(fired.commits).toHaveLength(1);
    expect(fired.metrics.rows).toBeGreaterThan(0);
    expect(await tick(101_000)).toMatchObject({ commits: [] });

    // The same tables as ending the input.
    const drained = await scratch();
    expect(
      (await floe('invoke', JOB, '--event', EVENT, '--dir', drained, '--drain', '--no-typecheck')).code,
    ).toBe(0);
    const rows = canonicalRows((await readTable(dir, TABLE)).rows);
    expect(rows).toEqual(canonicalRows((await readTable(drained, TABLE)).rows));
    expect(rows.length).toBe(openWindows + fired.metrics.rows);
  });

  it('says so for a job whose watermarks ticks cannot move', async () => {
    const dir = await scratch();
    const bidsPerAuction = join(import.meta.dirname, '..', 'examples', 'bids-per-auction.ts');
    expect((await floe('invoke', bidsPerAuction, '--event', EVENT, '--dir', dir)).code).toBe(0);
    const result = await floe('tick', bidsPerAuction, '--dir', dir, '--now', '2030-01-01T00:00:00Z');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('no idleness timeout');
  });

  it('rejects a --now that is not a time', async () => {
    const result = await floe('tick', JOB, '--now', 'soon');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--now must be epoch milliseconds or an ISO-8601 time');
  });
});
