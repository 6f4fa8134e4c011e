/**
 * Reference tests for every example job, and so for every window kind: the rows the engine
 * emits for generated Nexmark bids, spread over Kafka partitions by the bids' key (the auction)
 * and delivered in batches as the Lambda event source mapping would, must equal a brute-force
 * computation from the bids alone, straight from Flink's window definitions
 * (test/support/nexmark-reference.ts, shared with test/iceberg). The generator keeps event-time disorder (at most 4 s) below the jobs'
 * out-of-orderness bound (5 s), so no record is late and every window fires exactly once.
 */

import { describe, expect, it } from 'vitest';
import bidderSessionsJob from '../../examples/bidder-sessions.ts';
import bidsPerAuctionJob from '../../examples/bids-per-auction.ts';
import channelRevenueJob from '../../examples/channel-revenue.ts';
import hotItemsJob from '../../examples/hot-items.ts';
import maxPriceJob from '../../examples/max-price.ts';
import type { Bid } from '../../examples/nexmark/bid.ts';
import { generateBids } from '../../examples/nexmark/generator.ts';
import { bidRecord } from '../../examples/nexmark/topic.ts';
import type { BatchResult } from '../../runtime/engine/batch-result.ts';
import { Engine } from '../../runtime/engine/engine.ts';
import { newEngineState } from '../../runtime/engine/state.ts';
import {
  eventBatches,
  type Interleave,
  kafkaEvent,
  produceToTopic,
  type TopicLog,
} from '../../runtime/event-source-mapping/event-builder.ts';
import type { Job } from '../../runtime/job/job.ts';
import type { KafkaEventRecord } from '../../runtime/source/kafka-event.ts';
import {
  alignedWindows,
  bidderSessions,
  cumulativeWindows,
  EXAMPLE_REFERENCES,
  multiset,
  perWindowAndKey,
  type Row,
} from '../support/nexmark-reference.ts';

const TOPIC = 'bids';

interface Example {
  readonly name: string;
  readonly job: Job<unknown>;
  /** What the job must write for these bids, computed without the engine. */
  readonly reference: (bids: readonly Bid[]) => Row[];
}

const EXAMPLES: readonly Example[] = [
  {
    name: 'bids-per-auction (tumbling 10 s, keyed by the Kafka key)',
    job: bidsPerAuctionJob as Job<unknown>,
    reference: EXAMPLE_REFERENCES['bids-per-auction'],
  },
  {
    name: 'hot-items (sliding 10 s every 2 s, keyed by the Kafka key)',
    job: hotItemsJob as Job<unknown>,
    reference: EXAMPLE_REFERENCES['hot-items'],
  },
  {
    name: 'bidder-sessions (sessions with a 10 s gap, keyed by another field)',
    job: bidderSessionsJob as Job<unknown>,
    reference: EXAMPLE_REFERENCES['bidder-sessions'],
  },
  {
    name: 'channel-revenue (cumulative 10 s steps up to 60 s, keyed by another field)',
    job: channelRevenueJob as Job<unknown>,
    reference: EXAMPLE_REFERENCES['channel-revenue'],
  },
  {
    name: 'max-price (tumbling 10 s over all bids, windowAll)',
    job: maxPriceJob as Job<unknown>,
    reference: EXAMPLE_REFERENCES['max-price'],
  },
];

// --- Running a job as Lambda would ----------------------------------------------------------

interface Delivery {
  readonly batchSize: number;
  readonly interleave: Interleave;
  /**
   * At-least-once delivery: every event after the first arrives together with the records of the
   * event before it again, as after a failed invocation.
   */
  readonly redeliver?: boolean;
}

interface Run {
  readonly rows: Row[];
  readonly updates: number;
  readonly results: BatchResult<unknown>[];
}

/** Feeds the topic to a fresh engine, batch by batch, then ends the input. */
function run(job: Job<unknown>, log: TopicLog, delivery: Delivery): Run {
  const engine = new Engine(job);
  // The local runner names the topic's partitions, so the job watermark waits for all of them.
  const state = newEngineState(log.partitions.map((_, partition) => ({ topic: log.topic, partition })));
  const results: BatchResult<unknown>[] = [];
  let now = 1_000;
  let previous: KafkaEventRecord[] = [];
  for (const event of eventBatches(log, { batchSize: delivery.batchSize, interleave: delivery.interleave })) {
    const records = Object.values(event.records).flat();
    const delivered = delivery.redeliver ? kafkaEvent([...previous, ...records]) : event;
    results.push(engine.processBatch(state, delivered, { now }));
    previous = records;
    now += 500;
  }
  results.push(engine.drain(state, now));
  const emitted = results.flatMap((r) => r.rows);
  return {
    rows: emitted.map((r) => r.row as Row),
    updates: emitted.filter((r) => r.update).length,
    results,
  };
}

