/**
 * The deployment's done-means: "a 4-partition topic with one partition empty yields every window
 * of the examples: the ticker fires them". Each example job, with an idleness timeout, reads a
 * 4-partition topic whose partition 3 delivers nothing. Every event goes through the job's Lambda
 * handler (createHandler on local stores, a clock the test moves), then the ticker (createTicker,
 * a second function on the same stores, as deployed) runs every 15 s of that clock past the
 * timeout. The tables must equal the brute-force reference over the delivered records, each row
 * once, with nothing late; the examples whose windows wait for every partition (keys across
 * partitions, windowAll) fire nothing before the ticks.
 *
 * The examples themselves have no idleness timeout (docs/design.md, "Ticks: idleness without
 * deliveries", says why): the variants here are the same jobs with `withIdleness`.
 */
import { describe, expect, it } from 'vitest';
import { localCheckpointStores } from '../../adapters/local/run-directory.ts';
import { EXAMPLE_JOBS, type ExampleName } from '../../examples/index.ts';
import { BID_OUT_OF_ORDERNESS_MS } from '../../examples/nexmark/bid.ts';
import { createHandler } from '../../functions/handler.ts';
import { createTicker } from '../../functions/ticker.ts';
import { CheckpointedProcessor } from '../../runtime/checkpoint/checkpointed-processor.ts';
import type { Job } from '../../runtime/job/job.ts';
import type { IdleTopicWatermark } from '../../runtime/time/watermark-strategy.ts';
import {
  duplicates,
  exampleJob,
  referenceRows,
  tableNamesOf,
  tablesOf,
  tempRunDir,
} from '../support/checkpoint-runs.ts';
import { canonicalRows } from '../support/iceberg-tables.ts';
import { EXAMPLE_REFERENCES } from '../support/nexmark-reference.ts';
import {
  deliver,
  deliveredWatermark,
  manualClock,
  silentPartitionWorkload,
  withIdlenessVariant,
} from '../support/silent-partition.ts';

const IDLE_MS = 60_000;
const TICK_EVERY_MS = 15_000;
const QUIET = { log() {} };
const NAMES = Object.keys(EXAMPLE_JOBS) as ExampleName[];

const w = silentPartitionWorkload();

/** A deployment of the job on local stores: its handler and its ticker, sharing stores and clock. */
function deploy(job: Job<unknown>) {
  const dir = tempRunDir('floe-ticker-');
  const stores = localCheckpointStores(dir);
  const clock = manualClock(w);
  const options = { stores, clock: () => clock.now, partitions: w.partitions, logger: QUIET };
  return {
    dir,
    job,
    stores,
    clock,
    handler: createHandler(job, options),
    ticker: createTicker(job, options),
  };
}

/**
 * The tables once what the handler committed is published (the handler publishes every 10 s of
 * its clock; a flush by another process, as the ticker's own round would, publishes the rest).
 */
async function publishedTables(d: ReturnType<typeof deploy>) {
  await new CheckpointedProcessor(d.job, { stores: d.stores, clock: () => d.clock.now }).publish();
  return tablesOf(d.dir);
}

/** Ticks every 15 s of the clock; returns the rows they fired and how many committed. */
async function tick(d: ReturnType<typeof deploy>, count: number) {
  let rows = 0;
  let commits = 0;
  for (let i = 0; i < count; i++) {
    d.clock.now += TICK_EVERY_MS;
    const outcome = await d.ticker({});
    rows += outcome.rows;
    commits += outcome.commits;
  }
  return { rows, commits };
}

function variant(name: ExampleName, idleTopicWatermark: IdleTopicWatermark): Job<unknown> {
  return withIdlenessVariant(exampleJob(name), IDLE_MS, idleTopicWatermark);
}

/** The reference rows of the windows (or sessions) that end at or before the watermark. */
function referenceUpTo(name: ExampleName, watermark: number): string[] {
  return canonicalRows(
    EXAMPLE_REFERENCES[name](w.deliveredBids).filter((row) => Number(row.window_end) - 1 <= watermark),
  );
}

