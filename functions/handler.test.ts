import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { localCheckpointStores } from '../adapters/local/run-directory.ts';
import bidsPerAuction, { bidsPerAuction as bidsPerAuctionTable } from '../examples/bids-per-auction.ts';
import type { Bid } from '../examples/nexmark/bid.ts';
import { CheckpointedProcessor } from '../runtime/checkpoint/checkpointed-processor.ts';
import { RowTypeError } from '../runtime/errors.ts';
import { count, job, json, TumblingEventTimeWindows, WatermarkStrategy } from '../runtime/index.ts';
import type { KafkaEvent } from '../runtime/source/kafka-event.ts';
import { CompressingObjectStore } from '../runtime/stores/compressing-object-store.ts';
import type { ObjectStore } from '../runtime/stores/object-store.ts';
import { readTable } from '../test/support/iceberg-tables.ts';
import { scratchDir } from '../test/support/scratch.ts';
import { createHandler, defaultStores, setUpFunction } from './handler.ts';
import { jsonLogger } from './logger.ts';

const tempDir = () => scratchDir('floe-handler-');

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
    const handler = createHandler(bidsPerAuction, {
      logger,
      clock: () => 0,
      stores: localCheckpointStores(tempDir()),
    });
    const metrics = await handler(mskEvent());
    expect(metrics).toMatchObject({ records: 12, deadLetters: 1, rows: 6, late: 0 });
    expect(lines.find((l) => l.message === 'dead letter')).toMatchObject({
      level: 'WARN',
      record: { topic: 'bids', partition: 1, offset: 20, stage: 'decode' },
    });
  });

  it("logs dead letters as JSON lines whose own timestamp and level the record's fields never overwrite", async () => {
    const written: string[] = [];
    const logger = jsonLogger({ job: 'bids-per-auction' }, (line) => written.push(line));
    const before = Date.now();
    const handler = createHandler(bidsPerAuction, {
      logger,
      clock: () => 0,
      stores: localCheckpointStores(tempDir()),
    });
    await handler(mskEvent());
    const dead = written
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((l) => l.message === 'dead letter')!;
    expect(dead.level).toBe('WARN');
    // The log's timestamp is when it was written (ISO text), not the record's Kafka timestamp.
    expect(typeof dead.timestamp).toBe('string');
    expect(Date.parse(dead.timestamp as string)).toBeGreaterThanOrEqual(before - 1000);
    expect(dead.record).toMatchObject({ kind: 'record', topic: 'bids', partition: 1, offset: 20 });
    expect(typeof (dead.record as { timestamp: unknown }).timestamp).toBe('number');
  });

  it('skips a redelivered batch, keeping state between invocations of a warm container', async () => {
    const { logger } = capture();
    const handler = createHandler(bidsPerAuction, {
      logger,
      clock: () => 0,
      stores: localCheckpointStores(tempDir()),
    });
    await handler(mskEvent());
    const second = await handler(mskEvent());
    expect(second).toMatchObject({ records: 12, redelivered: 12, rows: 0, deadLetters: 0 });
  });

  it('commits nothing of a partition whose table write failed, so the redelivery writes its rows once', async () => {
    const { logger } = capture();
    const dir = tempDir();
    const stores = localCheckpointStores(dir);
    let failNext = true;
    const warehouse: ObjectStore = Object.create(stores.warehouse);
    warehouse.put = async (key, bytes, options) => {
      if (failNext && key.endsWith('.parquet')) {
        failNext = false;
        throw new Error('S3 unavailable');
      }
      return stores.warehouse.put(key, bytes, options);
    };
    // One try per invocation, so the failure reaches Lambda, which redelivers the batch. Rows in
    // data files the commit writes (few rows would ride in the manifest, for the publish round).
    const processor = new CheckpointedProcessor(bidsPerAuction, {
      stores: { ...stores, warehouse },
      clock: () => 0,
      maxAttempts: 1,
      maxInlineRowsChars: 0,
    });
    const handler = createHandler(bidsPerAuction, { logger, processor });
    await expect(handler(mskEvent())).rejects.toThrow('S3 unavailable');
    // Each partition commits on its own: the one that failed commits now, the other is skipped.
    const retry = await handler(mskEvent());
    expect(retry).toMatchObject({ records: 12, redelivered: 6, commits: 1 });
    expect(await handler(mskEvent())).toMatchObject({ redelivered: 12, commits: 0 });
    const table = await readTable(dir, 'nexmark.bids_per_auction');
    expect(table.rows).toHaveLength(6);
    const dead = await readTable(dir, 'nexmark.bids_per_auction_dead_letters');
    expect(dead.rows).toMatchObject([
      { kind: 'record', topic: 'bids', partition: 1, offset: 20, stage: 'decode' },
    ]);
  });

  it('logs a job error with its coordinates and fails the batch, which stays unacknowledged', async () => {
    const { lines, logger } = capture();
    // The auction written as text into the table's long column: a cast gets it past the compiler.
    const broken = job('bids-per-auction')
      .fromKafka({ value: json<Bid>() })
      .assignTimestampsAndWatermarks(
        WatermarkStrategy.forBoundedOutOfOrderness<Bid>(5_000).withTimestampAssigner((bid) => bid.dateTime),
      )
      .keyBy((bid) => bid.auction, { isKafkaKey: true })
      .window(TumblingEventTimeWindows.of(10_000))
      .aggregate(count(), (auction, window, bids) => ({
        auction: `#${auction}` as unknown as number,
        window_start: window.start,
        window_end: window.end,
        bids,
      }))
      .sinkTo(bidsPerAuctionTable);
    const dir = tempDir();
    const handler = createHandler(broken, { logger, clock: () => 0, stores: localCheckpointStores(dir) });

    await expect(handler(mskEvent())).rejects.toThrow(RowTypeError);

    const logged = lines.find((l) => l.message === 'job error');
    expect(logged).toMatchObject({
      level: 'ERROR',
      error: 'RowTypeError',
      table: 'nexmark.bids_per_auction',
      column: 'auction',
      columnType: 'long',
      value: expect.stringMatching(/^the string "#100\d"$/),
      source: { kind: 'window', batch: [expect.objectContaining({ topic: 'bids' })] },
      batch: expect.arrayContaining([expect.objectContaining({ topic: 'bids', partition: 0 })]),
    });
    expect(lines.some((l) => l.message === 'batch committed')).toBe(false);
    // Deployed fixed, the redelivered batch commits.
    const fixed = createHandler(bidsPerAuction, {
      logger,
      clock: () => 0,
      stores: localCheckpointStores(dir),
    });
    expect(await fixed(mskEvent())).toMatchObject({ records: 12, rows: 6, redelivered: 0 });
  });

  it('processes a self-managed Kafka event the same way', async () => {
    const { logger } = capture();
    const event = { ...mskEvent(), eventSource: 'SelfManagedKafka', eventSourceArn: undefined };
    const metrics = await createHandler(bidsPerAuction, {
      logger,
      clock: () => 0,
      stores: localCheckpointStores(tempDir()),
    })(event);
    expect(metrics).toMatchObject({ records: 12, deadLetters: 1, rows: 6 });
  });

  it('refuses to start in Lambda on a local directory, where each container would keep its own state', () => {
    const saved = { fn: process.env.AWS_LAMBDA_FUNCTION_NAME, dir: process.env.FLOE_RUN_DIR };
    process.env.AWS_LAMBDA_FUNCTION_NAME = 'bids-per-auction';
    delete process.env.FLOE_RUN_DIR;
    try {
      expect(() => createHandler(bidsPerAuction, { logger: capture().logger })).toThrow(
        /in Lambda, createHandler needs shared durable stores.*Set FLOE_RUN_DIR/,
      );
      process.env.FLOE_RUN_DIR = tempDir();
      expect(typeof createHandler(bidsPerAuction, { logger: capture().logger })).toBe('function');
    } finally {
      if (saved.fn === undefined) delete process.env.AWS_LAMBDA_FUNCTION_NAME;
      else process.env.AWS_LAMBDA_FUNCTION_NAME = saved.fn;
      if (saved.dir === undefined) delete process.env.FLOE_RUN_DIR;
      else process.env.FLOE_RUN_DIR = saved.dir;
    }
  });

  it('rejects an event that is not a Kafka event with a clear error', async () => {
    const { logger } = capture();
    const handler = createHandler(bidsPerAuction, { logger, stores: localCheckpointStores(tempDir()) });
    await expect(handler({} as KafkaEvent)).rejects.toThrow(
      /Expected a Kafka event from the Lambda event source mapping \(with a "records" object\)/,
    );
  });
});

