import { generateBids } from '../examples/nexmark/generator.ts';
import { bidTopic } from '../examples/nexmark/topic.ts';
import {
  eventBatches,
  LAMBDA_PAYLOAD_LIMIT_BYTES,
  MAX_BATCH_SIZE,
  payloadBytes,
} from '../runtime/event-source-mapping/event-builder.ts';
import type { KafkaEvent } from '../runtime/source/kafka-event.ts';

/**
 * The benchmark's input: Nexmark bids as JSON, keyed by auction, on 4 partitions, cut into
 * events as the ESM would at its limits (10,000 records, 6 MB). The `extra` field is padded so
 * that a full event of 10,000 records is close to 6 MB, the largest a Lambda invocation takes.
 */
export const BENCH_PARTITIONS = 4;
export const BENCH_EXTRA_BYTES = 200;

export interface Workload {
  readonly events: KafkaEvent[];
  readonly records: number;
  readonly meanEventMb: number;
}

export function buildWorkload(eventCount: number, seed = 7): Workload {
  const bids = generateBids({
    count: eventCount * MAX_BATCH_SIZE,
    seed,
    skew: 0.8,
    eventsPerSecond: 1_000,
    extraBytes: BENCH_EXTRA_BYTES,
  });
  const log = bidTopic(bids, BENCH_PARTITIONS);
  const events = [
    ...eventBatches(log, { batchSize: MAX_BATCH_SIZE, maxPayloadBytes: LAMBDA_PAYLOAD_LIMIT_BYTES }),
  ];
  const bytes = events.reduce((sum, event) => sum + payloadBytes(event), 0);
  return { events, records: bids.length, meanEventMb: bytes / events.length / 1024 / 1024 };
}

/**
 * The decode floor: what any consumer of these events must do at least, base64 decoding and
 * JSON.parse of every value. Returns a number derived from every value so the work cannot be
 * optimised away.
 */
export function decodeFloor(events: readonly KafkaEvent[]): number {
  let checksum = 0;
  for (const event of events) {
    for (const records of Object.values(event.records)) {
      for (const record of records) {
        const bid = JSON.parse(Buffer.from(record.value!, 'base64').toString('utf8')) as { price: number };
        checksum += bid.price;
      }
    }
  }
  return checksum;
}
