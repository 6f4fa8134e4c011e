import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { localCheckpointStores } from '../adapters/local/run-directory.ts';
import bidsPerAuction from '../examples/bids-per-auction.ts';
import maxPrice from '../examples/max-price.ts';
import { ConsumerLease } from '../runtime/checkpoint/consumer-lease.ts';
import { safeName } from '../runtime/checkpoint/layout.ts';
import type { KafkaEvent } from '../runtime/source/kafka-event.ts';
import idleBidsPerBidder from '../test/support/jobs/idle-bids-per-bidder.ts';
import { scratchDir } from '../test/support/scratch.ts';
import { createHandler } from './handler.ts';
import { createTicker } from './ticker.ts';

const fixture = readFileSync(join(import.meta.dirname, '..', 'examples', 'events', 'msk-bids.json'), 'utf8');
const mskEvent = (): KafkaEvent => JSON.parse(fixture) as KafkaEvent;

function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = {
    log: (level: string, message: string, fields?: Readonly<Record<string, unknown>>) =>
      lines.push({ level, message, ...fields }),
  };
  return { lines, logger };
}

describe('createTicker', () => {
  it('fires, on the schedule, the windows of a topic that went silent, and logs each tick', async () => {
    const stores = localCheckpointStores(scratchDir('floe-ticker-'));
    const clock = { now: Date.parse('2026-01-01T00:00:00Z') };
    const handler = createHandler(idleBidsPerBidder, {
      stores,
      clock: () => clock.now,
      logger: capture().logger,
    });
    const { lines, logger } = capture();
    const ticker = createTicker(idleBidsPerBidder, { stores, clock: () => clock.now, logger });
    expect(lines[0]).toMatchObject({ level: 'INFO', message: 'ticker loaded', idlenessMs: 60_000 });
    await handler(mskEvent());

    expect(await ticker({})).toMatchObject({ commits: 0, rows: 0 });
    expect(lines.at(-1)).toMatchObject({ message: 'tick: nothing to commit' });
    clock.now += 40_000; // records the processing time the downtime rule held back
    expect(await ticker({})).toMatchObject({ commits: 1, rows: 0 });
    clock.now += 60_000; // every partition idle: the watermark follows the wall clock
    const fired = await ticker({});
    expect(fired.commits).toBe(1);
    expect(fired.rows).toBeGreaterThan(0);
    // The tick commits the rows, then its publish round appends them.
    expect(lines.at(-2)).toMatchObject({ level: 'INFO', message: 'tick committed', rows: fired.rows });
    expect(lines.at(-1)).toMatchObject({ level: 'INFO', message: 'published' });
  });

  it('writes an EMF line per tick, with the ticker as a property and the same Job dimension', async () => {
    const env = {
      AWS_LAMBDA_FUNCTION_NAME: 'floe-ticker',
      FLOE_RUN_DIR: scratchDir('floe-ticker-'),
    };
    const clock = { now: Date.parse('2026-01-01T00:00:00Z') };
    await createHandler(idleBidsPerBidder, {
      env,
      clock: () => clock.now,
      logger: capture().logger,
      metrics: false,
    })(mskEvent());
    const lines: string[] = [];
    const ticker = createTicker(idleBidsPerBidder, {
      env,
      clock: () => clock.now,
      logger: capture().logger,
      metrics: (line) => lines.push(line),
    });
    clock.now += 40_000;
    await ticker();
    clock.now += 60_000;
    const fired = await ticker();
    expect(lines).toHaveLength(2);
    const emf = JSON.parse(lines[1]!) as Record<string, unknown> & {
      _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][] }[] };
    };
    expect(emf._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'Floe', Dimensions: [['Job']] });
    expect(emf).toMatchObject({
      Job: idleBidsPerBidder.name,
      function: 'ticker',
      Records: 0,
      Rows: fired.rows,
    });
    expect(emf.CommitLatencyMs).toEqual(expect.any(Number));
    expect(emf.StoreRequests as number).toBeGreaterThan(0);
  });

  it('logs the dead letters of the records it consumes from partition logs as the handler does, under `record`', async () => {
    const stores = localCheckpointStores(scratchDir('floe-ticker-'));
    let now = Date.parse('2026-01-01T00:00:00Z');
    // Another process holds the consumer lease: the handler's batch goes to its partitions' logs.
    const held = await new ConsumerLease(stores.heads, safeName(maxPrice.name), 60_000, () => now).acquire();
    expect(held).toBeDefined();
    const handler = createHandler(maxPrice, { stores, clock: () => now, logger: capture().logger });
    expect(await handler(mskEvent())).toMatchObject({ deadLetters: 0 });
    // The holder crashed; its lease lapses, and the next tick consumes the logs.
    now += 61_000;
    const { lines, logger } = capture();
    const ticker = createTicker(maxPrice, { stores, clock: () => now, logger });
    expect(await ticker()).toMatchObject({ deadLetters: 1 });
    const dead = lines.filter((line) => line.message === 'dead letter');
    expect(dead).toEqual([
      expect.objectContaining({
        level: 'WARN',
        record: expect.objectContaining({ topic: 'bids', partition: 1, offset: 20, stage: 'decode' }),
      }),
    ]);
  });

  it('says once that ticks only publish for a job without idleness, and publishes what the handler committed', async () => {
    const { lines, logger } = capture();
    const stores = localCheckpointStores(scratchDir('floe-ticker-'));
    const ticker = createTicker(bidsPerAuction, { stores, logger });
    expect(lines).toEqual([
      expect.objectContaining({ level: 'INFO', message: 'ticker loaded: ticks only publish for this job' }),
    ]);
    expect(await ticker()).toMatchObject({ commits: 0 });
    // The handler commits; its round is not due yet (one ran at its first commit).
    let now = Date.parse('2026-01-01T00:00:00Z');
    const handler = createHandler(bidsPerAuction, { stores, clock: () => now, logger: capture().logger });
    await handler(mskEvent());
    now += 1_000;
    const first = mskEvent();
    const later: KafkaEvent = {
      ...first,
      records: Object.fromEntries(
        Object.entries(first.records).map(([id, records]) => [
          id,
          records.map((r) => ({ ...r, offset: r.offset + 1_000 })),
        ]),
      ),
    };
    await handler(later);
    const published = lines.length;
    await ticker();
    expect(lines.slice(published)).toContainEqual(
      expect.objectContaining({ level: 'INFO', message: 'published', epochs: expect.any(Number) }),
    );
  });
});
