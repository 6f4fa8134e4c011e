/**
 * `floe produce`: writes records to a Kafka topic, creating it when missing. Records come from a
 * JSON lines file (read exactly as `floe run --input` reads it: cli/jsonl-topic.ts) or from the
 * Nexmark bid generator, and are placed by the same default partitioner (murmur2 of the key, like
 * Kafka's), each sent to its partition explicitly: a key lands where `floe run --input` puts it.
 */
import { generateBids } from '../examples/nexmark/generator.ts';
import { bidRecord } from '../examples/nexmark/topic.ts';
import { produceToTopic, type TopicLog } from '../runtime/event-source-mapping/event-builder.ts';
import { topicNameOf, topicNameProblem } from './jsonl-topic.ts';
import { KafkaClient } from './kafka-client.ts';
import { StatusLine, type StatusStream } from './progress.ts';
import { MAX_PARTITIONS, openRunInput } from './run.ts';
import { UsageError } from './usage-error.ts';

export interface ProduceOptions {
  readonly brokers?: string;
  /** @default - the input file's base name, or "bids" */
  readonly topic?: string;
  readonly input?: string;
  readonly key?: string;
  readonly timestamp?: string;
  /** Generated Nexmark bids (keyed by auction, value JSON, timestamp = event time). */
  readonly bids?: number;
  /** @default 1 */
  readonly seed?: number;
  /** Partitions of a topic created here; must match an existing topic's. @default 1 */
  readonly partitions?: number;
}

/** Records per produce request. */
const CHUNK = 1_000;

export async function produce(
  options: ProduceOptions,
  out: (text: string) => void,
  status: StatusStream | undefined = process.stderr,
): Promise<void> {
  if (options.brokers === undefined)
    throw new UsageError('produce needs --kafka <brokers>, e.g. --kafka 127.0.0.1:9092');
  if ((options.input === undefined) === (options.bids === undefined)) {
    throw new UsageError('produce needs either --input <file.jsonl> or --bids N (generated Nexmark bids).');
  }
  if (options.bids !== undefined && (options.key !== undefined || options.timestamp !== undefined)) {
    throw new UsageError(
      '--key and --timestamp are for --input; generated bids are keyed by auction, timed by event time.',
    );
  }
  if (options.input !== undefined && options.seed !== undefined)
    throw new UsageError('--seed is for --bids.');
  if (options.partitions !== undefined && options.partitions > MAX_PARTITIONS) {
    throw new UsageError(`--partitions must be at most ${MAX_PARTITIONS.toLocaleString('en')}.`);
  }
  const topicName = options.topic ?? (options.input !== undefined ? topicNameOf(options.input) : 'bids');
  const problem = topicNameProblem(topicName);
  if (problem !== undefined)
    throw new UsageError(`--topic "${topicName}" is not a Kafka topic name: ${problem}.`);

  const started = performance.now();
  const client = new KafkaClient({ brokers: options.brokers, clientId: 'floe-produce' });
  const line = new StatusLine(status);
  try {
    let topic = await client.topic(topicName);
    let created = false;
    if (topic !== undefined && options.partitions !== undefined && topic.partitions !== options.partitions) {
      throw new UsageError(
        `Topic ${topicName} exists with ${topic.partitions} partitions, not ${options.partitions}: drop --partitions or use another --topic.`,
      );
    }
    if (topic === undefined) {
      await client.createTopic(topicName, options.partitions ?? 1);
      topic = await waitForTopic(client, topicName);
      created = true;
    }
    const partitions = topic.partitions;
    const log = await recordsFor(options, topicName, partitions);
    const total = log.partitions.reduce((sum, records) => sum + records.length, 0);
    let sent = 0;
    const show = (force = false) =>
      line.update(
        () =>
          `floe produce ${topicName}: ${sent.toLocaleString('en')}/${total.toLocaleString('en')} records (${total === 0 ? 100 : Math.floor((sent / total) * 100)}%)`,
        force,
      );
    show(true);
    for (const records of log.partitions) {
      for (let i = 0; i < records.length; i += CHUNK) {
        const chunk = records.slice(i, i + CHUNK);
        await client.produce(
          topicName,
          chunk.map((r) => ({
            partition: r.partition,
            key: typeof r.key === 'string' ? Buffer.from(r.key, 'base64') : undefined,
            value: r.value === null ? null : Buffer.from(r.value, 'base64'),
            timestamp: r.timestamp,
          })),
        );
        sent += chunk.length;
        show();
      }
    }
    line.clear();
    const seconds = (performance.now() - started) / 1000;
    const counts = log.partitions
      .map((records, p) => `${p}: ${records.length.toLocaleString('en')}`)
      .join(', ');
    const what =
      options.input !== undefined ? `of ${options.input}` : `(generated bids, seed ${options.seed ?? 1})`;
    out(
      `floe produce: ${total.toLocaleString('en')} records ${what} to topic ${topicName} on ${client.brokers}${created ? ` (created with ${partitions} partition${partitions === 1 ? '' : 's'})` : ''} in ${seconds.toFixed(1)} s\n  per partition: ${counts}`,
    );
  } finally {
    line.clear();
    await client.close();
  }
}

async function recordsFor(options: ProduceOptions, topic: string, partitions: number): Promise<TopicLog> {
  if (options.input !== undefined) {
    const input = await openRunInput({
      input: options.input,
      partitions,
      key: options.key,
      timestamp: options.timestamp,
      topic,
    });
    return (await input.topic()).log;
  }
  const bids = generateBids({ count: options.bids!, seed: options.seed ?? 1 });
  return produceToTopic(bids.map(bidRecord), { topic, partitions });
}

/** A new topic's metadata, once the broker has it (creation is asynchronous). */
async function waitForTopic(client: KafkaClient, name: string) {
  for (let i = 0; i < 50; i++) {
    const topic = await client.topic(name);
    if (topic !== undefined && topic.partitions > 0) return topic;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new UsageError(`Topic ${name} was created but its metadata did not appear within 5 s.`);
}
