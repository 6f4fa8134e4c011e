/**
 * Partition logs (docs/design.md, "Partition logs"): jobs whose windows merge partitions, with
 * each partition appending to its own log and the job group consuming them all. The scenarios
 * live in test/support/log-scenarios.ts and run on the AWS stores too
 * (adapters/aws/partition-logs.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { localCheckpointStores } from '../../adapters/local/run-directory.ts';
import type { ExampleName } from '../../examples/index.ts';
import { processorFor, tablesOf, tempRunDir, workload } from '../../test/support/checkpoint-runs.ts';
import {
  appendDuringConsume,
  consumeInterval,
  consumersRacing,
  crashedConsumerLeaseLapses,
  directConsume,
  directConsumeCutShort,
  LOGS,
  logCleanup,
  partitionsInParallel,
  redeliveredToLogs,
} from '../../test/support/log-scenarios.ts';
import { localStoreFactory } from '../../test/support/store-locations.ts';
import type { KafkaEventRecord } from '../source/kafka-event.ts';
import type { CheckpointStores } from '../stores/checkpoint-stores.ts';
import { meterRequests } from '../stores/request-meter.ts';
import { logSegmentPrefix, newAttemptId } from './layout.ts';
import { cleanupLogSegments } from './log-cleanup.ts';
import { appendToLog, listLogHeads, readSegment } from './partition-log.ts';

const JOB_GROUP_EXAMPLES: readonly ExampleName[] = ['channel-revenue', 'max-price', 'bidder-sessions'];

describe('partition logs', () => {
  it.each(JOB_GROUP_EXAMPLES)(
    '%s: the same rows, watermarks and tables as committing every batch through the job group',
    async (name) => {
      const w = workload({ maxDisorderMs: 20_000, malformedAt: 60 });
      const direct = await localStoreFactory();
      const logs = await localStoreFactory();
      const a = processorFor(name, direct.open(), w);
      const b = processorFor(name, logs.open(), w, LOGS);
      for (const event of w.events) {
        const direct = await a.process(event);
        const logged = await b.process(event);
        // What the handler logs and returns for the batch: the same rows and job watermark.
        expect(logged.rows).toEqual(direct.rows);
        expect(logged.metrics.watermark).toBe(direct.metrics.watermark);
        expect(logged.metrics.records).toBe(direct.metrics.records);
      }
      const drainedDirect = await a.drain();
      const drainedLogs = await b.drain();
      expect(drainedLogs.metrics.watermark).toBe(drainedDirect.metrics.watermark);
      expect(drainedLogs.rows).toEqual(drainedDirect.rows);
      // A second drain has nothing left to do, and says where the watermark is.
      expect((await b.drain()).metrics.watermark).toBe((await a.drain()).metrics.watermark);
      expect(await tablesOf(logs.open())).toEqual(await tablesOf(direct.open()));
    },
  );

  it.each(JOB_GROUP_EXAMPLES)(
    '%s: one process per partition at once: no append waits for or redoes another partition, rows exact',
    async (name) => {
      await partitionsInParallel(name, localStoreFactory);
    },
  );

  it.each(JOB_GROUP_EXAMPLES)(
    '%s: a process that finds the consumer lease free consumes its batch directly, writing no log',
    async (name) => {
      await directConsume(name, localStoreFactory);
    },
  );

  it('a direct consume that cannot take all the logs hold in one round logs its batch instead: nothing skipped', async () => {
    await directConsumeCutShort('max-price', localStoreFactory);
  });

  it('a redelivered batch appends nothing and changes no table', async () => {
    await redeliveredToLogs('channel-revenue', localStoreFactory);
  });

  it.each(['max-price', 'bidder-sessions'] as const)(
    '%s: two consumers racing: one commit lands, the other reloads and finds the records consumed',
    async (name) => {
      await consumersRacing(name, localStoreFactory);
    },
  );

  it('a partition appending while another process consumes is consumed before that process returns', async () => {
    await appendDuringConsume('channel-revenue', localStoreFactory);
  });

  it('a consumer that crashed holding the lease: consumption resumes when the lease lapses', async () => {
    await crashedConsumerLeaseLapses('max-price', localStoreFactory);
  });

  it('a consume interval: fewer job group commits than batches, the rest consumed by the next tick', async () => {
    await consumeInterval('max-price', localStoreFactory);
  });

  it('cleanup deletes consumed segments and old orphans, and keeps what is not consumed', async () => {
    await logCleanup('max-price', localStoreFactory);
  });
});

describe('appendToLog', () => {
  const JOB = 'append-test';
  const records = (first: number, last: number): KafkaEventRecord[] =>
    Object.values(workload({ count: 60, partitions: 1, batchSize: 60 }).events[0]!.records)
      .flat()
      .filter((r) => r.offset >= first && r.offset <= last);
  /** Appends offsets first..last of partition 0, nothing consumed, as an attempt started at `at`. */
  const append = (stores: CheckpointStores, first: number, last: number, at: number) =>
    appendToLog(stores.heads, stores.checkpoints, JOB, records(first, last), -1, newAttemptId(at));

  it('writes the segment while it reads the log head: two round trips, the head write last', async () => {
    const stores = localCheckpointStores(tempRunDir());
    await append(stores, 0, 9, 1_000);
    const meter = meterRequests(stores);
    const appended = await append(meter.stores, 10, 19, 2_000);
    expect(appended.appended).toBe(10);
    const counts = meter.take();
    expect(counts.requests).toBe(3);
    expect(counts.roundTrips).toBe(2);
  });

  it('a batch the log holds in part: only the new records are listed, and the segment written meanwhile goes at the next cleanup', async () => {
    const stores = localCheckpointStores(tempRunDir());
    await append(stores, 0, 9, 1_000);
    const again = await append(stores, 5, 14, 2_000);
    expect([again.skipped, again.appended]).toEqual([5, 5]);
    const [head] = await listLogHeads(stores.heads, JOB);
    expect(head!.value.segments.map((s) => [s.first, s.last])).toEqual([
      [0, 9],
      [10, 14],
    ]);
    expect(await stores.checkpoints.list(logSegmentPrefix(JOB))).toHaveLength(3);
    // Nothing consumed yet: cleanup deletes only the segment no head lists and the head has passed.
    await cleanupLogSegments(stores.checkpoints, JOB, [head!], { consumed: () => -1 });
    const left = await stores.checkpoints.list(logSegmentPrefix(JOB));
    expect(left.sort()).toEqual(head!.value.segments.map((s) => s.key).sort());
    // Every record once, in offset order, from the listed segments.
    const read = (
      await Promise.all(head!.value.segments.map((s) => readSegment(stores.checkpoints, s)))
    ).flat();
    expect(read.map((r) => r.offset)).toEqual(records(0, 14).map((r) => r.offset));
  });

  it('a batch the log holds entirely appends nothing', async () => {
    const stores = localCheckpointStores(tempRunDir());
    await append(stores, 0, 9, 1_000);
    const again = await append(stores, 0, 9, 2_000);
    expect([again.skipped, again.appended, again.segment]).toEqual([10, 0, undefined]);
    const [head] = await listLogHeads(stores.heads, JOB);
    expect(head!.value.epoch).toBe(1);
  });
});
