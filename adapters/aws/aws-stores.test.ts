/**
 * The commit protocol on the AWS stores as a deployment assembles them (awsCheckpointStores):
 * heads and table pointers in DynamoDB, manifests in S3, engine state as DynamoDB items that
 * spill to S3, compressed; against moto and versitygw. The tables must equal a run on the local
 * stores, and each kind of object must be where the design puts it.
 */
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import type { ExampleName } from '../../examples/index.ts';
import {
  cleanRun,
  duplicates,
  expectedRowsTable,
  processorFor,
  runToEnd,
  tableNamesOf,
  tablesOf,
  workload,
} from '../../test/support/checkpoint-runs.ts';
import { localDynamoDbClient, uniqueTableName } from '../../test/support/local-dynamodb.ts';
import { requireLocalS3 } from '../../test/support/local-s3.ts';
import { awsCheckpointStores, awsStoresFromEnv, createLocalAwsStores } from './aws-stores.ts';
import { deleteLocalTable } from './dynamodb-tables.ts';
import { createS3Client, S3ObjectStore } from './s3-object-store.ts';

const dynamodb = localDynamoDbClient();
const tables: string[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const table of tables) await deleteLocalTable(dynamodb, table);
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function freshAwsStores(job: string, inlineStateBytes?: number) {
  requireLocalS3();
  const stateTable = uniqueTableName('floe-state');
  const catalogTable = uniqueTableName('floe-iceberg');
  tables.push(stateTable, catalogTable);
  const config = {
    job,
    stateTable,
    catalogTable,
    objects: `s3://floe-aws-stores/${randomUUID()}`,
    dynamodb,
    ...(inlineStateBytes === undefined ? {} : { inlineStateBytes }),
  };
  await createLocalAwsStores(config);
  return { config, stores: awsCheckpointStores(config) };
}

const CASES: { name: ExampleName; scope: string }[] = [
  { name: 'bids-per-auction', scope: 'windows per partition' },
  { name: 'bidder-sessions', scope: 'sessions merged across partitions' },
];

/** State in state objects, where these tests look (small state is in the manifest by default). */
const STATE_IN_OBJECTS = { keepCheckpoints: 4, cleanupEvery: 2, maxInlineStateChars: 0 };

describe.each(CASES)('awsCheckpointStores: $name ($scope)', ({ name }) => {
  const w = workload({ count: 200, batchSize: 25, malformedAt: 50 });

  it('writes the same tables as the local stores, with state in DynamoDB and manifests in S3', async () => {
    const clean = await cleanRun(name, w);
    dirs.push(clean.dir);
    const reference = await tablesOf(clean.dir);

    const { config, stores } = await freshAwsStores(name);
    await runToEnd(processorFor(name, stores, w, STATE_IN_OBJECTS), w.events);
    const onAws = await tablesOf(stores);
    expect(onAws).toEqual(reference);
    const rows = onAws[tableNamesOf(name).rows]!;
    expect(duplicates(rows)).toEqual([]);
    expect(rows).toEqual(expectedRowsTable(name, w.bids, onAws));

    // Manifests are S3 objects; small state objects are DynamoDB items, not S3 objects.
    const s3 = new S3ObjectStore(`${config.objects}/checkpoints`, { client: createS3Client() });
    const inS3 = await s3.list('');
    expect(inS3.some((key) => key.includes('/manifests/'))).toBe(true);
    const state = await stores.checkpoints.list(`${name}/`);
    expect(state.some((key) => key.split('/')[2] === 'state')).toBe(true);
    expect(inS3.filter((key) => key.split('/')[2] === 'state' && !key.endsWith('.spill'))).toEqual([]);
    // Offsets and watermarks are in DynamoDB: each head carries its group's committed position.
    const heads = await stores.heads.list('');
    expect(heads.length).toBeGreaterThan(0);
    const committed = new Map<string, number>();
    for (const item of heads) {
      const value = item.value as { offsets?: Record<string, [number, number | null]> };
      for (const [id, [offset]] of Object.entries(value.offsets ?? {})) committed.set(id, offset);
    }
    const last = w.log.partitions.map((records, p) => [`bids-${p}`, records.length - 1] as const);
    for (const [id, offset] of last) expect(committed.get(id), id).toBe(offset);
    // The table pointers are Iceberg DynamoDB catalog items naming s3:// metadata files.
    const pointers = await stores.catalog.listTables();
    expect(pointers.map((t) => t.name)).toContain(tableNamesOf(name).rows);
    for (const t of pointers) expect(t.metadataLocation).toMatch(/^s3:\/\//);
  });

  it('spills state objects above the inline limit to S3 and reads them back', async () => {
    const clean = await cleanRun(name, w);
    dirs.push(clean.dir);
    const { config, stores } = await freshAwsStores(name, 64);
    await runToEnd(processorFor(name, stores, w, STATE_IN_OBJECTS), w.events);
    expect(await tablesOf(stores)).toEqual(await tablesOf(clean.dir));
    const s3 = new S3ObjectStore(`${config.objects}/checkpoints`, { client: createS3Client() });
    expect((await s3.list('')).some((key) => key.endsWith('.spill'))).toBe(true);
  });
});

describe('awsStoresFromEnv', () => {
  it('builds no AWS stores without FLOE_STATE_TABLE, and refuses a table without a bucket', () => {
    expect(awsStoresFromEnv('job', {})).toBeUndefined();
    expect(() => awsStoresFromEnv('job', { FLOE_STATE_TABLE: 't' })).toThrow(
      /FLOE_STATE_TABLE is set but FLOE_BUCKET is not/,
    );
    expect(() =>
      awsStoresFromEnv('job', {
        FLOE_STATE_TABLE: 't',
        FLOE_BUCKET: 'b',
        FLOE_CHECKPOINT_COMPRESSION: 'lz4',
      }),
    ).toThrow(/none, gzip or zstd, got "lz4"/);
    expect(awsStoresFromEnv('job', { FLOE_STATE_TABLE: 't', FLOE_BUCKET: 'bucket' })).toBeDefined();
  });
});