// --- Cases -----------------------------------------------------------------------------------

interface Case {
  readonly name: string;
  readonly seed: number;
  readonly count: number;
  /** Zipf exponent over auctions, bidders and channels. */
  readonly skew: number;
  readonly eventsPerSecond: number;
  readonly partitions: number;
  readonly delivery: Delivery;
  readonly startTime?: number;
  readonly maxDisorderMs?: number;
}

const CASES: readonly Case[] = [
  {
    name: 'one partition, batches of 1000',
    seed: 1,
    count: 3_000,
    skew: 0,
    eventsPerSecond: 50,
    partitions: 1,
    delivery: { batchSize: 1_000, interleave: 'round-robin' },
  },
  {
    name: 'hot keys on 3 partitions, batches of 100 taken round-robin',
    seed: 2,
    count: 3_000,
    skew: 1.1,
    eventsPerSecond: 200,
    partitions: 3,
    delivery: { batchSize: 100, interleave: 'round-robin' },
  },
  {
    name: 'very hot keys on 4 partitions, batches of 7 in a random interleaving',
    seed: 3,
    count: 2_000,
    skew: 2,
    eventsPerSecond: 20,
    partitions: 4,
    delivery: { batchSize: 7, interleave: { seed: 3 } },
  },
  {
    name: '7 partitions delivered one after another, batches of 1000',
    seed: 4,
    count: 3_000,
    skew: 1.1,
    eventsPerSecond: 500,
    partitions: 7,
    delivery: { batchSize: 1_000, interleave: 'sequential' },
  },
  {
    name: 'sparse bids (many sessions) on 7 partitions, batches of 100 in a random interleaving',
    seed: 5,
    count: 2_000,
    skew: 0,
    eventsPerSecond: 10,
    partitions: 7,
    delivery: { batchSize: 100, interleave: { seed: 5 } },
  },
  {
    name: 'negative event times crossing zero on 4 partitions, batches of 7',
    seed: 6,
    count: 2_500,
    skew: 1.1,
    eventsPerSecond: 50,
    partitions: 4,
    startTime: -95_000,
    delivery: { batchSize: 7, interleave: 'round-robin' },
  },
  {
    name: 'timestamps in order (no disorder) on 3 partitions, batches of 100',
    seed: 7,
    count: 3_000,
    skew: 0.5,
    eventsPerSecond: 100,
    partitions: 3,
    maxDisorderMs: 0,
    delivery: { batchSize: 100, interleave: { seed: 7 } },
  },
  {
    name: 'every batch redelivered with the next one (at least once) on 4 partitions',
    seed: 8,
    count: 2_000,
    skew: 1.1,
    eventsPerSecond: 100,
    partitions: 4,
    delivery: { batchSize: 100, interleave: { seed: 8 }, redeliver: true },
  },
  {
    name: 'batches of 1 on 3 partitions in a random interleaving',
    seed: 9,
    count: 400,
    skew: 1.1,
    eventsPerSecond: 20,
    partitions: 3,
    delivery: { batchSize: 1, interleave: { seed: 9 } },
  },
  {
    name: 'batches of 1 on 1 partition',
    seed: 10,
    count: 300,
    skew: 0,
    eventsPerSecond: 5,
    partitions: 1,
    delivery: { batchSize: 1, interleave: 'round-robin' },
  },
];

function bidsFor(c: Case): Bid[] {
  return generateBids({
    seed: c.seed,
    count: c.count,
    skew: c.skew,
    eventsPerSecond: c.eventsPerSecond,
    auctions: 60,
    bidders: 80,
    channels: 6,
    ...(c.startTime === undefined ? {} : { startTime: c.startTime }),
    ...(c.maxDisorderMs === undefined ? {} : { maxDisorderMs: c.maxDisorderMs }),
  });
}

/**
 * Hand-placed bids (in arrival order) on the edges the generator rarely hits: the first and last
 * millisecond of windows, negative times, sessions that touch (merge) or miss by 1 ms, and a
 * late-arriving bid that bridges two sessions of a bidder whose bids sit on different partitions.
 * Each bid is at most 4 s behind the newest before it, like the generated ones.
 */
