/**
 * Builders for the events the Lambda event source mapping delivers for Kafka, for tests.
 *
 * Records are described by plain items ({ topic, partition, offset, timestamp, value }); values
 * are objects encoded as base64 JSON, as a JSON producer would write them. The shapes follow
 * runtime/source/kafka-event.ts and the fixtures in examples/events.
 */
import type { KafkaEvent, KafkaEventHeader, KafkaEventRecord } from '../../runtime/source/kafka-event.ts';

export interface KafkaEventItem {
  /** @default 'events' */
  readonly topic?: string;
  /** @default 0 */
  readonly partition?: number;
  readonly offset: number;
  /** The Kafka record timestamp, epoch ms. @default 0 */
  readonly timestamp?: number;
  /** Encoded as base64 JSON; null makes a tombstone. Ignored when `rawValue` is set. */
  readonly value?: unknown;
  /** The value exactly as Lambda would deliver it (base64), e.g. bytes that are not JSON. */
  readonly rawValue?: string | null;
  /** The record key as text; encoded as base64. @default - no key */
  readonly key?: string;
  /** Header name → text value. @default - no headers */
  readonly headers?: Readonly<Record<string, string>>;
}

export const DEFAULT_TOPIC = 'events';

/** Base64 of the UTF-8 JSON text of `value`. */
export function base64Json(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64');
}

/** Base64 of UTF-8 text. */
export function base64Text(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/** One record as Lambda delivers it. */
export function kafkaRecord(item: KafkaEventItem): KafkaEventRecord {
  const headers: KafkaEventHeader[] = Object.entries(item.headers ?? {}).map(([name, text]) => ({
    [name]: [...Buffer.from(text, 'utf8')],
  }));
  let value: string | null;
  if (item.rawValue !== undefined) value = item.rawValue;
  else if (item.value === null || item.value === undefined) value = null;
  else value = base64Json(item.value);
  return {
    topic: item.topic ?? DEFAULT_TOPIC,
    partition: item.partition ?? 0,
    offset: item.offset,
    timestamp: item.timestamp ?? 0,
    timestampType: 'CREATE_TIME',
    key: item.key === undefined ? null : base64Text(item.key),
    value,
    headers,
  };
}

/**
 * Groups records under "<topic>-<partition>" as Lambda does. Records keep the order they are
 * given in; give each partition's records in offset order, as Lambda delivers them.
 */
export function groupRecords(items: readonly KafkaEventItem[]): Record<string, KafkaEventRecord[]> {
  const records: Record<string, KafkaEventRecord[]> = {};
  for (const item of items) {
    const record = kafkaRecord(item);
    const id = `${record.topic}-${record.partition}`;
    records[id] ??= [];
    records[id].push(record);
  }
  return records;
}

/** An Amazon MSK event ("aws:kafka"). */
export function mskEvent(items: readonly KafkaEventItem[]): KafkaEvent {
  return {
    eventSource: 'aws:kafka',
    eventSourceArn:
      'arn:aws:kafka:us-east-1:123456789012:cluster/floe-test/abcd1234-0123-4567-89ab-cdef01234567-1',
    bootstrapServers: 'b-1.floe-test.abcd12.c2.kafka.us-east-1.amazonaws.com:9098',
    records: groupRecords(items),
  };
}

/** A self-managed Kafka event ("SelfManagedKafka"). */
export function selfManagedEvent(items: readonly KafkaEventItem[]): KafkaEvent {
  return {
    eventSource: 'SelfManagedKafka',
    bootstrapServers: 'kafka-1.example.internal:9092',
    records: groupRecords(items),
  };
}

/**
 * A topic's partitions as append-only logs: `append` gives each new record the partition's next
 * offset, so a test can cut the log into batches (and replay them) like the event source mapping.
 */
export class KafkaLog {
  private readonly next = new Map<number, number>();
  /** Every item appended so far, in append order. */
  readonly items: KafkaEventItem[] = [];

  constructor(readonly topic: string = DEFAULT_TOPIC) {}

  /** Appends records to one partition and returns them as items. */
  append(
    partition: number,
    records: readonly { readonly value: unknown; readonly timestamp?: number; readonly key?: string }[],
  ): KafkaEventItem[] {
    let offset = this.next.get(partition) ?? 0;
    const out = records.map((record) => ({ topic: this.topic, partition, offset: offset++, ...record }));
    this.next.set(partition, offset);
    this.items.push(...out);
    return out;
  }
}
