/**
 * A topic with a silent partition, for the ticker's tests (runtime/checkpoint/periodic-watermarks,
 * test/ticker): generated Nexmark bids on 4 partitions by Kafka's partitioner, of which partition
 * 3's records are never delivered; a wall clock the test moves by hand; delivery of the events
 * a few seconds of that clock apart; and idleness variants of the example jobs.
 */
import { expect } from 'vitest';
import type { Bid } from '../../examples/nexmark/bid.ts';
import { generateBids } from '../../examples/nexmark/generator.ts';
import { bidRecord } from '../../examples/nexmark/topic.ts';
import { eventBatches, produceToTopic } from '../../runtime/event-source-mapping/event-builder.ts';
import { Job } from '../../runtime/job/job.ts';
import type { KafkaEvent } from '../../runtime/source/kafka-event.ts';
import { type IdleTopicWatermark, WatermarkStrategy } from '../../runtime/time/watermark-strategy.ts';

export const SILENT_TOPIC = 'bids';
/** The partition whose records are never delivered. */
export const SILENT = 3;
/** Wall-clock time between two deliveries in {@link deliver}. */
export const DELIVERY_GAP_MS = 3_000;

export interface SilentPartitionOptions {
  readonly seed?: number;
  /** Bids produced, on all 4 partitions (partition 3's are then left out). @default 600 */
  readonly count?: number;
  /** Records per event at most. @default 30 */
  readonly batchSize?: number;
}

/**
 * Bids (2 minutes of event time by default) on 4 partitions; partition 3's records are never
 * delivered. The events interleave partitions 0-2 round-robin, as the event source mapping would.
 */
export function silentPartitionWorkload(options: SilentPartitionOptions = {}) {
  const bids = generateBids({
    seed: options.seed ?? 5,
    count: options.count ?? 600,
    eventsPerSecond: 5,
    auctions: 30,
    maxDisorderMs: 4_000,
  });
  const log = produceToTopic(bids.map(bidRecord), { topic: SILENT_TOPIC, partitions: 4 });
  const delivered = {
    topic: SILENT_TOPIC,
    partitions: log.partitions.map((p, i) => (i === SILENT ? [] : p)),
  };
  const events = [
    ...eventBatches(delivered, { batchSize: options.batchSize ?? 30, interleave: 'round-robin' }),
  ];
  const decode = (value: string | null | undefined) =>
    JSON.parse(Buffer.from(value ?? '', 'base64').toString('utf8')) as Bid;
  const byPartition = delivered.partitions.map((records) => records.map((r) => decode(r.value)));
  const partitions = log.partitions.map((_, partition) => ({ topic: SILENT_TOPIC, partition }));
  expect(log.partitions[SILENT]!.length, 'records on the silent partition').toBeGreaterThan(0);
  // What the silent partition holds, for a test that lets it come back late.
  const silentRecords = log.partitions[SILENT]!;
  return {
    events,
    byPartition,
    deliveredBids: byPartition.flat(),
    partitions,
    silentRecords,
    silentBids: silentRecords.map((r) => decode(r.value)),
  };
}

export type SilentPartitionWorkload = ReturnType<typeof silentPartitionWorkload>;

/** The watermark partitions 0-2 reach: the smallest of their largest timestamps, minus the bound, minus 1. */
export function deliveredWatermark(w: SilentPartitionWorkload, outOfOrdernessMs: number): number {
  const maxima = w.byPartition
    .filter((_, i) => i !== SILENT)
    .map((bids) => Math.max(...bids.map((b) => b.dateTime)));
  return Math.min(...maxima) - outOfOrdernessMs - 1;
}

/** A wall clock the test moves by hand, starting when the bids end (as if they were live). */
export function manualClock(w: SilentPartitionWorkload): { now: number } {
  return { now: Math.max(...w.deliveredBids.map((b) => b.dateTime)) };
}

/**
 * Delivers every event, {@link DELIVERY_GAP_MS} of wall clock apart, to a processor's `process` or
 * a Lambda handler. With the default workload that is 45 s of traffic: inside a 60 s idleness
 * timeout, so no batch makes partition 3 idle, and it goes idle only on ticks after the traffic.
 */
export async function deliver(
  process: (event: KafkaEvent) => Promise<unknown>,
  events: readonly KafkaEvent[],
  clock: { now: number },
): Promise<void> {
  for (const event of events) {
    clock.now += DELIVERY_GAP_MS;
    await process(event);
  }
}

/**
 * The same job with an idleness timeout: its watermark strategy (bound, timestamp assigner) with
 * `withIdleness(idleMs, { idleTopicWatermark })`, everything else unchanged.
 */
export function withIdlenessVariant<Row>(
  job: Job<Row>,
  idleMs: number,
  idleTopicWatermark: IdleTopicWatermark,
): Job<Row> {
  const { watermarks } = job.plan;
  let strategy = WatermarkStrategy.forBoundedOutOfOrderness<unknown>(watermarks.outOfOrdernessMs);
  if (watermarks.timestampAssigner !== undefined)
    strategy = strategy.withTimestampAssigner(watermarks.timestampAssigner);
  strategy = strategy.withIdleness(idleMs, { idleTopicWatermark });
  return Job.fromPlan<Row>({
    ...job.plan,
    watermarks: {
      outOfOrdernessMs: strategy.outOfOrdernessMs,
      timestampAssigner: strategy.timestampAssigner,
      idlenessMs: strategy.idlenessMs,
      idleTopicWatermark: strategy.idleTopicWatermark,
      description: strategy.toString(),
    },
  });
}
