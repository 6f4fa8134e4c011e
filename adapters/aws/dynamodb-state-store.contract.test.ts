/**
 * The StateStore and Catalog contracts against a local DynamoDB server (moto, one request at a
 * time: its threaded server does not make conditional writes atomic), plus what only DynamoDB
 * has: pages, the item layout Iceberg reads, retries, lost responses and configuration errors.
 * Needs AWS_ENDPOINT_URL_DYNAMODB (scripts/local-aws or the globalSetup); fails without it.
 */
import { randomUUID } from 'node:crypto';
import {
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageError } from '../../runtime/stores/object-store.ts';
import { catalogContract } from '../../test/contracts/catalog.contract.ts';
import { stateStoreContract } from '../../test/contracts/state-store.contract.ts';
import { localDynamoDbClient, uniqueTableName } from '../../test/support/local-dynamodb.ts';
import {
  failingOnceCatalog,
  failingOnceStateStore,
  faultCounter,
  retryingCatalog,
  retryingStateStore,
} from '../../test/support/transient-faults.ts';
import { DynamoDBCatalog } from './dynamodb-catalog.ts';
import { createDynamoDbClient } from './dynamodb-client.ts';
import { DynamoDBStateStore } from './dynamodb-state-store.ts';
import { deleteLocalTable, ensureCatalogTable, ensureStateTable } from './dynamodb-tables.ts';

const client = localDynamoDbClient();
const stateTable = uniqueTableName('floe-state');
const catalogTables: string[] = [];

beforeAll(async () => {
  expect(await ensureStateTable(client, stateTable, { create: true })).toBe('created');
  expect(await ensureStateTable(client, stateTable, { create: true })).toBe('exists');
});

afterAll(async () => {
  await deleteLocalTable(client, stateTable);
  for (const table of catalogTables) await deleteLocalTable(client, table);
});

/** A store over a fresh namespace of the shared table: empty, and pages after 4 items. */
function freshStore(storeClient: DynamoDBClient = client): DynamoDBStateStore {
  return new DynamoDBStateStore({
    client: storeClient,
    tableName: stateTable,
    namespace: `job#test-${randomUUID()}`,
    pageSize: 4,
  });
}

async function freshCatalog(catalogClient: DynamoDBClient = client): Promise<DynamoDBCatalog> {
  const tableName = uniqueTableName('floe-iceberg');
  catalogTables.push(tableName);
  await ensureCatalogTable(client, tableName, { create: true });
  return new DynamoDBCatalog({ client: catalogClient, tableName, pageSize: 4 });
}

stateStoreContract('DynamoDBStateStore', async () => ({ store: freshStore() }));

stateStoreContract('DynamoDBStateStore, each call failing once, retried', async () => {
  const faults = faultCounter();
  const store = failingOnceStateStore(freshStore(), { lostReads: true, ...faults });
  return { store: retryingStateStore(store), cleanup: faults.check };
});

catalogContract('DynamoDBCatalog', async () => ({ catalog: await freshCatalog() }));

catalogContract('DynamoDBCatalog, each call failing once, retried', async () => {
  const faults = faultCounter();
  return {
    catalog: retryingCatalog(failingOnceCatalog(await freshCatalog(), faults)),
    cleanup: faults.check,
  };
});

/**
 * A client whose calls of `operation` fail once after the request was performed (`lost`: the
 * response is lost, as on a timeout) or before it is sent (`throttled`); the SDK's retry strategy
 * then repeats the call. Counts the tries that reach the server.
 */
function faultyClient(
  operation: string,
  fault: 'lost' | 'throttled',
  when: (input: Record<string, unknown>) => boolean = () => true,
): { client: DynamoDBClient; sent: () => number } {
  const faulty = localDynamoDbClient();
  let injected = false;
  let sent = 0;
  faulty.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== `${operation}Command` || !when(args.input as Record<string, unknown>)) {
        return next(args);
      }
      if (fault === 'throttled' && !injected) {
        injected = true;
        throw Object.assign(new Error('Rate of requests exceeds the allowed throughput.'), {
          name: 'ThrottlingException',
          $metadata: { httpStatusCode: 400 },
        });
      }
      sent++;
      const result = await next(args);
      if (fault === 'lost' && !injected) {
        injected = true;
        throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      }
      return result;
    },
    { step: 'deserialize', name: 'floeTestFault', priority: 'high' },
  );
  return { client: faulty, sent: () => sent };
}

