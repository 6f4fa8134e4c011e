/**
 * The commit protocol on awsCheckpointStores while DynamoDB throttles
 * (`ProvisionedThroughputExceededException`, `ThrottlingException`) and S3 answers 503 SlowDown:
 * the faults are injected into the SDK clients' middleware below their retry loops
 * (test/support/local-dynamodb.ts `throttlingDynamoDbClient`, local-s3.ts `slowDownS3Client`), so
 * the SDK backs off and retries, as against AWS. The protocol sees no error; the tables must be
 * exactly the local clean run's and the brute-force reference's, and the SDKs must have retried.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { ExampleName } from '../../examples/index.ts';
import { awsLocations } from '../../test/support/aws-locations.ts';
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
import { throttlingDynamoDbClient } from '../../test/support/local-dynamodb.ts';
import { slowDownS3Client } from '../../test/support/local-s3.ts';

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups) await cleanup();
});

const EXAMPLES: readonly { name: ExampleName; scope: string }[] = [
  { name: 'bids-per-auction', scope: 'a commit group per partition' },
  { name: 'bidder-sessions', scope: 'one job group' },
];

describe.each(EXAMPLES)('$name ($scope) on throttling AWS stores', ({ name }) => {
  // Cleanup after every commit, so its lists and batch deletes are throttled too.
  const w = workload({ count: 100, batchSize: 25, maxDisorderMs: 20_000, malformedAt: 40 });

  it('every 20th DynamoDB request throttled and every 20th S3 request answered 503 SlowDown: the SDKs retry, the tables are exact', async () => {
    const dynamodb = throttlingDynamoDbClient(20);
    const s3 = slowDownS3Client(20);
    const aws = awsLocations({ dynamodb: dynamodb.client, s3: s3.client });
    cleanups.push(() => aws.cleanup());
    const location = await aws.factory();

    await runToEnd(processorFor(name, location.open(), w, { keepCheckpoints: 2, cleanupEvery: 1 }), w.events);

    for (const [client, counts] of [
      ['DynamoDB', dynamodb.counts()],
      ['S3', s3.counts()],
    ] as const) {
      const retries = counts.attempts - counts.operations;
      expect(retries, `${client} retries`).toBeGreaterThan(0);
      // Every injected answer was retried by the SDK, and nothing else was.
      expect(retries, `${client} retries`).toBe(counts.injected);
    }
    const tables = await tablesOf(location.open());
    expect(tables).toEqual(await tablesOf((await cleanRun(name, w)).dir));
    const rows = tables[tableNamesOf(name).rows]!;
    expect(rows).toEqual(expectedRowsTable(name, w.bids, tables));
    for (const contents of Object.values(tables)) expect(duplicates(contents)).toEqual([]);
  });
});
