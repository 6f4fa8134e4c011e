/**
 * The bundled handler as Lambda runs it: examples/bids-per-auction.ts bundled with the options
 * the CDK construct uses (cli/bundle.ts), run by Lambda's Runtime Interface Emulator through the
 * Runtime API bootstrap, invoked over HTTP with the MSK test event and then its redelivery. Its
 * stores are the AWS ones a deployment names in the function's environment (FLOE_STATE_TABLE,
 * FLOE_BUCKET, ...), on the test run's DynamoDB and S3 servers (moto, versitygw). The tables must
 * be those `floe invoke` writes for the same event.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsCheckpointStores, createLocalAwsStores } from '../../adapters/aws/aws-stores.ts';
import { bundleJobHandler } from '../../cli/bundle.ts';
import { jsonLogLines, type LambdaEmulator, startEmulator } from '../../cli/lambda-emulator.ts';
import { removeScratch } from '../support/cleanup.ts';
import { floe } from '../support/floe-cli.ts';
import { canonicalRows, readRunTables } from '../support/iceberg-tables.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const JOB = join(ROOT, 'examples', 'bids-per-auction.ts');
const EVENT_FILE = join(ROOT, 'examples', 'events', 'msk-bids.json');
const event = JSON.parse(readFileSync(EVENT_FILE, 'utf8'));
const AWS_ENV = [
  'AWS_ENDPOINT_URL_DYNAMODB',
  'AWS_ENDPOINT_URL_S3',
  'AWS_REGION',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
] as const;

describe('the bundled handler in the Lambda Runtime Interface Emulator', () => {
  let scratch: string;
  let emulator: LambdaEmulator | undefined;
  const prefix = `run-${randomUUID()}`;
  const aws = {
    job: 'bids-per-auction',
    stateTable: `floe-emulator-${randomUUID().slice(0, 8)}`,
    catalogTable: `floe-emulator-iceberg-${randomUUID().slice(0, 8)}`,
    objects: `s3://floe-emulator/${prefix}`,
  };

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'floe-emulator-'));
    const bundle = await bundleJobHandler(JOB, join(scratch, 'bundle', 'handler.mjs'));
    await createLocalAwsStores(aws);
    // The function's stores, by environment, as the CDK construct sets them; the endpoints,
    // region and credentials of the test run's servers, as the SDK reads them.
    const storesEnv: Record<string, string> = {
      FLOE_STATE_TABLE: aws.stateTable,
      FLOE_CATALOG_TABLE: aws.catalogTable,
      FLOE_BUCKET: 'floe-emulator',
      FLOE_PREFIX: prefix,
    };
    for (const name of AWS_ENV) {
      const value = process.env[name];
      if (value === undefined)
        throw new Error(`${name} is not set: the test run's global setup starts scripts/local-aws.`);
      storesEnv[name] = value;
    }
    emulator = await startEmulator({ bundle: bundle.outfile, env: storesEnv });
  });

  afterAll(async () => {
    await emulator?.stop();
    await removeScratch(scratch);
  });

  it('commits the event once, logs the dead letter, and a redelivery commits nothing', async () => {
    const first = await emulator!.invoke(event);
    expect(first.failed, JSON.stringify(first.body)).toBe(false);
    expect(first.body).toMatchObject({ records: 12, redelivered: 0, late: 0, deadLetters: 1, rows: 6 });
    expect((first.body as { commits: number }).commits).toBeGreaterThan(0);
    const logs = jsonLogLines(first.logs);
    // The invocation's CloudWatch metrics: one EMF line on stdout, the stores metered.
    const emf = logs.filter((l) => '_aws' in l);
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({ Job: 'bids-per-auction', Records: 12, Rows: 6, DeadLetters: 1 });
    expect(emf[0]!.StoreRequests as number).toBeGreaterThan(0);
    expect(logs.find((l) => l.message === 'dead letter')).toMatchObject({
      level: 'WARN',
      record: { topic: 'bids', partition: 1, offset: 20, stage: 'decode' },
    });
    expect(logs.find((l) => l.message === 'batch committed')).toMatchObject({ rows: 6, deadLetters: 1 });
    expect(emulator!.initMs).toBeGreaterThan(0);

    const again = await emulator!.invoke(event);
    expect(again.body).toMatchObject({ records: 12, redelivered: 12, rows: 0, deadLetters: 0, commits: 0 });

    // The same tables as floe invoke on the same event, table by table.
    const invokeDir = join(scratch, 'invoke');
    const invoked = await floe('invoke', JOB, '--event', EVENT_FILE, '--dir', invokeDir, '--json');
    expect(invoked.code, invoked.stderr).toBe(0);
    const emulated = await readRunTables(awsCheckpointStores(aws));
    const expected = await readRunTables(invokeDir);
    expect([...emulated.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [name, table] of expected) {
      expect(canonicalRows(emulated.get(name)!.rows), name).toEqual(canonicalRows(table.rows));
    }
    const deadLetters = emulated.get('nexmark.bids_per_auction_dead_letters')!.rows;
    expect(deadLetters).toEqual([expect.objectContaining({ topic: 'bids', partition: 1, offset: 20 })]);
  });

  it('floe invoke --emulator prints the response and the logs', async () => {
    const dir = join(scratch, 'cli');
    const result = await floe('invoke', JOB, '--event', EVENT_FILE, '--dir', dir, '--emulator', '--json');
    expect(result.code, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout);
    expect(out.failed).toBe(false);
    expect(out.response).toMatchObject({ records: 12, deadLetters: 1, rows: 6 });
    expect(out.logs).toContainEqual(
      expect.objectContaining({
        message: 'dead letter',
        record: expect.objectContaining({ partition: 1, offset: 20 }),
      }),
    );
    const drain = await floe('invoke', JOB, '--event', EVENT_FILE, '--dir', dir, '--emulator', '--drain');
    expect(drain.code).toBe(2);
  });

  it('answers a handler error as Lambda does', async () => {
    const failed = await emulator!.invoke({ not: 'a Kafka event' });
    expect(failed.failed).toBe(true);
    expect(failed.body).toMatchObject({ errorType: 'TypeError' });
  });
});
