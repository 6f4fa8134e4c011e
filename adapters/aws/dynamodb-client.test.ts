/**
 * The DynamoDB client's retries of throttling, against moto: a throttled request is retried after
 * a backoff, and the requests after it are not slowed down. Regression: with the SDK's `adaptive`
 * retry mode, one throttle switched on a client-side rate limiter that, in a client that had
 * measured little traffic (a Lambda container's), paced every following request at up to 0.6 s
 * for seconds: 40 reads took 5.3 s after one throttle instead of 0.3 s.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  localDynamoDbClient,
  throttlingDynamoDbClient,
  uniqueTableName,
} from '../../test/support/local-dynamodb.ts';
import { DynamoDBStateStore } from './dynamodb-state-store.ts';
import { deleteLocalTable, ensureStateTable } from './dynamodb-tables.ts';

const admin = localDynamoDbClient();
const table = uniqueTableName('floe-client');
beforeAll(() => ensureStateTable(admin, table, { create: true }));
afterAll(() => deleteLocalTable(admin, table));

/** Milliseconds of `count` reads in a row through the client. */
async function reads(
  client: ReturnType<typeof localDynamoDbClient>,
  count: number,
  from = 0,
): Promise<number> {
  const store = new DynamoDBStateStore({ client, tableName: table, namespace: 'retries' });
  const start = performance.now();
  for (let i = from; i < from + count; i++) await store.get(`k${i}`);
  return performance.now() - start;
}

describe('createDynamoDbClient retries', () => {
  it('retries a throttled request, and does not slow down the requests after it', async () => {
    const baseline = await reads(localDynamoDbClient(), 40);
    // The 5th request is throttled once (ProvisionedThroughputExceededException), nothing else.
    const throttled = throttlingDynamoDbClient(5, { limit: 1 });
    await reads(throttled.client, 5);
    expect(throttled.counts()).toMatchObject({ operations: 5, attempts: 6, injected: 1 });

    const after = await reads(throttled.client, 40, 5);
    expect(throttled.counts().injected).toBe(1);
    expect(
      after,
      `40 reads took ${after.toFixed(0)} ms after a throttle, ${baseline.toFixed(0)} ms before`,
    ).toBeLessThan(Math.max(2_000, 4 * baseline));
  });
});
