/**
 * The object-store contract on TieredObjectStore: small objects as DynamoDB items (moto), large
 * ones spilled to S3 (versitygw). A low inline limit makes the suite's objects land in both tiers.
 */
import { randomUUID } from 'node:crypto';
import { afterAll } from 'vitest';
import { deleteObjects } from '../../runtime/stores/object-store.ts';
import { objectStoreContract } from '../../test/contracts/object-store.contract.ts';
import { localDynamoDbClient, uniqueTableName } from '../../test/support/local-dynamodb.ts';
import { requireLocalS3 } from '../../test/support/local-s3.ts';
import { deleteLocalTable, ensureStateTable } from './dynamodb-tables.ts';
import { createS3Client, ensureBucket, S3ObjectStore } from './s3-object-store.ts';
import { TieredObjectStore } from './tiered-object-store.ts';

const BUCKET = 'floe-tiered-contract';
const client = localDynamoDbClient();
const table = uniqueTableName('floe-tiered-contract');
let ready: Promise<void> | undefined;

afterAll(async () => {
  if (ready !== undefined) await deleteLocalTable(client, table);
});

objectStoreContract('TieredObjectStore (DynamoDB items on moto, spill to S3 on versitygw)', async (knobs) => {
  requireLocalS3();
  const s3 = createS3Client();
  ready ??= Promise.all([
    ensureStateTable(client, table, { create: true }),
    ensureBucket(BUCKET, { client: s3 }),
  ]).then(() => undefined);
  await ready;
  const large = new S3ObjectStore(`s3://${BUCKET}/spill/${randomUUID()}`, { client: s3 });
  const store = new TieredObjectStore({
    client,
    tableName: table,
    namespace: `contract#${randomUUID()}`,
    large,
    inlineLimit: 1024,
    ...(knobs.pageSize === undefined ? {} : { pageSize: knobs.pageSize }),
  });
  return {
    store,
    cleanup: async () => {
      await deleteObjects(store, await store.list(''));
      await deleteObjects(large, await large.list(''));
    },
  };
});
