/**
 * A row that does not fit its table is the job's mistake: the processor stops at once (no
 * retries), stages and commits nothing of the batch, and the error names the table, the column,
 * the value and where the row came from.
 */
import { describe, expect, it } from 'vitest';
import { localCheckpointStores, runDirectory } from '../../adapters/local/run-directory.ts';
import { tempRunDir } from '../../test/support/checkpoint-runs.ts';
import { faultyStores } from '../../test/support/faulty-stores.ts';
import { mskEvent } from '../../test/support/kafka-events.ts';
import { RowTypeError } from '../errors.ts';
import { count, job, json, TumblingEventTimeWindows, table, WatermarkStrategy } from '../index.ts';
import type { Job } from '../job/job.ts';
import { CheckpointedProcessor } from './checkpointed-processor.ts';
import { listLogHeads } from './partition-log.ts';

interface Click {
  readonly user: string;
  readonly ts: number;
}

const clicks = table('rowcheck.clicks', { user: 'long', window_start: 'timestamptz', n: 'long' });

/** Counts clicks per user in 10 s windows, but writes the user (a string) into a `long` column. */
function clicksJob(user: (u: string) => unknown): Job<unknown> {
  return job('row-check')
    .fromKafka({ value: json<Click>() })
    .assignTimestampsAndWatermarks(
      WatermarkStrategy.forMonotonousTimestamps<Click>().withTimestampAssigner((c) => c.ts),
    )
    .keyBy((c) => c.user)
    .window(TumblingEventTimeWindows.of(10_000))
    .aggregate(count(), (u, window, n) => ({ user: user(u) as number, window_start: window.start, n }))
    .sinkTo(clicks) as unknown as Job<unknown>;
}

// Partition 0 fires user "ann"'s first window at offset 2 (ts 25 s); partition 1 only feeds it.
const event = mskEvent([
  { topic: 'clicks', partition: 0, offset: 0, value: { user: 'ann', ts: 1_000 } },
  { topic: 'clicks', partition: 0, offset: 1, value: { user: 'ann', ts: 2_000 } },
  { topic: 'clicks', partition: 0, offset: 2, value: { user: 'ann', ts: 25_000 } },
  { topic: 'clicks', partition: 1, offset: 7, value: { user: 'bob', ts: 26_000 } },
]);

describe('a row that does not fit its table', () => {
  it('stops the batch at once with the table, column, value and coordinates, and stages nothing', async () => {
    const dir = tempRunDir('floe-row-check-');
    const faulty = faultyStores(localCheckpointStores(dir));
    const processor = new CheckpointedProcessor(
      clicksJob((u) => u),
      { stores: faulty.stores },
    );

    const error = await processor.process(event).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RowTypeError);
    expect(error).toMatchObject({
      job: 'row-check',
      table: 'rowcheck.clicks',
      column: 'user',
      columnType: 'long',
      value: 'the string "ann"',
      source: {
        kind: 'window',
        key: '"ann"',
        windowStart: 0,
        windowEnd: 10_000,
        batch: [
          { topic: 'clicks', partition: 0, firstOffset: 0, lastOffset: 2 },
          { topic: 'clicks', partition: 1, firstOffset: 7, lastOffset: 7 },
        ],
      },
    });
    expect((error as Error).message).toBe(
      'Job row-check emitted a row that does not fit table rowcheck.clicks: column user (long) cannot hold the string "ann"; it accepts a safe integer number (|v| <= 2^53 - 1) or a 64-bit bigint. The row came from window [1970-01-01T00:00:00.000Z, 1970-01-01T00:00:10.000Z) of key "ann", fired by the batch clicks-0 offsets 0..2, clicks-1 offsets 7..7. Nothing of the batch was committed; fix the job (or the table\'s column types) and run it again.',
    );
    // One try: the head read and created (its lineage), nothing staged, no head written after.
    const writes = faulty.log.filter((c) => c.op !== 'get' && c.op !== 'list');
    expect(writes.map((c) => `${c.store}.${c.op}`)).toEqual(['heads.put']);
    expect((await processor.committed()).groups).toEqual([]);
    expect(await runDirectory(dir).catalog.listTables()).toEqual([]);

    // The corrected job commits the same batch in the same stores.
    const fixed = new CheckpointedProcessor(
      clicksJob((u) => u.length),
      { stores: localCheckpointStores(dir) },
    );
    const outcome = await fixed.process(event);
    expect(outcome.commits).toHaveLength(1);
    expect(outcome.rows.map((r) => r.row)).toEqual([{ user: 3, window_start: 0, n: 2 }]);
  });

  it('with partition logs, a batch whose direct consume fails on the job error is logged first: the fixed job consumes it', async () => {
    const dir = tempRunDir('floe-row-check-');
    const stores = localCheckpointStores(dir);
    const bad = new CheckpointedProcessor(
      clicksJob((u) => u),
      { stores, partitionLogs: true },
    );

    await expect(bad.process(event)).rejects.toBeInstanceOf(RowTypeError);
    // The lease was free, so the batch was to be consumed directly and is in no log yet: after the
    // error it is appended, so that Lambda's retries ending at the failure destination lose nothing.
    const logged = (await listLogHeads(stores.heads, 'row-check')).flatMap((l) =>
      l.value.segments.map((s) => [s.first, s.last]),
    );
    expect(logged.sort()).toEqual([
      [0, 2],
      [7, 7],
    ]);

    const fixed = new CheckpointedProcessor(
      clicksJob((u) => u.length),
      { stores, partitionLogs: true },
    );
    const drained = await fixed.drain();
    expect(drained.rows.map((r) => r.row)).toEqual([
      { user: 3, window_start: 0, n: 2 },
      { user: 3, window_start: 20_000, n: 1 },
      { user: 3, window_start: 20_000, n: 1 },
    ]);
  });

  it('names the end of the input when a drain fires the window', async () => {
    const dir = tempRunDir('floe-row-check-');
    const processor = new CheckpointedProcessor(
      clicksJob((u) => (u === 'bob' ? Number.NaN : 1)),
      {
        stores: localCheckpointStores(dir),
      },
    );
    await processor.process(event);

    const error = await processor.drain().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RowTypeError);
    expect((error as Error).message).toMatch(
      /column user \(long\) cannot hold number NaN; .* The row came from window \[1970-01-01T00:00:20\.000Z, 1970-01-01T00:00:30\.000Z\) of key "bob", fired by the end of the input \(drain\)\./,
    );
  });
});
