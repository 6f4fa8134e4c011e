/**
 * Builds the events the Lambda event source mapping (ESM) delivers for Kafka, from records a
 * producer would send: the local runner, the benchmark and the tests feed the engine exactly
 * what Lambda would.
 *
 * `produceToTopic` places records on partitions with Kafka's default partitioner and gives each
 * partition offsets from 0. `eventBatches` then cuts the partitions into events as the ESM
 * delivers them: at most `batchSize` records and `maxPayloadBytes` of JSON an event, each
 * partition's records in offset order across events, one event possibly mixing partitions.
 * Shapes follow runtime/source/kafka-event.ts.
 */
import { FloeConfigError, FloeError } from '../errors.ts';
import { mulberry32 } from '../seeded-random.ts';
import {
  type KafkaEvent,
  type KafkaEventHeader,
  type KafkaEventRecord,
  LAMBDA_PAYLOAD_LIMIT_BYTES,
} from '../source/kafka-event.ts';
import { defaultPartitioner, type Partitioner, type RecordKey } from './partitioner.ts';

export { LAMBDA_PAYLOAD_LIMIT_BYTES } from '../source/kafka-event.ts';

/** The ESM's default BatchSize for Kafka. */
export const DEFAULT_BATCH_SIZE = 100;

/** The largest BatchSize the ESM accepts for Kafka. */
export const MAX_BATCH_SIZE = 10_000;

/** A record as a producer sends it. */
export interface ProducerRecord {
  /**
   * The key as UTF-8 text or bytes; it picks the partition.
   * @default - no key: the record is placed round-robin and delivered without a key
   */
  readonly key?: RecordKey;
  /** The value as UTF-8 text or bytes; null is a tombstone. */
  readonly value: string | Uint8Array | null;
  /** The record's CREATE_TIME timestamp, epoch ms. */
  readonly timestamp: number;
  /**
   * Headers, name → UTF-8 text or bytes.
   * @default - no headers
   */
  readonly headers?: Readonly<Record<string, string | Uint8Array>>;
  /**
   * Sends the record to this partition, whatever its key (as Kafka's ProducerRecord allows).
   * @default - chosen by the partitioner
   */
  readonly partition?: number;
}

export interface TopicOptions {
  readonly topic: string;
  /** The number of partitions, at least 1. */
  readonly partitions: number;
  /**
   * Chooses each record's partition from its key.
   * @default - Kafka's default partitioner (murmur2 of the key; round-robin without a key)
   */
  readonly partitioner?: Partitioner;
}

/** A topic as the ESM reads it: for each partition, its records in offset order from offset 0. */
export interface TopicLog {
  readonly topic: string;
  /** Index i holds partition i. */
  readonly partitions: readonly (readonly KafkaEventRecord[])[];
}

/** Which cluster the events say they come from. */
export type EventSource =
  | {
      readonly type: 'msk';
      /** @default - an example cluster ARN in us-east-1 */
      readonly clusterArn?: string;
      /** Comma-separated broker addresses. @default - example MSK brokers */
      readonly bootstrapServers?: string;
    }
  | {
      readonly type: 'self-managed';
      /** Comma-separated broker addresses. @default - example brokers on port 9092 */
      readonly bootstrapServers?: string;
    };

/**
 * How an event takes records from several partitions:
 * - `round-robin`: each partition in turn gives a fair share of the batch (a batch mixes them);
 * - `sequential`: the lowest partition with records left fills the batch first;
 * - `{ seed }`: random partitions give random runs, reproducible for a seed.
 */
export type Interleave = 'round-robin' | 'sequential' | { readonly seed: number };