describe('the handler in Lambda: metrics and environment', () => {
  const lambdaEnv = (extra: Record<string, string> = {}) => ({
    AWS_LAMBDA_FUNCTION_NAME: 'floe-test',
    FLOE_RUN_DIR: tempDir(),
    ...extra,
  });

  it('writes one EMF line per invocation: namespace Floe, dimension Job, the batch metrics', async () => {
    const lines: string[] = [];
    const now = Date.parse('2026-01-01T00:00:00Z');
    const handler = createHandler(bidsPerAuction, {
      logger: capture().logger,
      clock: () => now,
      env: lambdaEnv(),
      metrics: (line) => lines.push(line),
    });
    const result = await handler(mskEvent());
    expect(lines).toHaveLength(1);
    const emf = JSON.parse(lines[0]!) as Record<string, unknown> & {
      _aws: {
        Timestamp: number;
        CloudWatchMetrics: {
          Namespace: string;
          Dimensions: string[][];
          Metrics: { Name: string; Unit: string }[];
        }[];
      };
    };
    const [directive] = emf._aws.CloudWatchMetrics;
    expect(directive?.Namespace).toBe('Floe');
    expect(directive?.Dimensions).toEqual([['Job']]);
    expect(emf.Job).toBe('bids-per-auction');
    expect(Math.abs(emf._aws.Timestamp - Date.now())).toBeLessThan(60_000);
    const names = directive!.Metrics.map((m) => m.Name);
    expect(names).toEqual([
      'Records',
      'Rows',
      'LateRecords',
      'DeadLetters',
      'WatermarkLagMs',
      'CommitLatencyMs',
      'StoreRequests',
      'StoreRoundTrips',
    ]);
    expect(directive!.Metrics.find((m) => m.Name === 'CommitLatencyMs')?.Unit).toBe('Milliseconds');
    expect(directive!.Metrics.find((m) => m.Name === 'Records')?.Unit).toBe('Count');
    expect(emf).toMatchObject({ Records: 12, Rows: 6, LateRecords: 0, DeadLetters: 1 });
    expect(emf.WatermarkLagMs).toBe(now - result.watermark);
    expect(emf.CommitLatencyMs).toEqual(expect.any(Number));
    expect(emf.StoreRequests as number).toBeGreaterThan(0);
    expect(emf.StoreRoundTrips as number).toBeGreaterThan(0);
    expect(emf.StoreRoundTrips as number).toBeLessThanOrEqual(emf.StoreRequests as number);

    // A redelivery commits nothing: no commit latency, and its own (fewer) store requests.
    await handler(mskEvent());
    const second = JSON.parse(lines[1]!) as Record<string, number>;
    expect(second.CommitLatencyMs).toBeUndefined();
    expect(second).toMatchObject({ Records: 12, Rows: 0 });
    expect(second.StoreRequests).toBeLessThan(emf.StoreRequests as number);
  });

  it('writes no metrics outside Lambda unless asked, and none for a given processor’s stores', async () => {
    const written: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((chunk: string) =>
      written.push(chunk) > 0) as unknown as typeof process.stdout.write;
    try {
      await createHandler(bidsPerAuction, {
        logger: capture().logger,
        env: { FLOE_RUN_DIR: tempDir() },
      })(mskEvent());
    } finally {
      process.stdout.write = write;
    }
    expect(written.filter((l) => l.includes('"_aws"'))).toEqual([]);
    const lines: string[] = [];
    await createHandler(bidsPerAuction, {
      logger: capture().logger,
      stores: localCheckpointStores(tempDir()),
      env: lambdaEnv(),
      metrics: (line) => lines.push(line),
    })(mskEvent());
    const emf = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(emf.Records).toBe(12);
    expect(emf.StoreRequests).toBeUndefined();
  });

  it('reads FLOE_MAX_ATTEMPTS, FLOE_KEEP_CHECKPOINTS and FLOE_PUBLISH_INTERVAL_MS into the processor, FLOE_LOG_LEVEL into the logger', () => {
    const setup = setUpFunction(
      bidsPerAuction,
      {
        env: lambdaEnv({
          FLOE_MAX_ATTEMPTS: '3',
          FLOE_KEEP_CHECKPOINTS: '4',
          FLOE_PUBLISH_INTERVAL_MS: '0',
          FLOE_LOG_LEVEL: 'WARN',
        }),
      },
      {},
    );
    expect(setup.processorOptions).toMatchObject({
      maxAttempts: 3,
      keepCheckpoints: 4,
      publishIntervalMs: 0,
    });
    expect(setup.settings.logLevel).toBe('WARN');
    const defaults = setUpFunction(bidsPerAuction, { env: lambdaEnv() }, {});
    expect(defaults.processorOptions?.maxAttempts).toBeUndefined();
    expect(defaults.processorOptions?.keepCheckpoints).toBeUndefined();
    expect(defaults.processorOptions?.partitionLogs).toBe(true);
    expect(defaults.processorOptions?.consumeIntervalMs).toBeUndefined();
    expect(defaults.processorOptions?.publishIntervalMs).toBeUndefined();
  });

  it('reads FLOE_PARTITION_LOGS and FLOE_CONSUME_INTERVAL_MS into the processor', () => {
    const env = lambdaEnv({ FLOE_PARTITION_LOGS: 'off', FLOE_CONSUME_INTERVAL_MS: '2000' });
    const setup = setUpFunction(bidsPerAuction, { env }, {});
    expect(setup.processorOptions).toMatchObject({ partitionLogs: false, consumeIntervalMs: 2000 });
  });

  it('gives FLOE_CHECKPOINT_COMPRESSION to the AWS stores named by the environment', () => {
    const env = {
      AWS_LAMBDA_FUNCTION_NAME: 'floe-test',
      AWS_REGION: 'eu-west-1',
      FLOE_STATE_TABLE: 'state',
      FLOE_CATALOG_TABLE: 'catalog',
      FLOE_BUCKET: 'bucket',
      FLOE_PREFIX: 'floe',
    };
    for (const codec of ['gzip', 'none', 'zstd'] as const) {
      const stores = defaultStores('bids-per-auction', { ...env, FLOE_CHECKPOINT_COMPRESSION: codec });
      expect(stores.checkpoints).toBeInstanceOf(CompressingObjectStore);
      expect((stores.checkpoints as CompressingObjectStore).codec).toBe(codec);
    }
    // The handler builds its stores from the same environment, metered.
    const setup = setUpFunction(bidsPerAuction, { env: { ...env, FLOE_CHECKPOINT_COMPRESSION: 'gzip' } }, {});
    expect(setup.meter).toBeDefined();
    expect(setup.processorOptions?.stores).toBe(setup.meter?.stores);
  });

  it('fails the cold start on a wrong setting, naming the variable', () => {
    const build = (extra: Record<string, string>) => () =>
      createHandler(bidsPerAuction, { logger: capture().logger, env: lambdaEnv(extra) });
    expect(build({ FLOE_MAX_ATTEMPTS: '0' })).toThrow(
      /FLOE_MAX_ATTEMPTS must be a positive integer, got "0"/,
    );
    expect(build({ FLOE_KEEP_CHECKPOINTS: 'ten' })).toThrow(
      /FLOE_KEEP_CHECKPOINTS must be a positive integer/,
    );
    expect(build({ FLOE_PARTITION_LOGS: 'yes' })).toThrow(/FLOE_PARTITION_LOGS must be on or off, got "yes"/);
    expect(build({ FLOE_CONSUME_INTERVAL_MS: '1s' })).toThrow(
      /FLOE_CONSUME_INTERVAL_MS must be a whole number of milliseconds/,
    );
    expect(build({ FLOE_PUBLISH_INTERVAL_MS: '-5' })).toThrow(
      /FLOE_PUBLISH_INTERVAL_MS must be a whole number of milliseconds \(0 or more\), got "-5"/,
    );
    expect(build({ FLOE_DELIVERY: 'at-least-once' })).toThrow(
      /FLOE_DELIVERY must be exactly-once, got "at-least-once": at-least-once delivery is not implemented yet/,
    );
    expect(build({ FLOE_LOG_LEVEL: 'TRACE' })).toThrow(
      /FLOE_LOG_LEVEL must be one of DEBUG, INFO, WARN, ERROR/,
    );
  });
});
