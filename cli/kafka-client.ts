/**
 * The little of a Kafka client that `floe run --kafka` and `floe produce` need, over
 * @platformatic/kafka (docs/design.md, "Dependencies"): topic metadata, earliest and latest
 * offsets, a consumer group's committed offsets, fetching a partition from an offset, committing
 * offsets, creating a topic and producing. Records come back shaped as Lambda delivers them
 * (runtime/source/kafka-event.ts), built by the event builder's `eventRecord`.
 *
 * The runner does not join the consumer group: it reads the group's committed offsets, fetches
 * partitions itself and commits offsets as a standalone ("simple") consumer does, with generation
 * -1 and no member id. The broker accepts that only while the group has no active members.
 */
import { Admin, type ClusterMetadata, Consumer, Producer, type RecordsBatch } from '@platformatic/kafka';
import { eventRecord } from '../runtime/event-source-mapping/event-builder.ts';
import type { KafkaEventHeader, KafkaEventRecord } from '../runtime/source/kafka-event.ts';
import { UsageError } from './usage-error.ts';

/** How long a first contact with the brokers may take before the command gives up. */
export const CONNECT_TIMEOUT_MS = 10_000;

/** Kafka's special ListOffsets timestamps. */
const LATEST = -1n;
const EARLIEST = -2n;
/** Record batch attribute: the timestamps are the broker's append time. */
const LOG_APPEND_TIME = 0x08;
/** Record batch attribute: a control batch (transaction markers), never delivered. */
const CONTROL = 0x20;

export interface TopicInfo {
  readonly name: string;
  readonly id: string;
  readonly partitions: number;
}

/** What a fetch of one partition returned. */
export interface FetchedPartition {
  readonly partition: number;
  /** Records at or above the offset asked for, in offset order, as Lambda delivers them. */
  readonly records: KafkaEventRecord[];
  /** Where the next fetch of the partition starts (past control batches too). */
  readonly next: bigint;
  /** The partition's end offset (high watermark) when the broker answered. */
  readonly highWatermark: bigint;
  /** Kafka's error code for the partition (0: none; 1: offset out of range). */
  readonly errorCode: number;
}

export interface KafkaClientOptions {
  /** Comma-separated host:port list. */
  readonly brokers: string;
  readonly clientId?: string;
  /** The consumer group whose offsets are read and committed. @default - none (produce only) */
  readonly group?: string;
}

/** Splits and checks a `--kafka` broker list. */
export function parseBrokers(brokers: string): string[] {
  const list = brokers
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '');
  if (list.length === 0) throw new UsageError('--kafka needs broker addresses, e.g. --kafka 127.0.0.1:9092');
  for (const broker of list) {
    if (!/^[^\s:]+:\d{1,5}$/.test(broker) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(broker)) {
      throw new UsageError(`--kafka takes host:port addresses separated by commas, got "${broker}".`);
    }
  }
  return list;
}

export class KafkaClient {
  private readonly bootstrap: string[];
  private readonly clientId: string;
  private consumerClient: Consumer | undefined;
  private producerClient: Producer | undefined;
  private adminClient: Admin | undefined;

  constructor(private readonly options: KafkaClientOptions) {
    this.bootstrap = parseBrokers(options.brokers);
    this.clientId = options.clientId ?? 'floe';
  }

  get brokers(): string {
    return this.bootstrap.join(',');
  }

  private get base() {
    return {
      clientId: this.clientId,
      bootstrapBrokers: this.bootstrap,
      connectTimeout: 5_000,
      timeout: 30_000,
      retries: 3,
      retryDelay: 500,
    };
  }

  private get consumer(): Consumer {
    this.consumerClient ??= new Consumer({
      ...this.base,
      groupId: this.options.group ?? `${this.clientId}-admin`,
    });
    return this.consumerClient;
  }

  private get admin(): Admin {
    this.adminClient ??= new Admin(this.base);
    return this.adminClient;
  }

  /**
   * The topic's id and partition count, undefined when it does not exist; a broker that does not
   * answer within CONNECT_TIMEOUT_MS is a UsageError.
   */
  async topic(name: string): Promise<TopicInfo | undefined> {
    const metadata = await this.withTimeout(
      this.consumer.metadata({ topics: [name], forceUpdate: true, autocreateTopics: false }),
      'read the topic metadata',
    ).catch((error: unknown) => {
      if (isUnknownTopic(error)) return undefined;
      throw error;
    });
    const topic = metadata?.topics.get(name);
    if (topic === undefined) return undefined;
    return { name, id: topic.id, partitions: topic.partitionsCount };
  }

