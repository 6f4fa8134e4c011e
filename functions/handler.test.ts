import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import bidsPerAuction from '../examples/bids-per-auction.ts';
import type { KafkaEvent } from '../runtime/source/kafka-event.ts';
import { createHandler } from './handler.ts';

const fixture = readFileSync(join(import.meta.dirname, '..', 'examples', 'events', 'msk-bids.json'), 'utf8');
const mskEvent = (): KafkaEvent => JSON.parse(fixture) as KafkaEvent;

function capture() {
  const lines: Record<string, unknown>[] = [];
  return {
    lines,
    logger: {
      log: (level: string, message: string, fields?: Readonly<Record<string, unknown>>) =>
        lines.push({ level, message, ...fields }),
    },
  };
}

describe('createHandler', () => {
  it('processes an MSK event and logs the dead letter with its coordinates', async () => {
    const { lines, logger } = capture();
    const handler = createHandler(bidsPerAuction, { logger, clock: () => 0 });
    const metrics = await handler(mskEvent());
    expect(metrics).toMatchObject({ records: 12, deadLetters: 1, rows: 6, late: 0 });
    expect(lines.find((l) => l.message === 'dead letter')).toMatchObject({
      level: 'WARN',
      topic: 'bids',
      partition: 1,
      offset: 20,
      stage: 'decode',
    });
  });

  it('skips a redelivered batch, keeping state between invocations of a warm container', async () => {
    const { logger } = capture();
    const handler = createHandler(bidsPerAuction, { logger, clock: () => 0 });
    await handler(mskEvent());
    const second = await handler(mskEvent());
    expect(second).toMatchObject({ records: 12, redelivered: 12, rows: 0, deadLetters: 0 });
  });

  it('keeps a batch whose output failed out of the state, so the retry writes its rows', async () => {
    const { logger } = capture();
    let failNext = true;
    const written: unknown[] = [];
    const handler = createHandler(bidsPerAuction, {
      logger,
      clock: () => 0,
      sink: {
        async write(result) {
          if (failNext) {
            failNext = false;
            throw new Error('sink unavailable');
          }
          written.push(...result.rows.map((r) => r.row));
        },
      },
    });
    await expect(handler(mskEvent())).rejects.toThrow('sink unavailable');
    const retry = await handler(mskEvent());
    expect(retry).toMatchObject({ records: 12, redelivered: 0, rows: 6 });
    expect(written).toHaveLength(6);
  });

  it('processes a self-managed Kafka event the same way', async () => {
    const { logger } = capture();
    const event = { ...mskEvent(), eventSource: 'SelfManagedKafka', eventSourceArn: undefined };
    const metrics = await createHandler(bidsPerAuction, { logger, clock: () => 0 })(event);
    expect(metrics).toMatchObject({ records: 12, deadLetters: 1, rows: 6 });
  });

  it('rejects an event that is not a Kafka event with a clear error', async () => {
    const { logger } = capture();
    const handler = createHandler(bidsPerAuction, { logger });
    await expect(handler({} as KafkaEvent)).rejects.toThrow(
      /Expected a Kafka event from the Lambda event source mapping \(with a "records" object\)/,
    );
  });
});
