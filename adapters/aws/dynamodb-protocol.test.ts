/**
 * The commit protocol (CheckpointedProcessor) with its heads in DynamoDBStateStore and its table
 * pointers in DynamoDBCatalog on the local DynamoDB server (moto), the objects in a run
 * directory: the tables must come out exactly as in a run on the local stores, also when the
 * server's answers to writes get lost (the SDK retries them) and when the protocol's own calls
 * fail or lose their answers (it retries the batch).
 */
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExampleName } from '../../examples/index.ts';
import type { CheckpointStores } from '../../runtime/stores/checkpoint-stores.ts';
import {
  cleanRun,
  duplicates,
  expectedRowsTable,
  processorFor,
  runToEnd,
  tableNamesOf,
  tablesOf,
  tempRunDir,
  type Workload,
  workload,
} from '../../test/support/checkpoint-runs.ts';
import { type Fault, faultyStores } from '../../test/support/faulty-stores.ts';
import {
  localDynamoDbClient,
  lossyDynamoDbClient,
  uniqueTableName,
} from '../../test/support/local-dynamodb.ts';
import { runDirectory } from '../local/run-directory.ts';
import { DynamoDBCatalog } from './dynamodb-catalog.ts';
import { DynamoDBStateStore } from './dynamodb-state-store.ts';
import { deleteLocalTable, ensureCatalogTable, ensureStateTable } from './dynamodb-tables.ts';

const client = localDynamoDbClient();
const stateTable = uniqueTableName('floe-protocol');
const catalogTables: string[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  await ensureStateTable(client, stateTable, { create: true });
});
afterAll(async () => {
  await deleteLocalTable(client, stateTable);
  for (const table of catalogTables) await deleteLocalTable(client, table);
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** Fresh stores: heads and catalog on DynamoDB (through `storeClient`), objects in a new run directory. */
async function dynamoStores(
  storeClient: DynamoDBClient = client,
): Promise<{ dir: string; stores: CheckpointStores; catalog: DynamoDBCatalog }> {
  const dir = tempRunDir('floe-dynamodb-');
  dirs.push(dir);
  const catalogTable = uniqueTableName('floe-iceberg');
  catalogTables.push(catalogTable);
  await ensureCatalogTable(client, catalogTable, { create: true });
  const local = runDirectory(dir);
  const catalog = new DynamoDBCatalog({ client: storeClient, tableName: catalogTable });
  const heads = new DynamoDBStateStore({
    client: storeClient,
    tableName: stateTable,
    namespace: `job#${randomUUID()}`,
  });
  return {
    dir,
    catalog,
    stores: { heads, catalog, checkpoints: local.checkpoints, warehouse: local.warehouse },
  };
}

/** The run's tables, read by copying the DynamoDB catalog's pointers into the run directory's local catalog. */
async function tablesVia(dir: string, catalog: DynamoDBCatalog): Promise<Record<string, string[]>> {
  const local = runDirectory(dir).catalog;
  for (const table of await catalog.listTables()) {
    expect(await local.compareAndSwap(table.name, undefined, table.metadataLocation)).toBe(true);
  }
  return tablesOf(dir);
}

const CASES: { name: ExampleName; workload: Workload }[] = [
  { name: 'channel-revenue', workload: workload({ count: 150, batchSize: 30 }) },
  {
    name: 'bids-per-auction',
    workload: workload({ count: 150, batchSize: 30, maxDisorderMs: 20_000, malformedAt: 60 }),
  },
];

describe.each(CASES)('CheckpointedProcessor on DynamoDB: $name', ({ name, workload: w }) => {
  let reference: Record<string, string[]>;

  beforeAll(async () => {
    const clean = await cleanRun(name, w);
    dirs.push(clean.dir);
    reference = await tablesOf(clean.dir);
  });

  function expectExact(tables: Record<string, string[]>): void {
    expect(tables).toEqual(reference);
    const rows = tables[tableNamesOf(name).rows]!;
    expect(duplicates(rows)).toEqual([]);
    expect(rows).toEqual(expectedRowsTable(name, w.bids, tables));
  }

  it('writes the same tables as the local stores', async () => {
    const { dir, stores, catalog } = await dynamoStores();
    await runToEnd(processorFor(name, stores, w, { keepCheckpoints: 4, cleanupEvery: 2 }), w.events);
    expectExact(await tablesVia(dir, catalog));
  });

  it('writes them exactly when every 3rd write answer is lost and the SDK retries it', async () => {
    const lossy = lossyDynamoDbClient(3);
    const { dir, stores, catalog } = await dynamoStores(lossy.client);
    await runToEnd(processorFor(name, stores, w, { keepCheckpoints: 4, cleanupEvery: 2 }), w.events);
    expect(lossy.lost()).toBeGreaterThanOrEqual(2);
    expectExact(await tablesVia(dir, catalog));
  });

  it('writes them exactly when a head write or a pointer swap loses its answer to the protocol', async () => {
    // Numbers of the calls to fault: the 2nd and 5th head puts and the 2nd catalog swap of a clean run.
    const probe = await dynamoStores();
    const counted = faultyStores(probe.stores, { serial: true });
    await runToEnd(processorFor(name, counted.stores, w, { keepCheckpoints: 4, cleanupEvery: 2 }), w.events);
    const heads = counted.log.filter((c) => c.store === 'heads' && c.op === 'put').map((c) => c.n);
    const swaps = counted.log.filter((c) => c.store === 'catalog' && c.op === 'swap').map((c) => c.n);
    const faults: Fault[] = [
      { lostOnce: heads[1]! },
      { lostOnce: heads[4]! },
      { failOnce: heads[4]! },
      { lostOnce: swaps[1]! },
    ];
    for (const fault of faults) {
      const { dir, stores, catalog } = await dynamoStores();
      const faulty = faultyStores(stores, { fault, serial: true });
      await runToEnd(processorFor(name, faulty.stores, w, { keepCheckpoints: 4, cleanupEvery: 2 }), w.events);
      expect(faulty.injected, JSON.stringify(fault)).toBe(true);
      expectExact(await tablesVia(dir, catalog));
    }
  });
});