export interface BatchingOptions {
  /**
   * The most records an event holds (the ESM's BatchSize), 1 to 10,000.
   * @default 100
   */
  readonly batchSize?: number;
  /**
   * The most bytes of an event's JSON. A single record bigger than that is an error, or with
   * `oversized: 'alone'` an event of its own.
   * @default 6 MB (LAMBDA_PAYLOAD_LIMIT_BYTES)
   */
  readonly maxPayloadBytes?: number;
  /**
   * What to do with a record too big for any event:
   * - `throw`: an error, as for a producer's record the ESM could never deliver;
   * - `alone`: deliver it in an event of its own, over the limit. The engine makes a record over
   *   Lambda's limit a dead letter (stage `oversized`) and commits its offset with the batch, so
   *   a local run keeps moving where Lambda would be stuck.
   * @default 'throw'
   */
  readonly oversized?: 'throw' | 'alone';
  /** @default 'round-robin' */
  readonly interleave?: Interleave;
  /** @default { type: 'msk' } */
  readonly source?: EventSource;
}

const EXAMPLE_CLUSTER_ARN =
  'arn:aws:kafka:us-east-1:123456789012:cluster/floe-local/abcd1234-0123-4567-89ab-cdef01234567-1';
const EXAMPLE_MSK_BROKERS =
  'b-1.floe-local.abcd12.c2.kafka.us-east-1.amazonaws.com:9098,b-2.floe-local.abcd12.c2.kafka.us-east-1.amazonaws.com:9098';
const EXAMPLE_BROKERS = 'kafka-1.example.internal:9092,kafka-2.example.internal:9092';

const utf8 = new TextEncoder();

/**
 * Sends records to a topic: each goes to the partition the partitioner picks (or its own
 * `partition`) and gets that partition's next offset, from 0, with timestampType CREATE_TIME.
 */
export function produceToTopic(records: Iterable<ProducerRecord>, options: TopicOptions): TopicLog {
  const { topic, partitions: count } = options;
  if (typeof topic !== 'string' || topic.length === 0) {
    throw new FloeConfigError(`topic must be a non-empty string, got ${JSON.stringify(topic)}.`);
  }
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new FloeConfigError(`partitions must be a whole number of at least 1, got ${String(count)}.`);
  }
  const partitioner = options.partitioner ?? defaultPartitioner(count);
  const partitions = Array.from({ length: count }, (): KafkaEventRecord[] => []);
  for (const record of records) {
    const partition = record.partition ?? partitioner(record.key);
    const log = partitions[partition];
    if (!Number.isSafeInteger(partition) || log === undefined) {
      throw new FloeError(
        `Record partition ${String(partition)} does not exist: topic ${topic} has partitions 0 to ${count - 1}.`,
      );
    }
    log.push(eventRecord(topic, partition, log.length, record));
  }
  return { topic, partitions };
}

/** One record as Lambda delivers it: base64 key and value, headers as byte arrays. */
export function eventRecord(
  topic: string,
  partition: number,
  offset: number,
  record: ProducerRecord,
): KafkaEventRecord {
  const headers: KafkaEventHeader[] =
    record.headers === undefined
      ? []
      : Object.entries(record.headers).map(([name, value]) => ({ [name]: [...bytesOf(value)] }));
  const out: {
    -readonly [K in keyof KafkaEventRecord]: KafkaEventRecord[K];
  } = {
    topic,
    partition,
    offset,
    timestamp: record.timestamp,
    timestampType: 'CREATE_TIME',
    value: record.value === null ? null : base64(record.value),
    headers,
  };
  // A record without a key arrives without the field.
  if (record.key !== null && record.key !== undefined) out.key = base64(record.key);
  return out;
}

/**
 * One event holding the records given, grouped under "<topic>-<partition>" in the order they
 * come. Each partition's records must be in increasing offset order, as Lambda delivers them.
 */
export function kafkaEvent(
  records: Iterable<KafkaEventRecord>,
  source: EventSource = { type: 'msk' },
): KafkaEvent {
  const grouped: Record<string, KafkaEventRecord[]> = {};
  for (const record of records) {
    const id = `${record.topic}-${record.partition}`;
    const group = grouped[id];
    if (group === undefined) grouped[id] = [record];
    else {
      const previous = group[group.length - 1]!;
      if (record.offset <= previous.offset) {
        throw new FloeError(
          `Records of ${id} must be in increasing offset order: offset ${record.offset} follows ${previous.offset}.`,
        );
      }
      group.push(record);
    }
  }
  return { ...envelope(source), records: grouped };
}

