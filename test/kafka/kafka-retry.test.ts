/**
 * `floe run --kafka` when the handler fails: the same batch is retried after a backoff, with one
 * log line per failure, the partition waiting; the group's offset moves only after the success,
 * and the tables come out as without the failures.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { localCheckpointStores } from '../../adapters/local/run-directory.ts';
import { runKafkaJob } from '../../cli/kafka-run.ts';
import bidsPerAuction from '../../examples/bids-per-auction.ts';
import { generateBids } from '../../examples/nexmark/generator.ts';
import type { Job } from '../../runtime/job/job.ts';
import type { CheckpointStores } from '../../runtime/stores/checkpoint-stores.ts';
import { removeScratch } from '../support/cleanup.ts';
import { floe } from '../support/floe-cli.ts';
import { canonicalRows, readTable } from '../support/iceberg-tables.ts';
import { kafkaBrokers, uniqueTopic } from '../support/local-kafka.ts';
import { EXAMPLE_REFERENCES } from '../support/nexmark-reference.ts';

const scratch = mkdtempSync(join(tmpdir(), 'floe-kafka-retry-'));
afterAll(() => removeScratch(scratch));

/** Local stores whose head writes fail `failures` times (a store outage the processor's own retries outlast). */
function failingHeads(dir: string, failures: number): CheckpointStores {
  const stores = localCheckpointStores(dir);
  let left = failures;
  const heads = Object.create(stores.heads) as typeof stores.heads;
  heads.put = (...args) => {
    if (left > 0) {
      left--;
      return Promise.reject(new Error('simulated store outage'));
    }
    return stores.heads.put(...args);
  };
  return { ...stores, heads };
}

it('retries a failed batch with backoff and a log line, and loses or doubles nothing', async () => {
  const brokers = await kafkaBrokers();
  const topic = uniqueTopic('retry');
  const bids = generateBids({ seed: 3, count: 300, eventsPerSecond: 50, auctions: 10, bidders: 10 });
  const input = join(scratch, 'bids.jsonl');
  writeFileSync(input, bids.map((bid) => `${JSON.stringify(bid)}\n`).join(''));
  const produced = await floe(
    'produce',
    '--kafka',
    brokers,
    '--topic',
    topic,
    '--input',
    input,
    '--key',
    'auction',
  );
  expect(produced.code, produced.stderr).toBe(0);

  const dir = join(scratch, 'run');
  const lines: string[] = [];
  const report = await runKafkaJob(
    bidsPerAuction as unknown as Job<unknown>,
    {
      brokers,
      topic,
      group: uniqueTopic('g'),
      batchSize: 100,
      batchingWindowMs: 100,
      stopAtEnd: true,
      drain: true,
    },
    // The processor tries a batch 8 times before the handler fails: 10 failures fail one invocation.
    { stores: failingHeads(dir, 10), dir, log: (line) => lines.push(line) },
  );
  expect(report.retries).toBe(1);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(
    new RegExp(
      `^floe run: ${topic}-0 offsets 0-99: the handler failed \\(attempt 1\\): .*simulated store outage.*; retrying the same batch in 1 s`,
    ),
  );
  expect(report).toMatchObject({ records: 300, batches: 3, offsetCommits: 3, drained: true });
  expect(canonicalRows((await readTable(dir, 'nexmark.bids_per_auction')).rows)).toEqual(
    canonicalRows(EXAMPLE_REFERENCES['bids-per-auction'](bids)),
  );
}, 120_000);
