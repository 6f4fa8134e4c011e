import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { localCheckpointStores } from '../adapters/local/run-directory.ts';
import { createHandler } from '../functions/handler.ts';
import { payloadBytes } from '../runtime/event-source-mapping/event-builder.ts';
import { LAMBDA_PAYLOAD_LIMIT_BYTES } from '../runtime/source/kafka-event.ts';
import { removeScratch } from '../test/support/cleanup.ts';
import { rssEvent } from './rss.ts';
import job from './rss-job.ts';

const scratch = mkdtempSync(join(tmpdir(), 'floe-rss-'));
afterAll(() => removeScratch(scratch));

describe('the RSS figure', () => {
  it('measures one Lambda-sized event with 100,000 distinct keys, all but the last record’s firing in it', async () => {
    const event = rssEvent();
    const records = Object.values(event.records).flat();
    expect(records).toHaveLength(10_000);
    expect(payloadBytes(event)).toBeLessThanOrEqual(LAMBDA_PAYLOAD_LIMIT_BYTES);
    expect(payloadBytes(event)).toBeGreaterThan(LAMBDA_PAYLOAD_LIMIT_BYTES - 20_000);
    const keys = new Set(
      records.flatMap(
        (r) => (JSON.parse(Buffer.from(r.value!, 'base64').toString()) as { keys: number[] }).keys,
      ),
    );
    expect(keys.size).toBe(100_000);

    const handler = createHandler(job, {
      stores: localCheckpointStores(join(scratch, 'run')),
      logger: { log() {} },
      metrics: false,
    });
    const result = await handler(event);
    // The job's windows merge partitions, and this process finds the consumer lease free: the job
    // group consumes the batch directly, in one commit, as the deployed handler does.
    expect(result).toMatchObject({ records: 10_000, rows: 99_990, commits: 1, deadLetters: 0, late: 0 });
  });
});