describe('DynamoDBStateStore on DynamoDB', () => {
  it('stores items in the documented layout: pk namespace, sk key, version, value as JSON text', async () => {
    const store = freshStore();
    await store.put('floe/j/heads/p0', { lineage: 'l', epoch: 3, manifest: 'm' }, { absent: true });
    const { Item } = await client.send(
      new GetItemCommand({
        TableName: stateTable,
        Key: { pk: { S: store.namespace }, sk: { S: 'floe/j/heads/p0' } },
        ConsistentRead: true,
      }),
    );
    expect(Item).toMatchObject({
      pk: { S: store.namespace },
      sk: { S: 'floe/j/heads/p0' },
      version: { N: '1' },
      value: { S: '{"lineage":"l","epoch":3,"manifest":"m"}' },
    });
    expect(Item?.token?.S).toMatch(/^[0-9a-f-]{36}$/);
    expect(Item?.expiresAt).toBeUndefined();
  });

  it('retires a deleted item as a tombstone that TTL removes, and lists past it', async () => {
    const now = Date.UTC(2030, 0, 1);
    const store = new DynamoDBStateStore({
      client,
      tableName: stateTable,
      namespace: `job#ttl-${randomUUID()}`,
      tombstoneTtlSeconds: 3600,
      clock: () => now,
    });
    await store.put('k', 1, { absent: true });
    await store.delete('k', { expectedVersion: 1 });
    const { Item } = await client.send(
      new GetItemCommand({ TableName: stateTable, Key: { pk: { S: store.namespace }, sk: { S: 'k' } } }),
    );
    expect(Item).toMatchObject({
      version: { N: '2' },
      deleted: { BOOL: true },
      expiresAt: { N: String(now / 1000 + 3600) },
    });
    expect(Item?.value).toBeUndefined();
    // Written again: a live item with the next version and no expiry.
    expect(await store.put('k', 2, { absent: true })).toEqual({ key: 'k', version: 3, value: 2 });
    const again = await client.send(
      new GetItemCommand({ TableName: stateTable, Key: { pk: { S: store.namespace }, sk: { S: 'k' } } }),
    );
    expect(again.Item?.expiresAt).toBeUndefined();
    expect(again.Item?.deleted).toBeUndefined();
  });

  it('keeps namespaces apart in one table', async () => {
    const a = freshStore();
    const b = freshStore();
    await a.put('k', 'a', { absent: true });
    await b.put('k', 'b', { absent: true });
    expect((await a.get('k'))?.value).toBe('a');
    expect((await b.list('')).map((item) => item.value)).toEqual(['b']);
  });

  it('lists with small pages: the Query is paged and every page followed', async () => {
    const store = freshStore();
    for (let i = 0; i < 10; i++) await store.put(`p/${i}`, i, undefined);
    const page = await client.send(
      new QueryCommand({
        TableName: stateTable,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: store.namespace } },
        Limit: 4,
      }),
    );
    expect(page.LastEvaluatedKey).toBeDefined(); // the server pages
    expect((await store.list('p/')).map((item) => item.value)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('refuses keys DynamoDB cannot hold, naming the rule', async () => {
    const store = freshStore();
    await expect(store.put('x'.repeat(1025), 1, undefined)).rejects.toThrow(/sort key limit of 1024/);
    await expect(store.get('\ud800')).rejects.toThrow(/lone surrogate/);
  });

  it('reports a write whose response was lost, and that the SDK retried, as written once', async () => {
    const { client: lossy, sent } = faultyClient('UpdateItem', 'lost');
    const store = new DynamoDBStateStore({
      client: lossy,
      tableName: stateTable,
      namespace: `job#lost-${randomUUID()}`,
    });
    // A conditional create: the retry's condition fails on the item the first try wrote.
    expect(await store.put('k', 'v1', { absent: true })).toEqual({ key: 'k', version: 1, value: 'v1' });
    expect(sent()).toBe(2);
    expect(await store.get('k')).toEqual({ key: 'k', version: 1, value: 'v1' });
  });

  it('reports a lost swap retried by the SDK as written once, at the next version', async () => {
    const plain = freshStore();
    await plain.put('k', 'v1', { absent: true });
    const { client: lossy, sent } = faultyClient('UpdateItem', 'lost');
    const store = new DynamoDBStateStore({
      client: lossy,
      tableName: stateTable,
      namespace: plain.namespace,
    });
    expect(await store.put('k', 'v2', { expectedVersion: 1 })).toEqual({ key: 'k', version: 2, value: 'v2' });
    expect(sent()).toBe(2);
    expect(await plain.get('k')).toEqual({ key: 'k', version: 2, value: 'v2' });
  });

  it('applies a lost unconditional put and a lost delete once', async () => {
    const plain = freshStore();
    const { client: lossyPut } = faultyClient('UpdateItem', 'lost');
    const putter = new DynamoDBStateStore({
      client: lossyPut,
      tableName: stateTable,
      namespace: plain.namespace,
    });
    expect((await putter.put('k', 'v', undefined)).version).toBe(1);
    const { client: lossyDelete, sent } = faultyClient('UpdateItem', 'lost');
    const deleter = new DynamoDBStateStore({
      client: lossyDelete,
      tableName: stateTable,
      namespace: plain.namespace,
    });
    await deleter.delete('k', { expectedVersion: 1 });
    expect(sent()).toBe(2);
    expect(await plain.get('k')).toBeUndefined();
    expect((await plain.put('k', 'w', { absent: true })).version).toBe(3);
  });

  it('retries a throttled call within the SDK', async () => {
    const { client: throttled, sent } = faultyClient('GetItem', 'throttled');
    const store = new DynamoDBStateStore({ client: throttled, tableName: stateTable, namespace: 'job#none' });
    expect(await store.get('k')).toBeUndefined();
    expect(sent()).toBe(1); // the throttled try never reached the server; the retry did
  });

  it('names the table and what to do when the table is missing', async () => {
    const store = new DynamoDBStateStore({ client, tableName: 'floe-missing-table', namespace: 'job#x' });
    const error = await store.put('k', 1, undefined).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as Error).message).toMatch(/"floe-missing-table" does not exist/);
    expect((error as Error).message).toMatch(/--create/);
    expect((error as Error).message).toMatch(/deploy/);
    await expect(ensureStateTable(client, 'floe-missing-table')).rejects.toThrow(/does not exist.*--create/);
  });

  it('refuses to create tables on an endpoint that is not local, unless asked', async () => {
    const remote = createDynamoDbClient({
      endpoint: 'https://dynamodb.eu-west-1.amazonaws.com',
      region: 'eu-west-1',
    });
    await expect(ensureStateTable(remote, 'floe', { create: true })).rejects.toThrow(
      /Refusing to create.*not a local server/,
    );
    await expect(ensureCatalogTable(remote, 'iceberg', { create: true })).rejects.toThrow(
      /Refusing to create/,
    );
    const regional = createDynamoDbClient({ region: 'eu-west-1', endpoint: undefined });
    if (process.env.AWS_ENDPOINT_URL_DYNAMODB === undefined) {
      await expect(ensureStateTable(regional, 'floe', { create: true })).rejects.toThrow(
        /Refusing to create/,
      );
    }
    await expect(deleteLocalTable(remote, 'floe')).rejects.toThrow(/Refusing to delete/);
  });

  it('refuses a table with another key schema', async () => {
    const catalogTable = uniqueTableName('floe-iceberg');
    catalogTables.push(catalogTable);
    await ensureCatalogTable(client, catalogTable, { create: true });
    await expect(ensureStateTable(client, catalogTable)).rejects.toThrow(
      /key schema \(identifier HASH, namespace RANGE\)/,
    );
  });
});

