/**
 * What an invocation costs on AWS, counted: requests and sequential round trips per commit, with
 * a latency of 10-20 ms injected into every request (an SDK middleware), so that requests sent
 * together overlap as they do against AWS. The counts are the design's (docs/design.md, "Round
 * trips per invocation") and do not grow with the batch: no request is per record.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { meterRequests, type RequestCounts } from '../../runtime/stores/request-meter.ts';
import { processorFor, workload } from '../../test/support/checkpoint-runs.ts';
import { localDynamoDbClient, uniqueTableName } from '../../test/support/local-dynamodb.ts';
import { requireLocalS3 } from '../../test/support/local-s3.ts';
import { awsCheckpointStores, createLocalAwsStores } from './aws-stores.ts';
import { deleteLocalTable } from './dynamodb-tables.ts';
import { createS3Client } from './s3-object-store.ts';

type Next = (args: unknown) => Promise<unknown>;
interface MiddlewareStack {
  add(middleware: (next: Next) => Next, options: { step: 'finalizeRequest'; name: string }): void;
}

/** Every request of the client waits 10-20 ms before it is sent, as on a network; `sent` counts them. */
function withLatency<C extends DynamoDBClient | S3Client>(client: C, sent?: { requests: number }): C {
  (client.middlewareStack as unknown as MiddlewareStack).add(
    (next) => async (args) => {
      if (sent !== undefined) sent.requests++;
      await sleep(10 + Math.random() * 10);
      return next(args);
    },
    { step: 'finalizeRequest', name: 'floeInjectedLatency' },
  );
  return client;
}

/** Requests per operation, without bytes: what a commit asks of the stores. */
function shape(counts: RequestCounts): Record<string, number> {
  return Object.fromEntries(Object.entries(counts.operations).map(([op, c]) => [op, c.requests]));
}

/**
 * Stores on new local tables and a new S3 prefix, every request delayed as on a network; `s3Sent`
 * counts the S3 client's requests.
 */
async function latencyStores(s3Sent?: { requests: number }) {
  requireLocalS3();
  const dynamodb = withLatency(localDynamoDbClient());
  const config = {
    job: 'round-trips',
    stateTable: uniqueTableName('floe-rt'),
    catalogTable: uniqueTableName('floe-rt-iceberg'),
    objects: `s3://floe-round-trips/${randomUUID()}`,
    dynamodb,
    s3: withLatency(createS3Client(), s3Sent),
  };
  await createLocalAwsStores(config);
  const cleanup = async () => {
    await deleteLocalTable(dynamodb, config.stateTable);
    await deleteLocalTable(dynamodb, config.catalogTable);
  };
  return { config, cleanup };
}

