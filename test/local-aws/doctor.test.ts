/**
 * `floe doctor` against moto (DynamoDB, MSK's DescribeClusterV2), versitygw (S3) and the local
 * Kafka broker: a healthy deployment passes every check and lists the job's commit groups; a
 * missing table, bucket or topic is a FAIL line each, exit 1; a cluster that is not ACTIVE too.
 * MSK answers that moto lacks (GetBootstrapBrokers, an ACTIVE state) are stubbed at the SDK's HTTP
 * handler (./msk-stub.ts), with the local broker as the cluster's plaintext listener.
 * `floe run --cluster-arn` resolves its brokers the same way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsCheckpointStores, createLocalAwsStores } from '../../adapters/aws/aws-stores.ts';
import { deleteLocalTable } from '../../adapters/aws/dynamodb-tables.ts';
import { type Check, doctor } from '../../cli/doctor.ts';
import { KafkaClient } from '../../cli/kafka-client.ts';
import { mskPlaintextBrokers } from '../../cli/msk.ts';
import { processorFor, workload } from '../support/checkpoint-runs.ts';
import { floe } from '../support/floe-cli.ts';
import { localDynamoDbClient } from '../support/local-dynamodb.ts';
import { kafkaBrokers, uniqueTopic } from '../support/local-kafka.ts';
import { createMotoCluster, stubbedMskClient } from './msk-stub.ts';

const JOB = 'examples/max-price.ts';
const dynamodb = localDynamoDbClient();
const stateTable = `floe-doctor-state-${Date.now().toString(36)}`;
const catalogTable = `floe-doctor-catalog-${Date.now().toString(36)}`;
const bucket = `floe-doctor-${Date.now().toString(36)}`;
const objects = `s3://${bucket}/max-price`;
const topic = uniqueTopic('doctor');
let brokers: string;
let clusterArn: string;

const storeArgs = () => [
  '--state',
  `dynamodb://${stateTable}`,
  '--objects',
  objects,
  '--catalog',
  `dynamodb://${catalogTable}`,
];
const stores = (overrides: { state?: string; objects?: string } = {}) => ({
  state: overrides.state ?? `dynamodb://${stateTable}`,
  objects: overrides.objects ?? objects,
  catalog: `dynamodb://${catalogTable}`,
});

beforeAll(async () => {
  brokers = await kafkaBrokers();
  const config = { job: 'max-price', stateTable, catalogTable, objects, dynamodb };
  await createLocalAwsStores(config);
  // Two batches of max-price committed on the stores: one commit group (windowAll), epoch 2.
  const w = workload({ count: 80, batchSize: 20, partitions: 4 });
  const processor = processorFor('max-price', awsCheckpointStores(config), w);
  for (const event of w.events.slice(0, 2)) await processor.process(event);
  const kafka = new KafkaClient({ brokers });
  try {
    await kafka.createTopic(topic, 4);
  } finally {
    await kafka.close();
  }
  clusterArn = await createMotoCluster('floe-doctor');
});

afterAll(async () => {
  await deleteLocalTable(dynamodb, stateTable);
  await deleteLocalTable(dynamodb, catalogTable);
});

/** Runs the doctor in this process; returns the exit status, the text lines and the checks. */
async function runDoctor(options: Partial<Parameters<typeof doctor>[0]>) {
  const text: string[] = [];
  const json: string[] = [];
  const base = { jobPath: JOB, stores: stores(), typecheck: false, ...options };
  const code = await doctor({ ...base, json: false }, (t) => text.push(t));
  expect(await doctor({ ...base, json: true }, (t) => json.push(t))).toBe(code);
  const { ok, checks } = JSON.parse(json.join('')) as { ok: boolean; checks: Check[] };
  expect(ok).toBe(code === 0);
  const byName = (prefix: string) => checks.find((c) => c.check.startsWith(prefix));
  return { code, lines: text.join('\n').split('\n'), checks, byName };
}

const lineOf = (lines: readonly string[], prefix: string) => lines.find((l) => l.startsWith(prefix));

