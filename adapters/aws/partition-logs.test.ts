/**
 * Partition logs on the AWS stores (DynamoDB heads and log heads through moto, segments in S3
 * through versitygw): the scenarios of test/support/log-scenarios.ts, which
 * runtime/checkpoint/partition-logs.test.ts runs on the local stores.
 */
import { afterAll, describe, it } from 'vitest';
import { awsLocations } from '../../test/support/aws-locations.ts';
import {
  appendDuringConsume,
  consumersRacing,
  crashedConsumerLeaseLapses,
  directConsume,
  directConsumeCutShort,
  logCleanup,
  partitionsInParallel,
} from '../../test/support/log-scenarios.ts';

const aws = awsLocations();
afterAll(() => aws.cleanup());

describe('partition logs on the AWS stores', () => {
  it('one process per partition at once: no append waits for or redoes another partition, rows exact', async () => {
    await partitionsInParallel('max-price', aws.factory);
  });

  it('a process that finds the consumer lease free consumes its batch directly, writing no log', async () => {
    await directConsume('max-price', aws.factory);
  });

  it('a direct consume that cannot take all the logs hold in one round logs its batch instead: nothing skipped', async () => {
    await directConsumeCutShort('bidder-sessions', aws.factory);
  });

  it('two consumers racing: one commit lands, the other reloads and finds the records consumed', async () => {
    await consumersRacing('bidder-sessions', aws.factory);
  });

  it('a partition appending while another process consumes is consumed before that process returns', async () => {
    await appendDuringConsume('channel-revenue', aws.factory);
  });

  it('a consumer that crashed holding the lease: consumption resumes when the lease lapses', async () => {
    await crashedConsumerLeaseLapses('max-price', aws.factory);
  });

  it('cleanup deletes consumed segments and old orphans, and keeps what is not consumed', async () => {
    await logCleanup('max-price', aws.factory);
  });
});
