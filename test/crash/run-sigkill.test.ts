/**
 * Crash tests with real processes: `floe run` is killed with SIGKILL at random moments, restarted
 * with the same command until it finishes, and its tables must equal those of an uninterrupted
 * run, row for row, with no snapshot added by a run after completion.
 *
 * Kill moments are drawn per seed across the whole run (start-up, processing, staging, commit,
 * publish, drain, cleanup), scaled to how long the uninterrupted run took on this machine.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { awsCheckpointStores } from '../../adapters/aws/aws-stores.ts';
import { EXAMPLE_JOBS, type ExampleName } from '../../examples/index.ts';
import { generateBids } from '../../examples/nexmark/generator.ts';
import { mulberry32 } from '../../runtime/seeded-random.ts';
import { removeScratch } from '../support/cleanup.ts';
import { floe } from '../support/floe-cli.ts';
import { canonicalRows, readRunTables, type TablesLocation } from '../support/iceberg-tables.ts';
import { floeOrKill } from '../support/kill.ts';
import { EXAMPLE_REFERENCES } from '../support/nexmark-reference.ts';

const PROJECT = join(import.meta.dirname, '..', '..');
const SEEDS = [1, 2, 3];
const MAX_KILLS = 3;

const scratch = mkdtempSync(join(tmpdir(), 'floe-crash-'));
afterAll(() => removeScratch(scratch));

function runArgs(name: string, input: string, dir: string): string[] {
  return [
    'run',
    join(PROJECT, 'examples', `${name}.ts`),
    '--input',
    input,
    '--key',
    'auction',
    '--partitions',
    '3',
    '--batch-size',
    '40',
    '--dir',
    dir,
    '--json',
  ];
}

async function tablesOf(dir: TablesLocation): Promise<Map<string, { rows: string[]; snapshots: number }>> {
  const tables = await readRunTables(dir);
  return new Map(
    [...tables].map(([name, t]) => [name, { rows: canonicalRows(t.rows), snapshots: t.snapshots }]),
  );
}

/**
 * Runs `floe run` with `args` again and again, killing it with SIGKILL at random moments (at
 * most MAX_KILLS times, within what an uninterrupted run took), until a run finishes. Returns
 * how many runs were killed; `reset` starts over (with `args` read again) when a run finished
 * before the first kill.
 */
async function killUntilDone(
  args: () => string[],
  cleanMs: number,
  random: () => number,
  reset: () => void,
): Promise<number> {
  let kills = 0;
  for (let misses = 0; ; ) {
    // Anywhere from process start to most of what an uninterrupted run takes.
    const killAfter = kills < MAX_KILLS ? 50 + random() * cleanMs * 0.8 : 600_000;
    const outcome = await floeOrKill(args(), killAfter);
    if (outcome.killed) {
      kills++;
      continue;
    }
    expect(outcome.code, outcome.stderr).toBe(0);
    if (kills > 0 || ++misses > 5) return kills;
    // Finished before the first kill (a fast run on a quiet machine): start over at another moment.
    reset();
  }
}

function writeBids(path: string, seed: number) {
  const bids = generateBids({ count: 1_500, seed, eventsPerSecond: 100 });
  writeFileSync(path, `${bids.map((b) => JSON.stringify(b)).join('\n')}\n`);
  return bids;
}

describe.each(Object.keys(EXAMPLE_JOBS))('floe run %s, killed with SIGKILL and restarted', (name) => {
  it.each(SEEDS)('seed %i: ends with the tables of an uninterrupted run', async (seed) => {
    const random = mulberry32(seed * 7_919 + name.length);
    const base = join(scratch, `${name}-${seed}`);
    const input = `${base}.jsonl`;
    const bids = writeBids(input, seed);

    const started = performance.now();
    const clean = await floe(...runArgs(name, input, `${base}-clean`));
    const cleanMs = performance.now() - started;
    expect(clean.code, clean.stderr).toBe(0);
    const expected = await tablesOf(`${base}-clean`);
    // The uninterrupted run is right: no bid is late here, so its table is the brute-force result.
    const table = EXAMPLE_JOBS[name as ExampleName].plan.table.name;
    expect(expected.get(table)?.rows).toEqual(canonicalRows(EXAMPLE_REFERENCES[name as ExampleName](bids)));

    const dir = `${base}-crashed`;
    const kills = await killUntilDone(
      () => runArgs(name, input, dir),
      cleanMs,
      random,
      () => rmSync(dir, { recursive: true, force: true }),
    );
    expect(kills).toBeGreaterThan(0);
    const actual = await tablesOf(dir);
    expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [table, contents] of expected) {
      expect(actual.get(table)?.rows, `${table} after ${kills} kills`).toEqual(contents.rows);
    }

    // Finished: the same command again commits nothing.
    const again = await floe(...runArgs(name, input, dir));
    expect(again.code, again.stderr).toBe(0);
    const after = await tablesOf(dir);
    for (const [table, contents] of actual) expect(after.get(table)?.snapshots).toBe(contents.snapshots);
  });
});

/**
 * The same on the AWS stores (DynamoDB on moto, S3 on versitygw): heads, offsets and small state
 * in DynamoDB, manifests and tables in S3. The tables must equal the local run's.
 */
describe.each(['hot-items', 'bidder-sessions'])(
  'floe run %s on DynamoDB and S3, killed with SIGKILL and restarted',
  (name) => {
    it.each([1, 2])('seed %i: ends with the tables of an uninterrupted local run', async (seed) => {
      const random = mulberry32(seed * 104_729 + name.length);
      const base = join(scratch, `aws-${name}-${seed}`);
      const input = `${base}.jsonl`;
      writeBids(input, seed);

      const started = performance.now();
      const clean = await floe(...runArgs(name, input, `${base}-clean`));
      const cleanMs = performance.now() - started;
      expect(clean.code, clean.stderr).toBe(0);
      const expected = await tablesOf(`${base}-clean`);

      let attempt = 0;
      const location = () => {
        const id = `${name}-${seed}-${attempt}-${randomUUID().slice(0, 8)}`;
        return { state: `floe-crash-${id}`, objects: `s3://floe-crash/${id}` };
      };
      let where = location();
      const args = () => [
        ...runArgs(name, input, `${base}-crashed-${attempt}`),
        '--state',
        `dynamodb://${where.state}`,
        '--objects',
        where.objects,
        '--catalog',
        `dynamodb://${where.state}-iceberg`,
        '--create',
      ];
      const kills = await killUntilDone(args, cleanMs * 2, random, () => {
        attempt++;
        where = location();
      });
      expect(kills).toBeGreaterThan(0);
      const stores = awsCheckpointStores({
        job: name,
        stateTable: where.state,
        catalogTable: `${where.state}-iceberg`,
        objects: where.objects,
      });
      const actual = await tablesOf(stores);
      expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
      for (const [table, contents] of expected) {
        expect(actual.get(table)?.rows, `${table} after ${kills} kills`).toEqual(contents.rows);
      }
      const snapshots = new Map([...actual].map(([table, t]) => [table, t.snapshots]));

      // Finished: the same command again commits nothing.
      const again = await floe(...args());
      expect(again.code, again.stderr).toBe(0);
      const after = await tablesOf(stores);
      for (const [table, count] of snapshots) expect(after.get(table)?.snapshots).toBe(count);
    });
  },
);