describe('floe doctor', () => {
  it('a healthy deployment: every check ok, the commit groups listed, exit 0', async () => {
    const { code, stdout, stderr } = await floe(
      'doctor',
      JOB,
      ...storeArgs(),
      '--kafka',
      brokers,
      '--topic',
      topic,
    );
    expect(code, stdout + stderr).toBe(0);
    const lines = stdout.split('\n');
    expect(lineOf(lines, 'ok    job: max-price loads and type-checks')).toBeDefined();
    expect(
      lineOf(
        lines,
        `ok    state table dynamodb://${stateTable}: key schema (pk HASH, sk RANGE), TTL on expiresAt`,
      ),
    ).toBeDefined();
    expect(
      lineOf(
        lines,
        `ok    catalog table dynamodb://${catalogTable}: key schema (identifier HASH, namespace RANGE)`,
      ),
    ).toBeDefined();
    expect(
      lineOf(
        lines,
        `ok    bucket ${objects}: exists; a conditional create (If-None-Match: *) under max-price/ works`,
      ),
    ).toBeDefined();
    expect(lineOf(lines, `ok    Kafka brokers ${brokers}: 1 broker answers`)).toBeDefined();
    expect(lineOf(lines, `ok    topic ${topic}: exists, 4 partitions`)).toBeDefined();
    expect(lineOf(lines, 'ok    commit groups: 1 (the whole job commits through one head)')).toBeDefined();
    expect(lines.find((l) => /^ {8}job: epoch 2, watermark \d{4}-\d\d-\d\dT/.test(l))).toBeDefined();
    expect(stdout).toContain('All 7 checks passed.');
    // The probe object was deleted: the prefix holds only what the job wrote.
    const { S3ObjectStore } = await import('../../adapters/aws/s3-object-store.ts');
    expect((await new S3ObjectStore(objects).list('')).filter((k) => k.includes('floe-doctor'))).toEqual([]);
  });

  it('a missing state table is a FAIL line with what to do, exit 1', async () => {
    const { code, lines, byName } = await runDoctor({
      stores: stores({ state: 'dynamodb://floe-doctor-missing' }),
    });
    expect(code).toBe(1);
    expect(
      lineOf(
        lines,
        'FAIL  state table dynamodb://floe-doctor-missing: The DynamoDB table "floe-doctor-missing" does not exist',
      ),
    ).toMatch(/Create it: locally with `--create`, on AWS by deploying Floe's stack\.$/);
    expect(byName('catalog table')?.status).toBe('ok');
    expect(byName('commit groups')).toMatchObject({
      status: 'skip',
      detail: 'needs the state table and the bucket',
    });
    expect(lines.at(-1)).toBe('1 of 5 checks failed.');
  });

  it('a missing bucket is a FAIL line, exit 1', async () => {
    const { code, lines } = await runDoctor({
      stores: stores({ objects: 's3://floe-doctor-no-such-bucket/p' }),
    });
    expect(code).toBe(1);
    expect(lineOf(lines, 'FAIL  bucket s3://floe-doctor-no-such-bucket/p:')).toBe(
      'FAIL  bucket s3://floe-doctor-no-such-bucket/p: The S3 bucket "floe-doctor-no-such-bucket" does not exist. Create it: locally with `--create`, on AWS by deploying Floe\'s stack.',
    );
  });

  it('a missing topic is a FAIL line, exit 1', async () => {
    const { code, lines, byName } = await runDoctor({ brokers, topic: 'floe-doctor-no-such-topic' });
    expect(code).toBe(1);
    expect(byName('Kafka brokers')?.status).toBe('ok');
    expect(lineOf(lines, 'FAIL  topic floe-doctor-no-such-topic:')).toBe(
      `FAIL  topic floe-doctor-no-such-topic: topic floe-doctor-no-such-topic does not exist on ${brokers}: create it with the partitions the job needs (floe produce --partitions N creates one locally), or fix --topic.`,
    );
  });

  it('an MSK cluster that is not ACTIVE is a FAIL line (moto: CREATING)', async () => {
    const msk = stubbedMskClient({ bootstrapBrokers: { bootstrapBrokerString: brokers } });
    const { code, lines } = await runDoctor({ clusterArn, topic, msk });
    expect(code).toBe(1);
    expect(lineOf(lines, `FAIL  MSK cluster ${clusterArn}:`)).toBe(
      `FAIL  MSK cluster ${clusterArn}: floe-doctor is CREATING, not ACTIVE (PROVISIONED, Kafka 3.9.x, 3 broker nodes): wait until it is ACTIVE, then run floe doctor again.`,
    );
  });

  it('an ACTIVE cluster with a plaintext listener: its brokers and the topic are checked', async () => {
    const msk = stubbedMskClient({
      clusterInfo: { state: 'ACTIVE' },
      bootstrapBrokers: { bootstrapBrokerString: brokers, bootstrapBrokerStringSaslIam: 'b-1.example:9098' },
    });
    const { code, lines, byName } = await runDoctor({ clusterArn, topic, msk });
    expect(code, lines.join('\n')).toBe(0);
    expect(lineOf(lines, `ok    MSK cluster ${clusterArn}: floe-doctor is ACTIVE`)).toBeDefined();
    expect(lineOf(lines, 'ok    MSK bootstrap brokers: IAM (1 broker), plaintext (1 broker)')).toBeDefined();
    expect(byName('topic')).toMatchObject({ status: 'ok', partitions: 4 });
    expect(byName('commit groups')?.groups).toEqual([
      expect.objectContaining({ group: 'job', epoch: 2, drained: false }),
    ]);
  });

  it('an IAM-only cluster: the topic check is skipped, saying the Kafka client lacks IAM', async () => {
    const msk = stubbedMskClient({
      clusterInfo: { state: 'ACTIVE' },
      bootstrapBrokers: { bootstrapBrokerStringSaslIam: 'b-1.example:9098,b-2.example:9098' },
    });
    const { code, byName } = await runDoctor({ clusterArn, topic, msk });
    expect(code).toBe(0);
    expect(byName('MSK bootstrap brokers')).toMatchObject({ status: 'ok', detail: 'IAM (2 brokers)' });
    expect(byName('topic')).toMatchObject({ status: 'skip' });
    expect(byName('topic')?.detail).toMatch(
      /no plaintext listener: floe's Kafka client speaks plaintext only/,
    );
  });

  it('usage errors exit 2, before any check', async () => {
    for (const args of [
      ['doctor', JOB, '--objects', objects],
      ['doctor', JOB, ...storeArgs(), '--kafka', brokers, '--cluster-arn', clusterArn],
      ['doctor', JOB, ...storeArgs(), '--cluster-arn', 'b-1:9092'],
      ['doctor', JOB, ...storeArgs(), '--topic', topic],
    ]) {
      const { code, stdout, stderr } = await floe(...args);
      expect(code, stderr).toBe(2);
      expect(stdout).toBe('');
      expect(stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});

describe('floe run --cluster-arn', () => {
  it("reads the cluster's plaintext bootstrap brokers", async () => {
    const msk = stubbedMskClient({ bootstrapBrokers: { bootstrapBrokerString: brokers } });
    expect(await mskPlaintextBrokers(clusterArn, msk)).toBe(brokers);
  });

  it('without a plaintext listener, says that TLS, SASL and IAM are not implemented', async () => {
    const msk = stubbedMskClient({ bootstrapBrokers: { bootstrapBrokerStringTls: 'b-1.example:9094' } });
    await expect(mskPlaintextBrokers(clusterArn, msk)).rejects.toThrow(
      `The MSK cluster ${clusterArn} has no plaintext listener (it has: TLS (1 broker)). floe's Kafka client speaks plaintext only: TLS, SASL/SCRAM and IAM authentication are not implemented yet.`,
    );
  });

  it('--kafka and --cluster-arn together are a usage error', async () => {
    const { code, stderr } = await floe(
      'run',
      JOB,
      '--kafka',
      brokers,
      '--cluster-arn',
      clusterArn,
      '--topic',
      topic,
    );
    expect(code).toBe(2);
    expect(stderr).toContain('--kafka and --cluster-arn both name the brokers: give one of them.');
  });
});