describe.each(NAMES)('the ticker and the example %s, partition 3 silent', (name) => {
  const tables = tableNamesOf(name);
  const waitsForEveryPartition = exampleJob(name).plan.scope === 'job';

  it("with idleness and idleTopicWatermark 'processing-time': every window of the delivered records, once", async () => {
    const d = deploy(variant(name, 'processing-time'));
    await deliver(d.handler, w.events, d.clock);
    const before = (await publishedTables(d))[tables.rows] ?? [];
    const all = referenceRows(name, w.deliveredBids);
    if (waitsForEveryPartition) {
      // The job watermark is the smallest over partitions 0-3, and partition 3 has none yet.
      expect(before).toEqual([]);
    } else {
      // Each partition fires on its own watermark; the silent one has no windows to hold.
      expect(before.length).toBeGreaterThan(0);
      expect(before.filter((row) => !all.includes(row))).toEqual([]);
    }

    // 4 minutes of ticks: the downtime rule records processing time, the partitions go idle
    // (3 first), the watermark moves to the active ones', then, once all are idle, to the clock.
    const fired = await tick(d, 16);
    const after = await tablesOf(d.dir);
    expect(after[tables.rows]).toEqual(all);
    expect(duplicates(after[tables.rows]!)).toEqual([]);
    expect(after[tables.late] ?? []).toEqual([]);
    expect(after[tables.deadLetters] ?? []).toEqual([]);
    // The last windows of every partition needed the ticks, whatever the scope.
    expect(fired.rows).toBe(all.length - before.length);
    expect(fired.rows).toBeGreaterThan(0);

    // Everything fired: later ticks only move the watermark with the clock, and commit nothing.
    expect(await tick(d, 3)).toEqual({ rows: 0, commits: 0 });
    expect((await tablesOf(d.dir))[tables.rows]).toEqual(all);
  });

  if (waitsForEveryPartition) {
    it("with idleness ('hold'): the ticks fire every window partitions 0-2 passed, once", async () => {
      const d = deploy(variant(name, 'hold'));
      await deliver(d.handler, w.events, d.clock);
      expect((await publishedTables(d))[tables.rows] ?? []).toEqual([]);
      const fired = await tick(d, 12);
      // Partitions 0-2 go idle one after another, so the watermark ends at or above the lowest of
      // theirs, then holds once all are idle.
      const watermark = await committedWatermark(d.dir, variant(name, 'hold'));
      expect(watermark).toBeGreaterThanOrEqual(deliveredWatermark(w, BID_OUT_OF_ORDERNESS_MS));
      const expected = referenceUpTo(name, watermark);
      const after = await tablesOf(d.dir);
      expect(expected.length).toBeGreaterThan(0);
      expect(after[tables.rows]).toEqual(expected);
      expect(fired.rows).toBe(expected.length);
      expect(after[tables.late] ?? []).toEqual([]);
      expect(await tick(d, 3)).toEqual({ rows: 0, commits: 0 });
    });
  } else {
    it("with idleness ('hold'): keyed by the Kafka key, ticks do nothing (each partition fires on its own records)", async () => {
      const d = deploy(variant(name, 'hold'));
      await deliver(d.handler, w.events, d.clock);
      const before = await publishedTables(d);
      expect(await tick(d, 12)).toEqual({ rows: 0, commits: 0 });
      expect(await tablesOf(d.dir)).toEqual(before);
    });
  }
});

/** The job group's committed watermark, as a new processor on the same stores reads it. */
async function committedWatermark(dir: string, job: Job<unknown>): Promise<number> {
  const committed = await new CheckpointedProcessor(job, { stores: localCheckpointStores(dir) }).committed();
  expect(committed.groups).toHaveLength(1);
  return committed.groups[0]!.watermark;
}
