/**
 * The ticker's batch (CheckpointedProcessor.emitPeriodicWatermarks): a 4-partition topic whose
 * partition 3 delivers nothing. Without ticks its windows wait; with idleness and ticks after the
 * timeout, the windows the other partitions' watermarks passed fire exactly once, as the
 * brute-force reference says; a tick with nothing to do commits nothing; a crash inside a tick's
 * commit, then a retry, gives the same tables.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { localCheckpointStores } from '../../adapters/local/run-directory.ts';
import { BID_OUT_OF_ORDERNESS_MS, type Bid } from '../../examples/nexmark/bid.ts';
import { duplicates, tablesOf, tempRunDir } from '../../test/support/checkpoint-runs.ts';
import { faultyStores } from '../../test/support/faulty-stores.ts';
import { canonicalRows } from '../../test/support/iceberg-tables.ts';
import { alignedWindows, perWindowAndKey } from '../../test/support/nexmark-reference.ts';
import {
  DELIVERY_GAP_MS,
  deliver,
  deliveredWatermark,
  manualClock,
  type SilentPartitionWorkload,
  silentPartitionWorkload,
} from '../../test/support/silent-partition.ts';
import { kafkaEvent } from '../event-source-mapping/event-builder.ts';
import {
  type IdleTopicWatermark,
  type Job,
  job,
  json,
  max,
  TumblingEventTimeWindows,
  table,
  WatermarkStrategy,
} from '../index.ts';
import type { CheckpointStores } from '../stores/checkpoint-stores.ts';
import { CheckpointedProcessor } from './checkpointed-processor.ts';

const IDLE_MS = 60_000;

const maxPrice = table('nexmark.idle_max_price', {
  window_start: 'timestamptz',
  window_end: 'timestamptz',
  max_price: 'long',
});

/** The max-price example (windowAll: windows wait for every partition) with an idleness timeout. */
function idleJob(idleTopicWatermark: IdleTopicWatermark): Job<unknown> {
  return job('idle-max-price')
    .fromKafka({ value: json<Bid>() })
    .assignTimestampsAndWatermarks(
      WatermarkStrategy.forBoundedOutOfOrderness<Bid>(BID_OUT_OF_ORDERNESS_MS)
        .withTimestampAssigner((bid) => bid.dateTime)
        .withIdleness(IDLE_MS, { idleTopicWatermark }),
    )
    .windowAll(TumblingEventTimeWindows.of(10_000))
    .aggregate(
      max((bid: Bid) => bid.price),
      (window, price) => ({ window_start: window.start, window_end: window.end, max_price: price }),
    )
    .sinkTo(maxPrice) as Job<unknown>;
}

type Workload = SilentPartitionWorkload;

/** The brute-force rows for these bids, windows ending at or before the watermark only. */
function reference(bids: readonly Bid[], watermark: number): string[] {
  const rows = perWindowAndKey(
    bids,
    (min, maxTs) => alignedWindows(min, maxTs, 10_000, 10_000),
    () => 'all',
    (_all, start, end, group) => ({
      window_start: start,
      window_end: end,
      max_price: Math.max(...group.map((b) => b.price)),
    }),
  );
  return canonicalRows(rows.filter((r) => Number(r.window_end) - 1 <= watermark));
}

/** Whether the processors of the current describe block take batches through partition logs. */
let partitionLogs = false;

function processor(
  jobDef: Job<unknown>,
  stores: CheckpointStores,
  w: Workload,
  clock: { now: number },
  maxAttempts?: number,
) {
  return new CheckpointedProcessor(jobDef, {
    stores,
    partitions: w.partitions,
    clock: () => clock.now,
    partitionLogs,
    ...(maxAttempts === undefined ? {} : { maxAttempts }),
  });
}

const rowsTable = 'nexmark.idle_max_price';
const lateTable = 'nexmark.idle_max_price_late';