const EDGE_BIDS: readonly Bid[] = (() => {
  const at = (dateTime: number, auction: number, bidder: number, price: number, channel = 'Google'): Bid => ({
    auction,
    bidder,
    price,
    channel,
    url: `https://www.nexmark.com/edge/item.htm?query=1&auction=${auction}`,
    dateTime,
    extra: '',
  });
  return [
    at(-60_001, 1000, 2000, 500, 'Apple'),
    at(-60_000, 1001, 2000, 700, 'Apple'),
    at(-59_999, 1002, 2001, 100),
    at(-50_001, 1000, 2000, 300), // inside [-60_001, -50_000): one session of three bids
    at(-10_001, 1003, 2002, 900, 'Baidu'),
    at(-10_000, 1000, 2002, 901),
    at(-1, 1001, 2003, 5, 'Baidu'),
    at(0, 1002, 2003, 6),
    at(1, 1003, 2004, 7),
    at(9_999, 1000, 2004, 8),
    at(10_000, 1001, 2004, 9), // inside [1, 19_999): one session [1, 20_000)
    at(10_001, 1002, 2005, 10),
    at(20_001, 1003, 2005, 11), // 10_001 + 10_000 = 20_001: touches, one session
    at(30_001, 1000, 2006, 12),
    at(40_002, 1001, 2006, 13), // 30_001 + 10_000 = 40_001 < 40_002: a new session
    at(50_000, 1002, 2007, 14),
    at(60_001, 1003, 2007, 15), // 50_000 + 10_000 = 60_000 < 60_001: not yet merged ...
    at(57_000, 1000, 2007, 16), // ... until this one arrives (3_001 ms behind) and bridges them
    at(59_999, 1001, 2008, 17, 'Facebook'),
    at(60_000, 1002, 2008, 18, 'Facebook'),
    at(119_999, 1003, 2009, 19),
    at(116_000, 1000, 2009, 20),
    at(120_000, 1001, 2009, 21),
  ];
})();

// --- The tests -------------------------------------------------------------------------------

describe.each(EXAMPLES)('$name', ({ job, reference }) => {
  it.each(CASES)('emits the reference rows: $name', (c) => {
    const bids = bidsFor(c);
    const log = produceToTopic(bids.map(bidRecord), { topic: TOPIC, partitions: c.partitions });
    const expected = reference(bids);

    const { rows, updates, results } = run(job, log, c.delivery);

    expect(expected.length).toBeGreaterThan(0);
    expect(multiset(rows)).toEqual(multiset(expected));
    expect(updates).toBe(0);
    expect(results.flatMap((r) => r.late)).toEqual([]);
    expect(results.flatMap((r) => r.deadLetters)).toEqual([]);
    const redelivered = results.reduce((sum, r) => sum + r.metrics.redelivered, 0);
    expect(results.reduce((sum, r) => sum + r.metrics.records, 0) - redelivered).toBe(bids.length);
    if (!c.delivery.redeliver) expect(redelivered).toBe(0);
  });

  it.each([
    [1, 1],
    [3, 1],
    [7, 3],
    [4, 100],
  ])(
    'emits the reference rows for bids on window and session edges (%i partitions, batches of %i)',
    (partitions, batchSize) => {
      const log = produceToTopic(EDGE_BIDS.map(bidRecord), { topic: TOPIC, partitions });

      const { rows, updates, results } = run(job, log, { batchSize, interleave: { seed: partitions } });

      expect(multiset(rows)).toEqual(multiset(reference(EDGE_BIDS)));
      expect(updates).toBe(0);
      expect(results.flatMap((r) => r.late)).toEqual([]);
      expect(results.flatMap((r) => r.deadLetters)).toEqual([]);
    },
  );

  it('turns a malformed JSON record into a dead letter naming its topic, partition and offset, and still emits the reference rows', () => {
    const bids = generateBids({
      seed: 11,
      count: 1_500,
      skew: 1.1,
      eventsPerSecond: 100,
      auctions: 60,
      bidders: 80,
    });
    const broken = '{"auction":1007,"bidder":1003,"price":';
    const records = bids.map(bidRecord);
    records.splice(700, 0, { key: '1007', value: broken, timestamp: bids[700]!.dateTime });
    const log = produceToTopic(records, { topic: TOPIC, partitions: 3 });
    const value = Buffer.from(broken).toString('base64');
    const where = log.partitions.flat().find((r) => r.value === value)!;

    const { rows, results } = run(job, log, { batchSize: 100, interleave: { seed: 11 } });

    expect(results.flatMap((r) => r.deadLetters)).toEqual([
      expect.objectContaining({
        kind: 'record',
        stage: 'decode',
        topic: TOPIC,
        partition: where.partition,
        offset: where.offset,
        value,
      }),
    ]);
    expect(where.offset).toBeGreaterThan(0);
    expect(multiset(rows)).toEqual(multiset(reference(bids)));
    expect(results.flatMap((r) => r.late)).toEqual([]);
  });
});

