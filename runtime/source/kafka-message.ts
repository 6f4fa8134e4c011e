import type { KafkaEventHeader, KafkaEventRecord } from './kafka-event.ts';

/** One Kafka header, decoded from the event's byte array. */
export interface KafkaHeader {
  readonly key: string;
  readonly value: Buffer;
}

/**
 * A whole Kafka record with its decoded key and value, for jobs that need more than the value
 * (`fromKafkaRecords`): the key, headers, coordinates or the Kafka timestamp.
 */
export interface KafkaMessage<K, V> {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** The Kafka record timestamp, epoch ms. */
  readonly timestamp: number;
  /** null when the record has no key. */
  readonly key: K | null;
  readonly value: V;
  /** In the order the producer wrote them; a name may repeat. */
  readonly headers: readonly KafkaHeader[];
}

export function decodeHeaders(headers: readonly KafkaEventHeader[] | undefined): KafkaHeader[] {
  const out: KafkaHeader[] = [];
  for (const header of headers ?? []) {
    for (const [key, bytes] of Object.entries(header)) out.push({ key, value: Buffer.from(bytes) });
  }
  return out;
}

export function kafkaMessage<K, V>(record: KafkaEventRecord, key: K | null, value: V): KafkaMessage<K, V> {
  return {
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    timestamp: record.timestamp,
    key,
    value,
    headers: decodeHeaders(record.headers),
  };
}