/**
 * Cuts a topic into events in the order the ESM delivers them: within a partition, records in
 * offset order, each exactly once; an event may mix partitions (see Interleave). Every record of
 * the topic is delivered.
 */
export function eventBatches(log: TopicLog, options: BatchingOptions = {}): Generator<KafkaEvent> {
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
    throw new FloeConfigError(
      `batchSize must be a whole number from 1 to ${MAX_BATCH_SIZE} (the event source mapping's range), got ${String(batchSize)}.`,
    );
  }
  const maxPayloadBytes = options.maxPayloadBytes ?? LAMBDA_PAYLOAD_LIMIT_BYTES;
  if (!Number.isSafeInteger(maxPayloadBytes) || maxPayloadBytes < 1) {
    throw new FloeConfigError(
      `maxPayloadBytes must be a positive whole number, got ${String(maxPayloadBytes)}.`,
    );
  }
  const head = envelope(options.source ?? { type: 'msk' });
  const cursors = log.partitions.map(() => 0);
  const pick = partitionPicker(options.interleave ?? 'round-robin', log.partitions, cursors);
  // Options are checked above, when the batches are asked for, not when the first one is read.
  const alone = options.oversized === 'alone';
  return cutBatches(log.partitions, cursors, pick, head, batchSize, maxPayloadBytes, alone);
}

function* cutBatches(
  partitions: readonly (readonly KafkaEventRecord[])[],
  cursors: number[],
  pick: (room: number) => Choice | undefined,
  head: Omit<KafkaEvent, 'records'>,
  batchSize: number,
  maxPayloadBytes: number,
  oversizedAlone: boolean,
): Generator<KafkaEvent> {
  // `{...,"records":{}}`: the event's size before any record.
  const emptyBytes = jsonBytes({ ...head, records: {} });
  const remaining = () => partitions.some((records, p) => cursors[p]! < records.length);
  // A record that did not fit the last event opens the next one.
  let carried: number | undefined;

  while (remaining()) {
    const records: Record<string, KafkaEventRecord[]> = {};
    let count = 0;
    let bytes = emptyBytes;
    let full = false;
    while (!full && count < batchSize) {
      const choice = carried !== undefined ? { partition: carried, run: 1 } : pick(batchSize - count);
      carried = undefined;
      if (choice === undefined) break;
      const { partition, run } = choice;
      const list = partitions[partition]!;
      for (let taken = 0; taken < run && count < batchSize && cursors[partition]! < list.length; taken++) {
        const record = list[cursors[partition]!]!;
        const id = `${record.topic}-${record.partition}`;
        const group = records[id];
        // A record costs its JSON plus a comma; a partition's first one also `"id":[` and `]`.
        const cost =
          recordBytes(record) + (group === undefined ? jsonBytes(id) + 3 : 0) + (count > 0 ? 1 : 0);
        if (bytes + cost > maxPayloadBytes) {
          if (count === 0 && oversizedAlone) {
            // Too big for any event: one of its own (the engine dead-letters it).
            records[id] = [record];
            count++;
            cursors[partition]!++;
            full = true;
            break;
          }
          if (count === 0) {
            throw new FloeError(
              `Record ${id} offset ${record.offset} needs ${emptyBytes + cost} bytes in an event, over the payload limit of ${maxPayloadBytes} bytes.`,
            );
          }
          carried = partition;
          full = true;
          break;
        }
        if (group === undefined) records[id] = [record];
        else group.push(record);
        bytes += cost;
        count++;
        cursors[partition]!++;
      }
    }
    yield { ...head, records };
  }
}

/** The size in bytes of a value's JSON, as Lambda measures a payload. */
export function payloadBytes(event: KafkaEvent): number {
  return jsonBytes(event);
}

interface Choice {
  readonly partition: number;
  /** How many records to take from it, at most. */
  readonly run: number;
}