describe.each([
  { commit: 'through the job group', logs: false },
  { commit: 'through partition logs', logs: true },
])('ticks: windows fire while a partition is silent, batches committed $commit', ({ logs }) => {
  const w = silentPartitionWorkload();
  beforeEach(() => {
    partitionLogs = logs;
  });

  it('without ticks the windows wait for the silent partition', async () => {
    const dir = tempRunDir();
    const clock = manualClock(w);
    const p = processor(idleJob('hold'), localCheckpointStores(dir), w, clock);
    await deliver((e) => p.process(e), w.events, clock);
    clock.now += 10 * IDLE_MS;
    expect((await tablesOf(dir))[rowsTable] ?? []).toEqual([]);
    expect((await p.committed()).groups[0]!.watermark).toBe(Number.NEGATIVE_INFINITY);
  });

  it('with idleness and ticks after the timeout, what the other partitions passed fires exactly once', async () => {
    const dir = tempRunDir();
    const clock = manualClock(w);
    const p = processor(idleJob('hold'), localCheckpointStores(dir), w, clock);
    await deliver((e) => p.process(e), w.events, clock);

    // Right after the traffic: nothing to do, nothing committed.
    clock.now += 1_000;
    const early = await p.emitPeriodicWatermarks();
    expect(early.commits).toEqual([]);

    // Ticks every 15 s for 3 minutes. The downtime rule counts at most half the timeout since the
    // last commit, so the first ticks past it record processing time; then partition 3 goes idle
    // (it has been known since the first batch), the job watermark becomes partitions 0-2's, and
    // later all go idle and the watermark holds.
    let fired = 0;
    for (let i = 0; i < 12; i++) {
      clock.now += 15_000;
      const outcome = await p.emitPeriodicWatermarks();
      fired += outcome.metrics.rows;
    }
    // Partitions 0-2 go idle one after another (their last batches are seconds apart), so the
    // watermark ends at or above the lowest of theirs: every window they all passed has fired.
    const committed = await p.committed();
    const watermark = committed.groups[0]!.watermark;
    expect(watermark).toBeGreaterThanOrEqual(deliveredWatermark(w, BID_OUT_OF_ORDERNESS_MS));
    const tables = await tablesOf(dir);
    const expected = reference(w.deliveredBids, watermark);
    expect(expected.length).toBeGreaterThan(3);
    expect(tables[rowsTable]).toEqual(expected);
    expect(fired).toBe(expected.length);
    expect(duplicates(tables[rowsTable]!)).toEqual([]);
    expect(tables[lateTable] ?? []).toEqual([]);

    // Every partition is idle now and the watermark holds: a tick has nothing to do.
    const epoch = committed.groups[0]!.epoch;
    for (let i = 0; i < 3; i++) {
      clock.now += 15_000;
      expect((await p.emitPeriodicWatermarks()).commits).toEqual([]);
    }
    expect((await p.committed()).groups[0]!.epoch).toBe(epoch);
  });

  it("with idleTopicWatermark 'processing-time', every window of the delivered records fires once the topic is idle", async () => {
    const dir = tempRunDir();
    const clock = manualClock(w);
    const p = processor(idleJob('processing-time'), localCheckpointStores(dir), w, clock);
    await deliver((e) => p.process(e), w.events, clock);
    for (let i = 0; i < 16; i++) {
      clock.now += 15_000;
      await p.emitPeriodicWatermarks();
    }
    const tables = await tablesOf(dir);
    expect(tables[rowsTable]).toEqual(reference(w.deliveredBids, Number.POSITIVE_INFINITY));
    expect(tables[lateTable] ?? []).toEqual([]);
    const maxEnd = Math.max(...tables[rowsTable]!.map((row) => Number(JSON.parse(row).window_end)));
    const committed = await p.committed();
    expect(committed.groups[0]!.watermark).toBeGreaterThanOrEqual(maxEnd - 1);
    // Once everything fired, ticks move the watermark without firing: they commit nothing.
    for (let i = 0; i < 3; i++) {
      clock.now += 15_000;
      const outcome = await p.emitPeriodicWatermarks();
      expect(outcome.commits).toEqual([]);
      expect(outcome.metrics.watermark).toBe(clock.now - BID_OUT_OF_ORDERNESS_MS - 1);
    }
    expect((await p.committed()).groups[0]!.epoch).toBe(committed.groups[0]!.epoch);
  });

  it('a tick changes nothing for a job without idleness (with partition logs it looks for batches left in them)', async () => {
    const dir = tempRunDir();
    const clock = manualClock(w);
    const noIdle = job('no-idle-max-price')
      .fromKafka({ value: json<Bid>() })
      .assignTimestampsAndWatermarks(
        WatermarkStrategy.forBoundedOutOfOrderness<Bid>(BID_OUT_OF_ORDERNESS_MS).withTimestampAssigner(
          (bid) => bid.dateTime,
        ),
      )
      .windowAll(TumblingEventTimeWindows.of(10_000))
      .aggregate(
        max((bid: Bid) => bid.price),
        (window, price) => ({
          window_start: window.start,
          window_end: window.end,
          max_price: price,
        }),
      )
      .sinkTo(maxPrice) as Job<unknown>;
    const p = processor(noIdle, localCheckpointStores(dir), w, clock);
    await deliver((e) => p.process(e), w.events, clock);
    expect(p.ticksMatter()).toBe(partitionLogs);
    clock.now += 10 * IDLE_MS;
    expect((await p.emitPeriodicWatermarks()).commits).toEqual([]);
  });

  it('the silent partition comes back after its windows fired: those records are late, the watermark holds, rows once', async () => {
    const dir = tempRunDir();
    const clock = manualClock(w);
    const p = processor(idleJob('hold'), localCheckpointStores(dir), w, clock);
    await deliver((e) => p.process(e), w.events, clock);
    for (let i = 0; i < 12; i++) {
      clock.now += 15_000;
      await p.emitPeriodicWatermarks();
    }
    const before = (await p.committed()).groups[0]!.watermark;
    expect(before).toBeGreaterThan(Number.NEGATIVE_INFINITY);

    clock.now += DELIVERY_GAP_MS;
    await p.process(kafkaEvent(w.silentRecords));
    expect((await p.committed()).groups[0]!.watermark).toBeGreaterThanOrEqual(before);
    await p.drain();

    const tables = await tablesOf(dir);
    const late = (tables[lateTable] ?? []).map(
      (row) => JSON.parse(row) as { element: string; watermark: number },
    );
    // Late: exactly the returning records whose 10 s window had fired (its end - 1 <= the watermark).
    const closed = w.silentBids.filter(
      (b) => Math.floor(b.dateTime / 10_000) * 10_000 + 10_000 - 1 <= before,
    );
    expect(closed.length).toBeGreaterThan(0);
    expect(late.map((r) => r.element).sort()).toEqual(closed.map((b) => JSON.stringify(b)).sort());
    expect(late.every((r) => r.watermark === before)).toBe(true);
    // Every other record counted once: the windows it fell in fired with it.
    const lateSet = new Set(closed);
    const counted = [...w.deliveredBids, ...w.silentBids.filter((b) => !lateSet.has(b))];
    expect(tables[rowsTable]).toEqual(reference(counted, Number.POSITIVE_INFINITY));
    expect(duplicates(tables[rowsTable]!)).toEqual([]);
  });

  it('a crash inside the firing tick, then a retry, gives the same tables', async () => {
    // The clean run, with the calls of each tick numbered.
    const run = async (crashBefore?: number) => {
      const dir = tempRunDir();
      const clock = manualClock(w);
      const faulty = faultyStores(localCheckpointStores(dir), {
        serial: true,
        ...(crashBefore === undefined ? {} : { fault: { crashBefore } }),
      });
      const p = processor(idleJob('hold'), faulty.stores, w, clock, 1);
      await deliver((e) => p.process(e), w.events, clock);
      const ticks: { from: number; to: number; rows: number }[] = [];
      let crashed = false;
      for (let i = 0; i < 12 && !crashed; i++) {
        clock.now += 15_000;
        const from = faulty.calls;
        try {
          const outcome = await p.emitPeriodicWatermarks();
          ticks.push({ from, to: faulty.calls, rows: outcome.metrics.rows });
        } catch (error) {
          expect(String(error)).toMatch(/simulated crash|the process is dead/);
          crashed = true;
          await faulty.settled();
          // A new process (the next scheduled tick, or Lambda's retry) at the same clock.
          const retry = processor(idleJob('hold'), localCheckpointStores(dir), w, clock);
          await retry.emitPeriodicWatermarks();
          for (let j = i + 1; j < 12; j++) {
            clock.now += 15_000;
            await retry.emitPeriodicWatermarks();
          }
        }
      }
      return { dir, ticks, crashed };
    };
    const clean = await run();
    const firing = clean.ticks.find((t) => t.rows > 0)!;
    expect(firing).toBeDefined();
    expect(firing.to - firing.from).toBeGreaterThan(5);
    const cleanTables = await tablesOf(clean.dir);
    // Every call of the firing tick, from its head read to its last publish.
    for (let k = firing.from + 1; k <= firing.to; k++) {
      const crashed = await run(k);
      expect(crashed.crashed, `crash before call ${k}`).toBe(true);
      expect(await tablesOf(crashed.dir), `crash before call ${k}`).toEqual(cleanTables);
    }
  });
});
