/**
 * What a new user hits with `floe run`, through the real CLI: each mistake or failure is one clear
 * line with its exit code, and the run directory works for the next, corrected run.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateBids } from '../examples/nexmark/generator.ts';
import { floe } from '../test/support/floe-cli.ts';
import type { RunReport } from './run.ts';

const PROJECT = join(import.meta.dirname, '..');
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