/** The next partition to take records from, and how many; undefined when all are exhausted. */
function partitionPicker(
  interleave: Interleave,
  partitions: readonly (readonly KafkaEventRecord[])[],
  cursors: number[],
): (room: number) => Choice | undefined {
  const open = () => {
    const out: number[] = [];
    for (let p = 0; p < partitions.length; p++) if (cursors[p]! < partitions[p]!.length) out.push(p);
    return out;
  };
  if (interleave === 'sequential') {
    return (room) => {
      const [first] = open();
      return first === undefined ? undefined : { partition: first, run: room };
    };
  }
  if (interleave === 'round-robin') {
    let next = 0;
    return (room) => {
      const candidates = open();
      if (candidates.length === 0) return undefined;
      const partition = candidates.find((p) => p >= next) ?? candidates[0]!;
      next = partition + 1;
      return { partition, run: Math.max(1, Math.ceil(room / candidates.length)) };
    };
  }
  if (!Number.isSafeInteger(interleave.seed)) {
    throw new FloeConfigError(`interleave seed must be a safe integer, got ${String(interleave.seed)}.`);
  }
  const random = mulberry32(interleave.seed);
  return (room) => {
    const candidates = open();
    if (candidates.length === 0) return undefined;
    const partition = candidates[Math.floor(random() * candidates.length)]!;
    return { partition, run: 1 + Math.floor(random() * room) };
  };
}

/** The fields of an event besides its records, for a source. */
export function envelope(source: EventSource): Omit<KafkaEvent, 'records'> {
  if (source.type === 'msk') {
    return {
      eventSource: 'aws:kafka',
      eventSourceArn: source.clusterArn ?? EXAMPLE_CLUSTER_ARN,
      bootstrapServers: source.bootstrapServers ?? EXAMPLE_MSK_BROKERS,
    };
  }
  if (source.type === 'self-managed') {
    return { eventSource: 'SelfManagedKafka', bootstrapServers: source.bootstrapServers ?? EXAMPLE_BROKERS };
  }
  throw new FloeConfigError(
    `Unsupported event source type: ${String((source as { type: unknown }).type)}. Supported types are: msk, self-managed.`,
  );
}

function bytesOf(value: string | Uint8Array): Uint8Array {
  return typeof value === 'string' ? utf8.encode(value) : value;
}

function base64(value: string | Uint8Array): string {
  return typeof value === 'string'
    ? Buffer.from(value, 'utf8').toString('base64')
    : Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
}

function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}

/** Characters JSON writes as they are, one byte each in UTF-8: printable ASCII but `"` and `\`. */
const PLAIN = /^[ !#-[\]-~]*$/;

/**
 * The bytes of a record's JSON, as {@link jsonBytes} measures them, without writing the JSON: the
 * cutter measures every record, and stringifying each cost more than the rest of the cutting.
 * Plain fields (ASCII strings without escapes, such as base64, numbers, null, no headers) are
 * counted; anything else is measured by JSON.stringify.
 */
export function recordBytes(record: KafkaEventRecord): number {
  const fieldsOf = record as unknown as Record<string, unknown>;
  if (typeof fieldsOf.toJSON === 'function') return jsonBytes(record);
  let bytes = 1; // {
  let fields = 0;
  for (const name of Object.keys(fieldsOf)) {
    const value = fieldsOf[name];
    let size: number;
    if (typeof value === 'string') size = PLAIN.test(value) ? value.length + 2 : jsonBytes(value);
    else if (typeof value === 'number') size = Number.isFinite(value) ? String(value).length : 4;
    else if (value === null) size = 4;
    else if (value === undefined || typeof value === 'function' || typeof value === 'symbol') continue;
    else if (Array.isArray(value) && value.length === 0) size = 2;
    else size = jsonBytes(value);
    bytes += (PLAIN.test(name) ? name.length + 2 : jsonBytes(name)) + 1 + size; // "name":value
    fields++;
  }
  return bytes + Math.max(0, fields - 1) + 1; // commas and }
}