describe('the reference itself', () => {
  it('merges sessions that touch and splits those 1 ms apart', () => {
    const rows = bidderSessions(EDGE_BIDS, 10_000);
    const of = (bidder: number) =>
      rows.filter((r) => r.bidder === bidder).map((r) => [r.window_start, r.window_end, r.bids]);

    expect(of(2005)).toEqual([[10_001, 30_001, 2]]);
    expect(of(2006)).toEqual([
      [30_001, 40_001, 1],
      [40_002, 50_002, 1],
    ]);
    expect(of(2007)).toEqual([[50_000, 70_001, 3]]);
  });

  it('puts a bid on the first millisecond of a window into it, and on the last into the one before', () => {
    const rows = perWindowAndKey(
      EDGE_BIDS.filter((b) => b.dateTime === -1 || b.dateTime === 0),
      (min, max) => alignedWindows(min, max, 10_000, 10_000),
      () => 'all',
      (_k, start, end, group) => ({ window_start: start, window_end: end, bids: group.length }),
    );
    expect(rows).toEqual([
      { window_start: -10_000, window_end: 0, bids: 1 },
      { window_start: 0, window_end: 10_000, bids: 1 },
    ]);
  });

  it('gives every bid to size / slide sliding windows and to maxSize / step cumulative windows', () => {
    const count = (bid: Bid, windows: (min: number, max: number) => [number, number][]) =>
      perWindowAndKey(
        [bid],
        windows,
        () => 'all',
        () => ({}),
      ).length;
    const [lastMsOfMinute, firstMsOfMinute] = EDGE_BIDS as [Bid, Bid];

    expect(count(lastMsOfMinute, (min, max) => alignedWindows(min, max, 10_000, 2_000))).toBe(5);
    // -60_001 lies in the last 10 s step of [-120_000, -60_000): only the full minute holds it.
    expect(count(lastMsOfMinute, (min, max) => cumulativeWindows(min, max, 10_000, 60_000))).toBe(1);
    // -60_000 opens [-60_000, 0): all six windows of that minute hold it.
    expect(count(firstMsOfMinute, (min, max) => cumulativeWindows(min, max, 10_000, 60_000))).toBe(6);
  });
});

// With one window per bid (tumbling), a bid is either counted in its window's row or, when that
// window fired before it arrived, in the late side output: never silently dropped.
describe.each([EXAMPLES[0]!, EXAMPLES[4]!])('$name, with disorder beyond the bound', ({ job, reference }) => {
  it.each([
    [1, 7, 'round-robin'],
    [4, 33, { seed: 12 }],
    [7, 5, 'sequential'],
  ] as const)(
    'sends late bids to the side output and counts all others (%i partitions, batches of %i, %j)',
    (partitions, batchSize, interleave) => {
      const bids = generateBids({
        seed: 12,
        count: 2_000,
        eventsPerSecond: 100,
        maxDisorderMs: 20_000,
        auctions: 60,
      });
      const log = produceToTopic(bids.map(bidRecord), { topic: TOPIC, partitions });

      const { rows, updates, results } = run(job, log, { batchSize, interleave });

      const late = results.flatMap((r) => r.late);
      const lateBids = new Set(late.map((l) => JSON.stringify(l.element)));
      const onTime = bids.filter((b) => !lateBids.has(JSON.stringify(b)));
      expect(late.length).toBeGreaterThan(0);
      expect(onTime.length + late.length).toBe(bids.length);
      expect(multiset(rows)).toEqual(multiset(reference(onTime)));
      expect(updates).toBe(0);
      // Late means its window had fired: the window's last millisecond was at or below the watermark.
      for (const { timestamp, watermark } of late) {
        expect(Math.floor(timestamp / 10_000) * 10_000 + 10_000 - 1).toBeLessThanOrEqual(watermark);
      }
    },
  );
});
