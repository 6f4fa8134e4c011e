/**
 * `floe events`: writes the Lambda Kafka events the event source mapping would deliver for a JSON
 * lines file, one JSON file per event, for `floe invoke` and other local Lambda tools (`sam local
 * invoke -e`). The file becomes a topic and is cut into events exactly as `floe run --input` does
 * with the same flags (cli/jsonl-topic.ts), so a run can resume after events invoked by hand: in
 * the file's order, or with `perPartition` one partition an event, as `floe run` cuts them for a
 * job keyed by the Kafka key.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_BATCH_SIZE, type EventSource } from '../runtime/event-source-mapping/event-builder.ts';
import { type ReadStats, readRunEvents } from './jsonl-topic.ts';
import { parseBrokers } from './kafka-client.ts';
import { openRunInput } from './run.ts';
import { UsageError } from './usage-error.ts';

export interface EventsOptions {
  readonly input?: string;
  readonly out?: string;
  readonly topic?: string;
  readonly key?: string;
  /** @default 1 */
  readonly partitions?: number;
  /** @default 100, the ESM's default */
  readonly batchSize?: number;
  /**
   * One partition's records an event, as `floe run` cuts them for a job whose commit groups are
   * partitions. @default false: the file's order, as `floe run` cuts them for other jobs
   */
  readonly perPartition?: boolean;
  readonly timestamp?: string;
  /** Self-managed Kafka events with these bootstrap servers. @default - Amazon MSK events */
  readonly selfManaged?: string;
}

export async function events(options: EventsOptions, out: (text: string) => void): Promise<void> {
  if (options.input === undefined) throw new UsageError('events needs --input <file.jsonl>.');
  if (options.out === undefined) throw new UsageError('events needs --out <dir>, where the event files go.');
  const source: EventSource =
    options.selfManaged === undefined
      ? { type: 'msk' }
      : { type: 'self-managed', bootstrapServers: parseBrokers(options.selfManaged).join(',') };
  const input = await openRunInput({
    input: options.input,
    topic: options.topic,
    key: options.key,
    partitions: options.partitions,
    batchSize: options.batchSize ?? DEFAULT_BATCH_SIZE,
    timestamp: options.timestamp,
  });
  const existing = await readdir(options.out).catch(() => [] as string[]);
  if (existing.some((name) => /^event-\d+\.json$/.test(name))) {
    throw new UsageError(`${options.out} already holds event files; give an empty or new --out directory.`);
  }
  await mkdir(options.out, { recursive: true });
  const { params } = input;
  const batchSize = params.batchSize ?? DEFAULT_BATCH_SIZE;
  const names: string[] = [];
  const read: ReadStats = { records: 0, withoutKey: 0, bytesRead: 0 };
  const topic = {
    topic: params.topic,
    partitions: params.partitions,
    key: params.key ?? undefined,
    timestamp: params.timestamp ?? undefined,
    defaultTimestamp: params.mtimeMs,
  };
  for await (const cut of readRunEvents(
    params.input,
    topic,
    { by: options.perPartition === true ? 'partition' : 'file', batchSize, source },
    read,
  )) {
    const name = `event-${String(names.length + 1).padStart(5, '0')}.json`;
    await writeFile(join(options.out, name), `${JSON.stringify(cut.event(), null, 2)}\n`);
    names.push(name);
  }
  const keyed = params.key === null ? 'no key (round-robin)' : `key ${params.key}`;
  out(
    [
      `floe events: ${read.records.toLocaleString('en')} records of ${options.input} (topic ${params.topic}, ${params.partitions} partition${params.partitions === 1 ? '' : 's'}, ${keyed}) → ${names.length.toLocaleString('en')} events of up to ${batchSize.toLocaleString('en')} records in ${options.out}${names.length > 0 ? ` (${names[0]}${names.length > 1 ? ` … ${names[names.length - 1]}` : ''})` : ''}`,
      names.length > 0
        ? `Invoke them in order (the last with --drain to fire every window): npx floe invoke <job.ts> --event ${join(options.out, names[0]!)}`
        : 'The input holds no records: no events written.',
    ].join('\n'),
  );
}