  /** How many brokers the cluster's metadata lists; a broker that does not answer is a UsageError. */
  async brokerCount(): Promise<number> {
    const metadata = await this.withTimeout(
      this.consumer.metadata({ topics: [], forceUpdate: true }),
      'read the cluster metadata',
    );
    return metadata.brokers.size;
  }

  /** Creates a topic with `partitions` partitions and replication factor 1 (a local broker). */
  async createTopic(name: string, partitions: number): Promise<void> {
    await this.withTimeout(
      this.admin.createTopics({ topics: [name], partitions, replicas: 1 }),
      `create topic ${name}`,
    );
  }

  /** Each partition's end offset (the next offset a producer would get). */
  endOffsets(topic: TopicInfo): Promise<bigint[]> {
    return this.offsets(topic, LATEST);
  }

  /** Each partition's earliest offset still in the log. */
  startOffsets(topic: TopicInfo): Promise<bigint[]> {
    return this.offsets(topic, EARLIEST);
  }

  private async offsets(topic: TopicInfo, timestamp: bigint): Promise<bigint[]> {
    const result = await this.withTimeout(
      this.consumer.listOffsets({ topics: [topic.name], timestamp }),
      'list the topic offsets',
    );
    const offsets = result.get(topic.name);
    if (offsets === undefined) throw new Error(`The broker listed no offsets for topic ${topic.name}.`);
    return Array.from({ length: topic.partitions }, (_, p) => offsets[p] ?? 0n);
  }

  /** The group's committed offset of each partition (the next offset to read), -1 where it has none. */
  async committedOffsets(topic: TopicInfo): Promise<bigint[]> {
    const partitions = Array.from({ length: topic.partitions }, (_, p) => p);
    const result = await this.withTimeout(
      this.consumer.listCommittedOffsets({ topics: [{ topic: topic.name, partitions }] }),
      `read the committed offsets of group ${this.consumer.groupId}`,
    );
    const offsets = result.get(topic.name) ?? [];
    return partitions.map((p) => offsets[p] ?? -1n);
  }

  /**
   * Commits `offset` (the next offset to read) for one partition, as a standalone consumer:
   * generation -1, no member id. The broker refuses it while the group has active members.
   */
  async commit(topic: TopicInfo, partition: number, offset: bigint): Promise<void> {
    const consumer = this.consumer;
    consumer.generationId = -1;
    consumer.memberId = '';
    await consumer.commit({ offsets: [{ topic: topic.name, partition, offset, leaderEpoch: -1 }] });
  }

  /**
   * One fetch of several partitions from their offsets: returns when any has data or after
   * `maxWaitMs`. Records below the offset asked for (the start of a batch) are left out.
   */
  async fetch(
    topic: TopicInfo,
    from: ReadonlyMap<number, bigint>,
    options: { readonly maxWaitMs: number; readonly maxBytesPerPartition: number },
  ): Promise<FetchedPartition[]> {
    const metadata = (await this.consumer.metadata({ topics: [topic.name] })) as ClusterMetadata;
    const meta = metadata.topics.get(topic.name);
    if (meta === undefined) throw new UsageError(`Topic ${topic.name} no longer exists.`);
    // One broker in a local setup; with several, each partition's leader would get its own request.
    const node = meta.partitions[[...from.keys()][0] ?? 0]?.leader ?? 0;
    const response = await this.consumer.fetch({
      node,
      maxWaitTime: options.maxWaitMs,
      minBytes: 1,
      maxBytes: 64 * 1024 * 1024,
      topics: [
        {
          topicId: meta.id,
          partitions: [...from].map(([partition, fetchOffset]) => ({
            partition,
            fetchOffset,
            partitionMaxBytes: options.maxBytesPerPartition,
            currentLeaderEpoch: -1,
            lastFetchedEpoch: -1,
          })),
        },
      ],
    });
    const out: FetchedPartition[] = [];
    for (const topicResponse of response.responses) {
      for (const p of topicResponse.partitions) {
        const start = from.get(p.partitionIndex);
        if (start === undefined) continue;
        const records: KafkaEventRecord[] = [];
        let next = start;
        for (const batch of p.records ?? []) {
          next = bigMax(next, batch.firstOffset + BigInt(batch.lastOffsetDelta) + 1n);
          if ((batch.attributes & CONTROL) !== 0) continue;
          appendRecords(records, topic.name, p.partitionIndex, batch, start);
        }
        out.push({
          partition: p.partitionIndex,
          records,
          next,
          highWatermark: p.highWatermark,
          errorCode: p.errorCode,
        });
      }
    }
    return out;
  }