describe('DynamoDBCatalog on DynamoDB', () => {
  it("writes items in the layout of Iceberg's DynamoDbCatalog", async () => {
    const catalog = await freshCatalog();
    await catalog.compareAndSwap('nexmark.bids', undefined, 's3://w/nexmark/bids/metadata/1.json');
    await catalog.compareAndSwap(
      'nexmark.bids',
      's3://w/nexmark/bids/metadata/1.json',
      's3://w/nexmark/bids/metadata/2.json',
    );
    const { Items } = await client.send(
      new ScanCommand({ TableName: catalog.tableName, ConsistentRead: true }),
    );
    const table = Items?.find((item) => item.identifier?.S === 'nexmark.bids');
    expect(table).toMatchObject({
      identifier: { S: 'nexmark.bids' },
      namespace: { S: 'nexmark' },
      'p.table_type': { S: 'ICEBERG' },
      'p.metadata_location': { S: 's3://w/nexmark/bids/metadata/2.json' },
      'p.previous_metadata_location': { S: 's3://w/nexmark/bids/metadata/1.json' },
    });
    expect(table?.v?.S).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number(table?.created_at?.N)).toBeGreaterThan(1.7e12);
    expect(Number(table?.updated_at?.N)).toBeGreaterThanOrEqual(Number(table?.created_at?.N));
    const namespace = Items?.find((item) => item.identifier?.S === 'NAMESPACE');
    expect(namespace).toMatchObject({ identifier: { S: 'NAMESPACE' }, namespace: { S: 'nexmark' } });
    // Iceberg lists a namespace's tables through this index.
    const indexed = await client.send(
      new QueryCommand({
        TableName: catalog.tableName,
        IndexName: 'namespace-identifier',
        KeyConditionExpression: '#ns = :ns',
        ExpressionAttributeNames: { '#ns': 'namespace' },
        ExpressionAttributeValues: { ':ns': { S: 'nexmark' } },
      }),
    );
    expect(indexed.Items?.map((item) => item.identifier?.S).sort()).toEqual(['NAMESPACE', 'nexmark.bids']);
  });

  it('reads and swaps a table that an Iceberg writer created (its v, its properties)', async () => {
    const catalog = await freshCatalog();
    await client.send(
      new PutItemCommand({
        TableName: catalog.tableName,
        Item: {
          identifier: { S: 'ns.fromiceberg' },
          namespace: { S: 'ns' },
          v: { S: randomUUID() },
          created_at: { N: '1700000000000' },
          updated_at: { N: '1700000000000' },
          'p.table_type': { S: 'ICEBERG' },
          'p.metadata_location': { S: 's3://w/ns/fromiceberg/metadata/00000-a.metadata.json' },
          'p.owner': { S: 'spark' },
        },
      }),
    );
    expect(await catalog.currentMetadataLocation('ns.fromiceberg')).toBe(
      's3://w/ns/fromiceberg/metadata/00000-a.metadata.json',
    );
    expect(
      await catalog.compareAndSwap(
        'ns.fromiceberg',
        's3://w/ns/fromiceberg/metadata/00000-a.metadata.json',
        's3://w/ns/fromiceberg/metadata/00001-b.metadata.json',
      ),
    ).toBe(true);
    const { Item } = await client.send(
      new GetItemCommand({
        TableName: catalog.tableName,
        Key: { identifier: { S: 'ns.fromiceberg' }, namespace: { S: 'ns' } },
      }),
    );
    expect(Item?.['p.owner']).toEqual({ S: 'spark' }); // other properties stay
    expect(Item?.created_at).toEqual({ N: '1700000000000' });
  });

  it('reports a swap whose response was lost, and that the SDK retried, as won', async () => {
    const catalog = await freshCatalog();
    await catalog.compareAndSwap('ns.t', undefined, 'm/1');
    const { client: lossy, sent } = faultyClient('UpdateItem', 'lost');
    const lossyCatalog = new DynamoDBCatalog({ client: lossy, tableName: catalog.tableName });
    expect(await lossyCatalog.compareAndSwap('ns.t', 'm/1', 'm/2')).toBe(true);
    expect(sent()).toBe(2);
    const { client: lossyCreate } = faultyClient(
      'PutItem',
      'lost',
      (input) => (input.Item as { identifier?: { S?: string } }).identifier?.S !== 'NAMESPACE',
    );
    expect(
      await new DynamoDBCatalog({ client: lossyCreate, tableName: catalog.tableName }).compareAndSwap(
        'ns.u',
        undefined,
        'u/1',
      ),
    ).toBe(true);
    expect(await catalog.listTables()).toEqual([
      { name: 'ns.t', metadataLocation: 'm/2' },
      { name: 'ns.u', metadataLocation: 'u/1' },
    ]);
  });

  it('names the table and what to do when the catalog table is missing', async () => {
    const catalog = new DynamoDBCatalog({ client, tableName: 'floe-missing-catalog' });
    await expect(catalog.currentMetadataLocation('ns.t')).rejects.toThrow(
      /"floe-missing-catalog" does not exist.*--create/,
    );
    await expect(catalog.compareAndSwap('ns.t', 'a', 'b')).rejects.toThrow(StorageError);
  });
});