describe('round trips of an invocation on AWS', () => {
  it.each([
    [100, 'in the manifest', 'few rows'],
    [1_000, 'in a data file', 'more rows than maxInlineRowsChars'],
    [100, 'in a data file', 'maxInlineRowsChars: 0'],
  ] as const)(
    'a warm commit takes 3 round trips, and a publish round after it 7 or 8, whatever the batch size (%i records, rows %s: %s)',
    async (batchSize, rows, why) => {
      const { config, cleanup } = await latencyStores();
      try {
        const meter = meterRequests(awsCheckpointStores(config));
        // One partition, tumbling 10 s windows: at 2 bids/s of event time a batch of 100 or more
        // spans 50 s or more, so every batch fires windows and commits rows.
        const w = workload({ count: batchSize * 6, batchSize, partitions: 1, eventsPerSecond: 2 });
        let now = 1_000_000;
        const inFiles = rows === 'in a data file';
        const processor = processorFor('bids-per-auction', meter.stores, w, {
          keepCheckpoints: 100,
          cleanupEvery: 100,
          clock: () => now,
          publishIntervalMs: 10_000,
          ...(why === 'maxInlineRowsChars: 0' ? { maxInlineRowsChars: 0 } : {}),
        });
        // Cold: creates the head, runs the first round (creates the item and the tables).
        await processor.process(w.events[0]!);
        meter.take();
        for (const event of w.events.slice(1, 3)) {
          now += 1_000;
          const outcome = await processor.process(event);
          const counts = meter.take();
          expect(outcome.metrics.records).toBe(batchSize);
          expect(outcome.rows.length).toBeGreaterThan(0);
          expect(outcome.round?.ran).toBe(false);
          // Read the head; write the manifest that holds the (small) state and the rows, or names
          // the data file written beside it; write the head (the commit). No publish: the round
          // is not due, and this process knows it without asking (it ran the last one).
          expect(shape(counts)).toEqual({
            'heads.get': 1,
            ...(inFiles ? { 'warehouse.put': 1 } : {}),
            'checkpoints.put': 1,
            'heads.put': 1,
          });
          expect(counts.roundTrips).toBe(3);
        }
        now += 10_000;
        const outcome = await processor.process(w.events[3]!);
        const counts = meter.take();
        expect(outcome.round?.ran).toBe(true);
        expect(outcome.round?.epochs).toBe(3);
        expect(outcome.round?.snapshots.map((s) => s.files)).toEqual([inFiles ? 3 : 1]);
        // The commit's 3, then the round: the committer item (GetItem); the lease (UpdateItem)
        // and the heads (Query) together; with rows in the manifests, ONE data file of all three
        // epochs' rows; one table with rows: Iceberg manifest, manifest list, metadata file, then
        // the catalog's compare-and-swap (the warm table cache: no reads); the item again,
        // recording what is published. The manifests are this process's own.
        expect(shape(counts)).toEqual({
          'heads.get': 2,
          'heads.list': 1,
          'warehouse.put': 1 + 3,
          'checkpoints.put': 1,
          'heads.put': 1 + 2,
          'catalog.compareAndSwap': 1,
        });
        expect(counts.roundTrips).toBe(3 + (inFiles ? 7 : 8));
      } finally {
        await cleanup();
      }
    },
  );

  it.each([
    {
      where: 'in the head with its manifest',
      maxInlineStateChars: undefined,
      // Read the head; write the head, which holds the manifest and the state (the commit).
      requests: { 'heads.get': 1, 'heads.put': 1 },
      roundTrips: 2,
    },
    {
      where: 'in a state object (maxInlineStateChars 0)',
      maxInlineStateChars: 0,
      // Read the head; stage the state delta (a DynamoDB item); write the head, which holds the
      // manifest (the commit).
      requests: { 'heads.get': 1, 'checkpoints.put': 1, 'heads.put': 1 },
      roundTrips: 3,
    },
  ])(
    'a warm commit that fires no window, its state $where, takes $roundTrips round trips and as many requests, none of them to S3',
    async ({ maxInlineStateChars, requests, roundTrips }) => {
      const s3 = { requests: 0 };
      const { config, cleanup } = await latencyStores(s3);
      try {
        const meter = meterRequests(awsCheckpointStores(config));
        // At 1,000 bids/s of event time a batch of 100 spans 0.1 s: most batches fire no 10 s window.
        const w = workload({ count: 100 * 12, batchSize: 100, partitions: 1, eventsPerSecond: 1_000 });
        let now = 1_000_000;
        const processor = processorFor('bids-per-auction', meter.stores, w, {
          clock: () => now,
          publishIntervalMs: 3_600_000,
          ...(maxInlineStateChars === undefined ? {} : { maxInlineStateChars }),
        });
        await processor.process(w.events[0]!);
        meter.take();
        let quiet = 0;
        for (const event of w.events.slice(1)) {
          now += 500;
          s3.requests = 0;
          const outcome = await processor.process(event);
          const counts = meter.take();
          if (outcome.rows.length > 0) continue;
          expect(s3.requests).toBe(0);
          quiet++;
          expect(shape(counts)).toEqual(requests);
          expect(counts.roundTrips).toBe(roundTrips);
        }
        expect(quiet).toBeGreaterThan(5);
      } finally {
        await cleanup();
      }
    },
  );
});