  /**
   * Sends records to one topic, in order, with one request in flight (an idempotent producer:
   * a retried send is not duplicated).
   */
  async produce(
    topic: string,
    records: readonly {
      readonly partition: number;
      readonly key?: Buffer;
      readonly value: Buffer | null;
      readonly timestamp: number;
    }[],
  ): Promise<void> {
    this.producerClient ??= new Producer({ ...this.base, idempotent: true, maxInflights: 1 });
    await this.producerClient.send({
      messages: records.map((r) => ({
        topic,
        partition: r.partition,
        key: r.key,
        // A tombstone: the record has a null value.
        value: r.value ?? (null as unknown as Buffer),
        timestamp: BigInt(r.timestamp),
      })),
    });
  }

  async close(): Promise<void> {
    const { consumerClient, producerClient, adminClient } = this;
    this.consumerClient = this.producerClient = this.adminClient = undefined;
    // Consumer and Producer take `force`; Admin's close takes only a callback.
    await Promise.allSettled([
      consumerClient?.close(true),
      producerClient?.close(true),
      adminClient?.close(),
    ]);
  }

  /** Runs a first request with a deadline, turning an unreachable broker into one line. */
  private async withTimeout<T>(pending: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new UsageError(
              `Cannot reach Kafka at ${this.brokers} (no answer within ${CONNECT_TIMEOUT_MS / 1000} s to ${what}); is the broker running? (scripts/local-kafka start)`,
            ),
          ),
        CONNECT_TIMEOUT_MS,
      );
    });
    try {
      return await Promise.race([pending, deadline]);
    } catch (error) {
      if (error instanceof UsageError || isUnknownTopic(error)) throw error;
      throw new UsageError(
        `Cannot reach Kafka at ${this.brokers} to ${what}: ${describeKafkaError(error)}; is the broker running? (scripts/local-kafka start)`,
      );
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Appends a batch's records at or above `from`, shaped as the event source mapping delivers them. */
function appendRecords(
  out: KafkaEventRecord[],
  topic: string,
  partition: number,
  batch: RecordsBatch,
  from: bigint,
): void {
  const appendTime = (batch.attributes & LOG_APPEND_TIME) !== 0;
  for (const record of batch.records) {
    const offset = batch.firstOffset + BigInt(record.offsetDelta);
    if (offset < from) continue;
    const timestamp = Number(appendTime ? batch.maxTimestamp : batch.firstTimestamp + record.timestampDelta);
    const key = record.key as Buffer | null | undefined;
    const value = record.value as Buffer | null | undefined;
    const built = eventRecord(topic, partition, Number(offset), {
      key: key === null || key === undefined ? undefined : key,
      value: value === null || value === undefined ? null : value,
      timestamp,
    });
    // Headers keep their order and repeats: one single-entry object per header, as Lambda sends them.
    const headers: KafkaEventHeader[] = (record.headers ?? []).map(([name, bytes]) => ({
      [(name as Buffer | null)?.toString('utf8') ?? '']: [...((bytes as Buffer | null) ?? [])],
    }));
    out.push({ ...built, headers, timestampType: appendTime ? 'LOG_APPEND_TIME' : 'CREATE_TIME' });
  }
}

function bigMax(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

/** True for Kafka's UNKNOWN_TOPIC_OR_PARTITION, however the client wraps it. */
export function isUnknownTopic(error: unknown): boolean {
  return /UNKNOWN_TOPIC_OR_PARTITION|UNKNOWN_TOPIC_ID|does not host this topic|Unknown topic/i.test(
    describeKafkaError(error),
  );
}

/** One line for a client error, with the causes it aggregates (connection refused, a Kafka error code). */
export function describeKafkaError(error: unknown): string {
  const seen = new Set<unknown>();
  const parts: string[] = [];
  const codes: string[] = [];
  const visit = (e: unknown, depth: number) => {
    if (e === null || e === undefined || seen.has(e) || depth > 4) return;
    seen.add(e);
    if (typeof e !== 'object') {
      parts.push(String(e));
      return;
    }
    const { message, code, apiId, errors, cause } = e as {
      message?: string;
      code?: string;
      apiId?: string;
      errors?: unknown[];
      cause?: unknown;
    };
    const text = [apiId, message].filter((s) => typeof s === 'string' && s !== '').join(': ');
    if (text !== '' && !parts.includes(text)) parts.push(text);
    else if (text === '' && code !== undefined) codes.push(code);
    for (const inner of errors ?? []) visit(inner, depth + 1);
    visit(cause, depth + 1);
  };
  visit(error, 0);
  // "metadata failed 4 times." and the like say nothing the causes do not; the innermost causes last.
  const causes = parts.map((p) => p.replace(/\.$/, '')).filter((p) => !/ failed \d+ times$/.test(p));
  return causes.slice(-2).join(': ') || codes.join(', ') || 'unknown error';
}
