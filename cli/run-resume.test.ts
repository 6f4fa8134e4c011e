/**
 * Resuming `floe run` (in-process, killed right after a commit): a restart ends with the tables
 * of an uninterrupted run, also after a pause longer than the idleness timeout, and a changed
 * job definition is refused instead of mixed into committed state.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { partitionForKey } from '../runtime/event-source-mapping/partitioner.ts';
import { count, job, json, TumblingEventTimeWindows, table, WatermarkStrategy } from '../runtime/index.ts';
import type { Job } from '../runtime/job/job.ts';
import { removeScratch } from '../test/support/cleanup.ts';
import { readRunTables } from '../test/support/iceberg-tables.ts';
import { openRunInput, runJob } from './run.ts';

const scratch = mkdtempSync(join(tmpdir(), 'floe-run-resume-'));
afterAll(() => removeScratch(scratch));

interface Reading {
  readonly k: string;
  readonly ts: number;
}

const counts = table('resume.counts', { window_start: 'timestamptz', window_end: 'timestamptz', n: 'long' });

/** One global count per tumbling window (keys span partitions: the job commit group). */
function countJob(sizeMs: number, idlenessMs?: number): Job<unknown> {
  const base = WatermarkStrategy.forMonotonousTimestamps<Reading>().withTimestampAssigner((r) => r.ts);
  return job('resume-counts')
    .fromKafka({ value: json<Reading>() })
    .assignTimestampsAndWatermarks(idlenessMs === undefined ? base : base.withIdleness(idlenessMs))
    .keyBy(() => 'all')
    .window(TumblingEventTimeWindows.of(sizeMs))
    .aggregate(count(), (_key, window, n) => ({ window_start: window.start, window_end: window.end, n }))
    .sinkTo(counts) as unknown as Job<unknown>;
}

/** A key that the runner's partitioner puts in partition p of 2. */
function keyFor(p: number): string {
  for (let i = 0; ; i++) if (partitionForKey(String(i), 2) === p) return String(i);
}

/**
 * Two partitions, one record per event, alternating: partition 0 at 10 s, 20 s, ... and
 * partition 1 always 5 s behind it. Without idleness firing early, nothing is late.
 */
function writeInput(): string {
  const [k0, k1] = [keyFor(0), keyFor(1)];
  const lines: string[] = [];
  for (let i = 1; i <= 6; i++) {
    lines.push(JSON.stringify({ k: k0, ts: i * 10_000 }));
    lines.push(JSON.stringify({ k: k1, ts: i * 10_000 - 5_000 }));
  }
  const path = join(scratch, 'readings.jsonl');
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

const INPUT = writeInput();
const inputOptions = { input: INPUT, partitions: 2, key: 'k', batchSize: 1, timestamp: 'ts' };

/** Runs the job, "killing" the run right after its n-th commit (the commit is durable). */
async function runKilledAfter(j: Job<unknown>, dir: string, n: number): Promise<void> {
  let seen = 0;
  const killed = runJob(j, await openRunInput(inputOptions), {
    dir,
    onOutcome: () => {
      if (++seen === n) throw new Error('killed');
    },
  });
  await expect(killed).rejects.toThrow('killed');
}

async function tables(dir: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [name, contents] of await readRunTables(dir)) out[name] = contents.rows.length;
  return out;
}

describe('floe run, resumed', () => {
  it('a restart after a pause longer than the idleness timeout gives the tables of an uninterrupted run', async () => {
    const j = countJob(10_000, 1_500);
    const clean = join(scratch, 'idle-clean');
    await runJob(j, await openRunInput(inputOptions), { dir: clean });

    const resumed = join(scratch, 'idle-resumed');
    // Killed after partition 1's second record; restarted 2 s later (a slow restart, a redeploy).
    await runKilledAfter(j, resumed, 4);
    await sleep(2_000);
    await runJob(j, await openRunInput(inputOptions), { dir: resumed });

    // The pause does not count as processing time: partition 1, active at the last commit, is
    // not idle in the first batch after the restart (partition 0 only), so the job watermark
    // waits for it and its next record lands in its window, not in the late table.
    expect(await tables(resumed)).toEqual(await tables(clean));
  });

  it('a run stopped between two batches (Ctrl-C) has published every row it committed', async () => {
    const dir = join(scratch, 'stopped');
    const stop = new AbortController();
    let seen = 0;
    const report = await runJob(countJob(10_000), await openRunInput(inputOptions), {
      dir,
      // Rounds only at the end: the stop must publish what the batches committed.
      publishIntervalMs: 3_600_000,
      signal: stop.signal,
      onOutcome: (outcome) => {
        if (outcome.rows.length > 0 && ++seen === 2) stop.abort('SIGINT');
      },
    });
    expect(report.stopped).toBe('SIGINT');
    expect(report.rows).toBeGreaterThan(1);
    expect(await tables(dir)).toEqual({ 'resume.counts': report.rows });
  });

  it('refuses to resume a run directory with a changed job definition, as it refuses changed flags', async () => {
    const dir = join(scratch, 'changed-job');
    await runKilledAfter(countJob(10_000), dir, 4);

    // Same job name, same input and flags, another window size: resuming would mix windows of
    // 10 s (committed) and 20 s (new) in one table, which no uninterrupted run gives.
    await expect(runJob(countJob(20_000), await openRunInput(inputOptions), { dir })).rejects.toThrow(
      /holds a run of job resume-counts as .*TumblingEventTimeWindows\(10000\).*it is now .*TumblingEventTimeWindows\(20000\).*Use another --dir/,
    );
  });
});
