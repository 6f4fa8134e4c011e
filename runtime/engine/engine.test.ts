import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BID_OUT_OF_ORDERNESS_MS, type Bid } from '../../examples/nexmark/bid.ts';
import {
  countJob,
  type Ev,
  ev,
  events,
  eventTime,
  finalTable,
  fired,
  flatten,
  Harness,
  results,
  toRow,
} from '../../test/support/engine-harness.ts';
import { base64Json, base64Text } from '../../test/support/kafka-events.ts';
import { count } from '../aggregates/aggregates.ts';
import { job } from '../job/job-builder.ts';
import type { DataStream } from '../job/streams.ts';
import type { FormatBase } from '../source/format.ts';
import { type KafkaEvent, VALUE_TEXT } from '../source/kafka-event.ts';
import { WatermarkStrategy } from '../time/watermark-strategy.ts';
import { CumulativeEventTimeWindows } from '../windows/cumulative.ts';
import { EventTimeSessionWindows } from '../windows/session.ts';
import { SlidingEventTimeWindows } from '../windows/sliding.ts';
import { TumblingEventTimeWindows } from '../windows/tumbling.ts';
import { Engine } from './engine.ts';
import { newEngineState } from './state.ts';
import { encodeState } from './state-codec.ts';

// Unless a test says otherwise: tumbling windows of 10 ms, out-of-orderness 0, count per key.

describe('watermarks', () => {
  it.each([
    // [bound B, timestamps, W = max - B - 1]
    [0, [5], 4],
    [0, [5, 20, 7], 19],
    [3, [5, 20, 7], 16],
    [0, [0], -1],
    [0, [-5], -6],
    [1_000, [-5, -100], -1_006],
    [5_000, [1_700_000_000_000], 1_699_999_994_999],
  ])(
    'with bound %d and timestamps %j sets the watermark to the largest minus the bound minus 1 (%d)',
    (bound, timestamps, watermark) => {
      const h = new Harness(countJob({ watermarks: eventTime(bound) }));
      const result = h.send({ 0: timestamps.map((ts) => ev('a', ts)) });
      expect(h.partitionWatermark(0)).toBe(watermark);
      expect(result.metrics.watermark).toBe(watermark);
      expect(result.partitions).toEqual([
        { id: 'events-0', offset: timestamps.length - 1, watermark, idle: false },
      ]);
    },
  );

  it('treats monotonous timestamps as a bound of 0: W = max - 1', () => {
    const h = new Harness(
      countJob({
        watermarks: WatermarkStrategy.forMonotonousTimestamps<{
          key: string;
          ts: number;
        }>().withTimestampAssigner((e) => e.ts),
      }),
    );
    h.send({ 0: [ev('a', 1), ev('a', 10)] });
    expect(h.watermark).toBe(9);
    expect(fired(h.results[0]!)).toEqual([{ key: 'a', start: 0, end: 10, value: 1, update: false }]);
  });

  it('reads event time from the Kafka record timestamp when the job has no timestamp assigner', () => {
    const job = events()
      .assignTimestampsAndWatermarks(WatermarkStrategy.forBoundedOutOfOrderness(0))
      .keyBy((e) => e.key)
      .window(TumblingEventTimeWindows.of(10))
      .aggregate(count(), toRow)
      .sinkTo(results);
    const h = new Harness(job);
    h.batch([{ offset: 0, timestamp: 25, value: ev('a', 999) }]);
    expect(h.watermark).toBe(24);
    expect(fired(h.drain())).toEqual([{ key: 'a', start: 20, end: 30, value: 1, update: false }]);
  });

  it('holds the job watermark at -infinity until every known partition has delivered a record', () => {
    const h = new Harness(countJob(), { partitions: [0, 1] });
    const first = h.send({ 0: [ev('a', 5), ev('a', 100)] });
    expect(h.watermark).toBe(Number.NEGATIVE_INFINITY);
    expect(h.partitionWatermark(1)).toBe(Number.NEGATIVE_INFINITY);
    expect(first.rows).toEqual([]);

    const second = h.send({ 1: [ev('b', 50)] });
    expect(h.watermark).toBe(49);
    expect(fired(second)).toEqual([{ key: 'a', start: 0, end: 10, value: 1, update: false }]);
  });

  it('takes the minimum over partitions as the job watermark', () => {
    const h = new Harness(countJob());
    h.send({ 0: [ev('a', 100)], 1: [ev('b', 30)], 2: [ev('c', 70)] });
    expect(h.watermark).toBe(29);
  });

  it('never moves a partition watermark backwards when later records are older', () => {
    const h = new Harness(countJob({ watermarks: eventTime(10) }));
    h.send({ 0: [ev('a', 100)] });
    h.send({ 0: [ev('a', 95), ev('a', 91)] });
    expect(h.partitionWatermark(0)).toBe(89);
    expect(h.watermark).toBe(89);
  });

  it('never moves the job watermark backwards when a partition it has not seen starts delivering', () => {
    const h = new Harness(countJob());
    h.send({ 0: [ev('a', 100)] });
    const result = h.send({ 1: [ev('b', 5)] });
    expect(h.partitionWatermark(1)).toBe(4);
    expect(h.watermark).toBe(99);
    // The job watermark already promised nothing at or below 99: the record is late, not lost.
    expect(result.late).toMatchObject([{ partition: 1, timestamp: 5, watermark: 99 }]);
  });
});

describe('the micro-batch rule', () => {
  it('judges every record of a batch against the watermark as the batch started', () => {
    const h = new Harness(countJob());
    const result = h.send({ 0: [ev('a', 100), ev('a', 3)] });
    expect(result.late).toEqual([]);
    expect(fired(result)).toEqual([{ key: 'a', start: 0, end: 10, value: 1, update: false }]);
  });

  it('makes the same out-of-order record late when it comes in the next batch', () => {
    const h = new Harness(countJob());
    h.send({ 0: [ev('a', 100)] });
    const result = h.send({ 0: [ev('a', 3)] });
    expect(result.rows).toEqual([]);
    expect(result.late).toMatchObject([{ timestamp: 3, watermark: 99 }]);
  });

  it('advances the watermark once, after every record of the batch was assigned', () => {
    const h = new Harness(countJob());
    const result = h.send({
      0: [ev('a', 5), ev('a', 15), ev('a', 25), ev('a', 12)],
      1: [ev('b', 30), ev('b', 8)],
    });
    expect(result.metrics.watermark).toBe(24);
    expect(fired(result)).toEqual([
      { key: 'a', start: 0, end: 10, value: 1, update: false },
      { key: 'b', start: 0, end: 10, value: 1, update: false },
      { key: 'a', start: 10, end: 20, value: 2, update: false },
    ]);
  });

  it('gives the same result when the same batches are processed again from the same state', () => {
    const run = () => {
      const h = new Harness(countJob({ watermarks: eventTime(2), lateness: 5 }));
      h.send({ 0: [ev('a', 5), ev('b', 15)], 1: [ev('a', 2)] });
      h.send({ 1: [ev('a', 30), ev('a', 1)], 0: [ev('b', 9), ev('b', 40)] });
      h.send({ 0: [ev('a', 7)] });
      h.drain();
      return h.results;
    };
    expect(run()).toEqual(run());
  });
});

describe('firing', () => {
  it.each([
    // [bound, timestamp that sets the watermark, fires]
    [0, 9, false],
    [0, 10, true],
    [5, 14, false],
    [5, 15, true],
  ])(
    'with bound %d, a record at %d fires window [0, 10): %s (fires when maxTimestamp 9 <= watermark)',
    (bound, ts, fires) => {
      const h = new Harness(countJob({ watermarks: eventTime(bound) }));
      h.send({ 0: [ev('a', 3)] });
      const result = h.send({ 0: [ev('b', ts)] });
      expect(h.watermark).toBe(ts - bound - 1);
      expect(fired(result).filter((r) => r.key === 'a')).toEqual(
        fires ? [{ key: 'a', start: 0, end: 10, value: 1, update: false }] : [],
      );
    },
  );

  it.each([
    [-2, false],
    [-1, true],
  ])(
    'fires window [-10, 0) of negative timestamps exactly when the watermark reaches -1 (watermark %d: %s)',
    (watermark, fires) => {
      const h = new Harness(countJob());
      h.send({ 0: [ev('a', -10), ev('a', -1)] });
      const result = h.send({ 0: [ev('b', watermark + 1)] });
      expect(fired(result).filter((r) => r.key === 'a')).toEqual(
        fires ? [{ key: 'a', start: -10, end: 0, value: 2, update: false }] : [],
      );
    },
  );

  it('fires each window once, with one row per key carrying the key and the window', () => {
    const h = new Harness(countJob());
    const first = h.send({ 0: [ev('a', 1), ev('b', 2), ev('a', 3), ev('a', 12)] });
    const second = h.send({ 0: [ev('c', 20)] });
    const third = h.send({ 0: [ev('c', 21)] });
    expect(fired(first)).toEqual([
      { key: 'a', start: 0, end: 10, value: 2, update: false },
      { key: 'b', start: 0, end: 10, value: 1, update: false },
    ]);
    expect(first.rows.map((r) => [r.key, r.window])).toEqual(
      expect.arrayContaining([
        ['a', { start: 0, end: 10 }],
        ['b', { start: 0, end: 10 }],
      ]),
    );
    expect(fired(second)).toEqual([{ key: 'a', start: 10, end: 20, value: 1, update: false }]);
    expect(third.rows).toEqual([]);
  });

  it('writes every row a window function returns, and none when it returns an empty array', () => {
    const job = events()
      .assignTimestampsAndWatermarks(eventTime(0))
      .keyBy((e) => e.key)
      .window(TumblingEventTimeWindows.of(10))
      .aggregate(count(), (key, window, n) =>
        key === 'none' ? [] : [toRow(key, window, n), toRow(`${key}-copy`, window, n)],
      )
      .sinkTo(results);
    const h = new Harness(job);
    h.send({ 0: [ev('a', 1), ev('none', 2)] });
    expect(fired(h.drain()).map((r) => r.key)).toEqual(['a', 'a-copy']);
  });

  it('counts a record in every sliding window that contains it, each firing on its own', () => {
    const h = new Harness(countJob({ assigner: SlidingEventTimeWindows.of(10, 5) }));
    const first = h.send({ 0: [ev('a', 3), ev('a', 7), ev('a', 12)] });
    const second = h.send({ 0: [ev('a', 15)] });
    const last = h.drain();
    expect(fired(first)).toEqual([
      { key: 'a', start: -5, end: 5, value: 1, update: false },
      { key: 'a', start: 0, end: 10, value: 2, update: false },
    ]);
    expect(fired(second)).toEqual([{ key: 'a', start: 5, end: 15, value: 2, update: false }]);
    expect(fired(last)).toEqual([
      { key: 'a', start: 10, end: 20, value: 2, update: false },
      { key: 'a', start: 15, end: 25, value: 1, update: false },
    ]);
  });

  it('fires cumulative windows as each step ends, with the total so far', () => {
    const h = new Harness(countJob({ assigner: CumulativeEventTimeWindows.of(10, 30) }));
    const first = h.send({ 0: [ev('a', 5), ev('a', 15), ev('a', 25)] });
    const second = h.send({ 0: [ev('a', 30)] });
    expect(fired(first)).toEqual([
      { key: 'a', start: 0, end: 10, value: 1, update: false },
      { key: 'a', start: 0, end: 20, value: 2, update: false },
    ]);
    expect(fired(second)).toEqual([{ key: 'a', start: 0, end: 30, value: 3, update: false }]);
    expect(fired(h.drain())).toEqual([
      { key: 'a', start: 30, end: 40, value: 1, update: false },
      { key: 'a', start: 30, end: 50, value: 1, update: false },
      { key: 'a', start: 30, end: 60, value: 1, update: false },
    ]);
  });

  it('gives a process-window function every element of the window', () => {
    const job = events()
      .assignTimestampsAndWatermarks(eventTime(0))
      .keyBy((e) => e.key)
      .window(TumblingEventTimeWindows.of(10))
      .process((key, window, elements) =>
        toRow(`${key}:${elements.map((e) => e.ts).join(',')}`, window, elements.length),
      )
      .sinkTo(results);
    const h = new Harness(job, { partitions: [0, 1] });
    h.send({ 0: [ev('a', 1), ev('a', 4)], 1: [ev('a', 2)] });
    const [row] = fired(h.drain());
    expect(row!.value).toBe(3);
    expect(row!.key.split(':')[1]!.split(',').sort()).toEqual(['1', '2', '4']);
  });
});

describe('allowed lateness and late records', () => {
  it('re-fires a fired window with its full updated result for records within the allowed lateness, then clears it', () => {
    const h = new Harness(countJob({ lateness: 20 }));
    const onTime = h.send({ 0: [ev('a', 1), ev('a', 2), ev('a', 12)] });
    const lateFiring = h.send({ 0: [ev('a', 3), ev('a', 4), ev('a', 25)] });
    const secondLateFiring = h.send({ 0: [ev('a', 5), ev('a', 30)] });
    const tooLate = h.send({ 0: [ev('a', 6)] });

    expect(fired(onTime)).toEqual([{ key: 'a', start: 0, end: 10, value: 2, update: false }]);
    // One row per window and batch, carrying the full count, not one row per late record.
    expect(fired(lateFiring)).toEqual([
      { key: 'a', start: 0, end: 10, value: 4, update: true },
      { key: 'a', start: 10, end: 20, value: 1, update: false },
    ]);
    expect(fired(secondLateFiring)).toEqual([
      { key: 'a', start: 0, end: 10, value: 5, update: true },
      { key: 'a', start: 20, end: 30, value: 1, update: false },
    ]);
    // The watermark reached 29 = maxTimestamp 9 + lateness 20: the window was cleared.
    expect(tooLate.rows).toEqual([]);
    expect(tooLate.late).toEqual([
      { topic: 'events', partition: 0, offset: 8, timestamp: 6, watermark: 29, element: ev('a', 6) },
    ]);
    expect(tooLate.metrics.late).toBe(1);
    expect(h.state.partitions.get('events-0')!.windows.has(10)).toBe(false);
    expect(finalTable(h.rows)).toEqual([
      { key: 'a', start: 0, end: 10, value: 5, update: false },
      { key: 'a', start: 10, end: 20, value: 1, update: false },
      { key: 'a', start: 20, end: 30, value: 1, update: false },
    ]);
  });

  it.each([
    // [watermark when the record arrives, late]
    [28, false],
    [29, true],
  ])('with lateness 20, a record for window [0, 10) at watermark %d is late: %s', (watermark, late) => {
    const h = new Harness(countJob({ lateness: 20 }));
    h.send({ 0: [ev('a', 1)] });
    h.send({ 0: [ev('b', watermark + 1)] });
    // The window's state is kept exactly while maxTimestamp + lateness > watermark.
    expect(h.state.partitions.get('events-0')!.windows.has(10)).toBe(!late);
    const result = h.send({ 0: [ev('a', 5)] });
    expect(result.late).toHaveLength(late ? 1 : 0);
    expect(fired(result)).toEqual(late ? [] : [{ key: 'a', start: 0, end: 10, value: 2, update: true }]);
  });

  it.each([
    // [timestamp, late] at watermark 9, lateness 0
    [9, true],
    [10, false],
    [-100, true],
  ])(
    'without lateness, a record at %d is late once the watermark (9) reached its window end - 1: %s',
    (ts, late) => {
      const h = new Harness(countJob());
      h.send({ 0: [ev('b', 10)] });
      const result = h.send({ 0: [ev('a', ts)] });
      expect(result.late).toHaveLength(late ? 1 : 0);
      expect(result.metrics.late).toBe(late ? 1 : 0);
    },
  );

  it('keeps a sliding-window record that is late for some of its windows in the others', () => {
    const h = new Harness(countJob({ assigner: SlidingEventTimeWindows.of(10, 5) }));
    h.send({ 0: [ev('b', 10)] }); // watermark 9
    const partlyLate = h.send({ 0: [ev('a', 7)] }); // [0, 10) is closed, [5, 15) is open
    const late = h.send({ 0: [ev('a', 4)] }); // [-5, 5) and [0, 10) are both closed
    expect(partlyLate.late).toEqual([]);
    expect(late.late).toMatchObject([{ timestamp: 4 }]);
    expect(fired(h.drain()).filter((r) => r.key === 'a')).toEqual([
      { key: 'a', start: 5, end: 15, value: 1, update: false },
    ]);
  });

  it('sends late records to the side output with their coordinates and the element after map', () => {
    const job = events()
      .assignTimestampsAndWatermarks(eventTime(0))
      .map((e) => ({ ...e, key: e.key.toUpperCase() }))
      .keyBy((e) => e.key)
      .window(TumblingEventTimeWindows.of(10))
      .aggregate(count(), toRow)
      .sinkTo(results);
    const h = new Harness(job);
    h.send({ 3: [ev('a', 50)] });
    const result = h.send({ 3: [ev('a', 1)] });
    expect(result.late).toEqual([
      { topic: 'events', partition: 3, offset: 1, timestamp: 1, watermark: 49, element: ev('A', 1) },
    ]);
  });
});

describe('session windows', () => {
  const sessions = (options: { lateness?: number; isKafkaKey?: boolean } = {}) =>
    countJob({ assigner: EventTimeSessionWindows.withGap(10), ...options });

  const dynamicSessions = (lateness = 0) =>
    events()
      .assignTimestampsAndWatermarks(eventTime(0))
      .keyBy((e) => e.key)
      .window(
        EventTimeSessionWindows.withDynamicGap<{ key: string; ts: number; gap?: number }>((e) => e.gap ?? 10),
      )
      .allowedLateness(lateness)
      .aggregate(count(), toRow)
      .sinkTo(results);

  it('gathers records within the gap into one session [first, last + gap)', () => {
    const h = new Harness(sessions());
    h.send({ 0: [ev('a', 0), ev('a', 5), ev('a', 12), ev('b', 3)] });
    expect(fired(h.drain())).toEqual([
      { key: 'a', start: 0, end: 22, value: 3, update: false },
      { key: 'b', start: 3, end: 13, value: 1, update: false },
    ]);
  });

  it.each([
    // [second timestamp, sessions]: [0, 10) and [10, 20) touch and merge; [11, 21) does not touch
    [10, [{ key: 'a', start: 0, end: 20, value: 2, update: false }]],
    [
      11,
      [
        { key: 'a', start: 0, end: 10, value: 1, update: false },
        { key: 'a', start: 11, end: 21, value: 1, update: false },
      ],
    ],
  ])('merges touching windows: a record at 0 and one at %d give %j', (second, expected) => {
    const h = new Harness(sessions());
    h.send({ 0: [ev('a', 0), ev('a', second)] });
    h.drain();
    expect(flatten(h.rows)).toEqual(expected);
  });

  it('merges two sessions bridged by a record that arrives between them', () => {
    const h = new Harness(
      countJob({ assigner: EventTimeSessionWindows.withGap(10), watermarks: eventTime(50) }),
    );
    h.send({ 0: [ev('a', 20), ev('a', 0)] });
    h.send({ 0: [ev('a', 10)] });
    expect(fired(h.drain())).toEqual([{ key: 'a', start: 0, end: 30, value: 3, update: false }]);
  });

  it.each([
    [14, false],
    [15, true],
  ])('fires session [0, 15) when the watermark reaches 14 (a record at %d: %s)', (ts, fires) => {
    const h = new Harness(sessions());
    h.send({ 0: [ev('a', 0), ev('a', 5)] });
    const result = h.send({ 0: [ev('b', ts)] });
    expect(fired(result).filter((r) => r.key === 'a')).toEqual(
      fires ? [{ key: 'a', start: 0, end: 15, value: 2, update: false }] : [],
    );
  });

  it.each([
    // [watermark, late] for a lone record at 0 whose session [0, 10) has maxTimestamp 9
    [8, false],
    [9, true],
  ])('without lateness, a session record at 0 meeting watermark %d is late: %s', (watermark, late) => {
    const h = new Harness(sessions());
    h.send({ 0: [ev('b', watermark + 1)] });
    const result = h.send({ 0: [ev('a', 0)] });
    expect(result.late).toHaveLength(late ? 1 : 0);
  });

  it('keeps a fired session for the allowed lateness and clears it afterwards', () => {
    const h = new Harness(sessions({ lateness: 5 }));
    h.send({ 0: [ev('a', 0), ev('b', 14)] }); // watermark 13: [0, 10) fired, kept until 14
    expect(h.state.partitions.get('events-0')!.sessions.has('a')).toBe(true);
    h.send({ 0: [ev('b', 15)] }); // watermark 14
    expect(h.state.partitions.get('events-0')!.sessions.has('a')).toBe(false);
  });

  it('starts a new session for a record exactly at the end of a session that already fired and was cleared', () => {
    // [0, 10) fires at watermark 9; a record at 10 is not late (10 > 9) but would have touched it.
    // Flink behaves the same: the cleared session cannot grow any more.
    const h = new Harness(sessions());
    h.send({ 0: [ev('a', 0), ev('b', 10)] });
    h.send({ 0: [ev('a', 10)] });
    h.drain();
    expect(flatten(h.rows).filter((r) => r.key === 'a')).toEqual([
      { key: 'a', start: 0, end: 10, value: 1, update: false },
      { key: 'a', start: 10, end: 20, value: 1, update: false },
    ]);
  });

  it('merges two fired sessions bridged by a late record into one late firing', () => {
    const h = new Harness(sessions({ lateness: 100 }));
    const onTime = h.send({ 0: [ev('a', 0), ev('a', 20), ev('b', 40)] }); // watermark 39
    const bridged = h.send({ 0: [ev('a', 10)] });
    expect(fired(onTime)).toEqual([
      { key: 'a', start: 0, end: 10, value: 1, update: false },
      { key: 'a', start: 20, end: 30, value: 1, update: false },
    ]);
    expect(bridged.late).toEqual([]);
    expect(fired(bridged)).toEqual([{ key: 'a', start: 0, end: 30, value: 3, update: true }]);
  });

  it('merges fired session partials of several partitions bridged by a late record on a third', () => {
    const h = new Harness(sessions({ lateness: 100 }), { partitions: [0, 1, 2] });
    h.send({ 0: [ev('a', 0), ev('x', 40)], 1: [ev('a', 20), ev('x', 40)], 2: [ev('x', 40)] });
    const bridged = h.send({ 2: [ev('a', 10)] });
    expect(fired(bridged)).toEqual([{ key: 'a', start: 0, end: 30, value: 3, update: true }]);
  });

  it('lets a record whose own window is past the lateness join a retained session it touches', () => {
    const h = new Harness(dynamicSessions(15));
    h.send({ 0: [ev('a', 20)] }); // [20, 30), kept until the watermark reaches 29 + 15 = 44
    h.send({ 0: [ev('b', 41)] }); // watermark 40
    const joined = h.send({ 0: [ev('a', 15, { gap: 5 })] }); // [15, 20): 19 + 15 <= 40, but touches [20, 30)
    expect(joined.late).toEqual([]);
    expect(fired(joined)).toEqual([{ key: 'a', start: 15, end: 30, value: 2, update: true }]);
  });

  it('lets such a record join a retained session whose records came on another partition', () => {
    const h = new Harness(dynamicSessions(15), { partitions: [0, 1] });
    h.send({ 0: [ev('a', 20)], 1: [ev('b', 20)] });
    h.send({ 0: [ev('b', 41)], 1: [ev('b', 41)] }); // watermark 40
    const joined = h.send({ 1: [ev('a', 15, { gap: 5 })] });
    expect(joined.late).toEqual([]);
    expect(fired(joined)).toEqual([{ key: 'a', start: 15, end: 30, value: 2, update: true }]);
  });

  it('sends a session record to the late output when its window is past the lateness and touches no kept session', () => {
    const h = new Harness(dynamicSessions(15));
    h.send({ 0: [ev('a', 20)] });
    h.send({ 0: [ev('b', 41)] });
    const result = h.send({ 0: [ev('a', 10, { gap: 5 })] }); // [10, 15) touches nothing
    expect(result.rows).toEqual([]);
    expect(result.late).toMatchObject([{ timestamp: 10, watermark: 40 }]);
  });

  it('merges partial sessions of one key from several partitions into one session', () => {
    const h = new Harness(sessions(), { partitions: [0, 1] });
    const first = h.send({ 0: [ev('a', 0), ev('a', 16)], 1: [ev('a', 8)] });
    const second = h.send({ 0: [ev('b', 100)], 1: [ev('b', 25)] }); // watermark 24
    const third = h.send({ 1: [ev('b', 26)] }); // watermark 25
    expect(first.rows).toEqual([]);
    expect(second.rows).toEqual([]);
    expect(fired(third)).toEqual([{ key: 'a', start: 0, end: 26, value: 3, update: false }]);
  });

  it.each([0, -5, 1.5])(
    'turns a record whose dynamic gap is %d into a dead letter and keeps going',
    (gap) => {
      const h = new Harness(dynamicSessions());
      const result = h.send({ 0: [ev('a', 1), ev('a', 2, { gap }), ev('a', 3)] });
      expect(result.deadLetters).toEqual([
        expect.objectContaining({
          kind: 'record',
          topic: 'events',
          partition: 0,
          offset: 1,
          stage: 'window',
          reason: `The record could not be windowed: Invalid session gap ${gap}: the gap must be a positive whole number of milliseconds.`,
          value: base64Json(ev('a', 2, { gap })),
        }),
      ]);
      expect(fired(h.drain())).toEqual([{ key: 'a', start: 1, end: 13, value: 2, update: false }]);
    },
  );

  it('turns a record whose gap extractor throws into a dead letter', () => {
    const job = events()
      .assignTimestampsAndWatermarks(eventTime(0))
      .keyBy((e) => e.key)
      .window(
        EventTimeSessionWindows.withDynamicGap<{ key: string; ts: number }>((e) => {
          if (e.key === 'bad') throw new Error('no gap for bad');
          return 10;
        }),
      )
      .aggregate(count(), toRow)
      .sinkTo(results);
    const h = new Harness(job);
    const result = h.send({ 0: [ev('bad', 1), ev('a', 2)] });
    expect(result.deadLetters).toMatchObject([
      { offset: 0, stage: 'window', reason: expect.stringContaining('no gap for bad') },
    ]);
    expect(fired(h.drain())).toEqual([{ key: 'a', start: 2, end: 12, value: 1, update: false }]);
  });
});

describe('windowAll', () => {
  it('aggregates every record of the job in one row per window, whatever its partition', () => {
    const h = new Harness(countJob({ all: true }), { partitions: [0, 1] });
    h.send({ 0: [ev('a', 1), ev('b', 2)], 1: [ev('c', 3), ev('d', 15)] });
    const result = h.drain();
    expect(fired(result)).toEqual([
      { key: '*', start: 0, end: 10, value: 3, update: false },
      { key: '*', start: 10, end: 20, value: 1, update: false },
    ]);
    expect(result.rows.map((r) => r.key)).toEqual([undefined, undefined]);
  });

  it('fires on the job watermark, the minimum over partitions', () => {
    const h = new Harness(countJob({ all: true }), { partitions: [0, 1] });
    const ahead = h.send({ 0: [ev('a', 1), ev('a', 100)], 1: [ev('b', 2)] });
    const caughtUp = h.send({ 1: [ev('b', 10)] });
    expect(ahead.rows).toEqual([]);
    expect(fired(caughtUp)).toEqual([{ key: '*', start: 0, end: 10, value: 2, update: false }]);
  });

  it('works with sessions over all records', () => {
    const h = new Harness(countJob({ all: true, assigner: EventTimeSessionWindows.withGap(10) }), {
      partitions: [0, 1],
    });
    h.send({ 0: [ev('a', 0), ev('b', 30)], 1: [ev('c', 9)] });
    expect(fired(h.drain())).toEqual([
      { key: '*', start: 0, end: 19, value: 2, update: false },
      { key: '*', start: 30, end: 40, value: 1, update: false },
    ]);
  });
});

describe('keys spread over several partitions (keyBy a field)', () => {
  it('gives a key whose records arrive on several partitions one row with the merged result', () => {
    const h = new Harness(countJob(), { partitions: [0, 1, 2] });
    h.send({ 0: [ev('a', 1), ev('a', 2)], 1: [ev('a', 3)] });
    h.send({ 2: [ev('a', 9), ev('b', 4)] });
    expect(fired(h.drain())).toEqual([
      { key: 'a', start: 0, end: 10, value: 4, update: false },
      { key: 'b', start: 0, end: 10, value: 1, update: false },
    ]);
  });

  it('does not fire a window until every partition has passed it', () => {
    const h = new Harness(countJob(), { partitions: [0, 1] });
    const p0Ahead = h.send({ 0: [ev('a', 1), ev('a', 50)] });
    const p1Behind = h.send({ 1: [ev('a', 3)] });
    const p1Passes = h.send({ 1: [ev('a', 15)] });
    expect(p0Ahead.rows).toEqual([]);
    expect(p1Behind.rows).toEqual([]);
    expect(p1Passes.metrics.watermark).toBe(14);
    expect(fired(p1Passes)).toEqual([{ key: 'a', start: 0, end: 10, value: 2, update: false }]);
  });

  it('gives a late firing with the result merged over every partition', () => {
    const h = new Harness(countJob({ lateness: 50 }), { partitions: [0, 1] });
    const onTime = h.send({ 0: [ev('a', 1), ev('x', 20)], 1: [ev('a', 2), ev('x', 20)] });
    const late = h.send({ 1: [ev('a', 3)] });
    expect(fired(onTime)).toEqual([{ key: 'a', start: 0, end: 10, value: 2, update: false }]);
    expect(fired(late)).toEqual([{ key: 'a', start: 0, end: 10, value: 3, update: true }]);
  });

  it('gives the same rows whatever the order in which partitions are processed', () => {
    const p0 = [ev('a', 1), ev('b', 5), ev('a', 12)];
    const p1 = [ev('a', 3), ev('b', 14), ev('a', 25)];
    const inOneBatch = new Harness(countJob(), { partitions: [0, 1] });
    inOneBatch.send({ 0: p0, 1: p1 });
    inOneBatch.drain();
    const p1First = new Harness(countJob(), { partitions: [0, 1] });
    p1First.send({ 1: p1 });
    p1First.send({ 0: p0 });
    p1First.drain();
    const interleaved = new Harness(countJob(), { partitions: [0, 1] });
    interleaved.send({ 1: p1.slice(0, 1), 0: p0.slice(0, 2) });
    interleaved.send({ 0: p0.slice(2), 1: p1.slice(1) });
    interleaved.drain();
    const expected = [
      { key: 'a', start: 0, end: 10, value: 2, update: false },
      { key: 'b', start: 0, end: 10, value: 1, update: false },
      { key: 'a', start: 10, end: 20, value: 1, update: false },
      { key: 'b', start: 10, end: 20, value: 1, update: false },
      { key: 'a', start: 20, end: 30, value: 1, update: false },
    ];
    expect(flatten(inOneBatch.rows)).toEqual(expected);
    expect(flatten(p1First.rows)).toEqual(expected);
    expect(flatten(interleaved.rows)).toEqual(expected);
  });
});

describe('keys that are the Kafka key (keyBy with isKafkaKey)', () => {
  it("fires a key's windows on its own partition's watermark, without waiting for other partitions", () => {
    const byKafkaKey = new Harness(countJob({ isKafkaKey: true }), { partitions: [0, 1] });
    const byField = new Harness(countJob(), { partitions: [0, 1] });
    const batch = { 0: [ev('a', 1), ev('a', 20)], 1: [ev('b', 1)] };
    expect(fired(byKafkaKey.send(batch))).toEqual([{ key: 'a', start: 0, end: 10, value: 1, update: false }]);
    expect(byField.send(batch).rows).toEqual([]);
  });

  it("judges a record late against its own partition's watermark", () => {
    const h = new Harness(countJob({ isKafkaKey: true }), { partitions: [0, 1] });
    h.send({ 0: [ev('a', 100)], 1: [ev('b', 20)] });
    const result = h.send({ 0: [ev('a', 50)], 1: [ev('b', 50)] });
    expect(result.late).toMatchObject([{ partition: 0, timestamp: 50, watermark: 99 }]);
    h.drain();
    expect(flatten(h.rows)).toEqual([
      { key: 'b', start: 20, end: 30, value: 1, update: false },
      { key: 'b', start: 50, end: 60, value: 1, update: false },
      { key: 'a', start: 100, end: 110, value: 1, update: false },
    ]);
  });

  it('fires sessions on their partition watermark too', () => {
    const h = new Harness(countJob({ isKafkaKey: true, assigner: EventTimeSessionWindows.withGap(10) }), {
      partitions: [0, 1],
    });
    const result = h.send({ 0: [ev('a', 0), ev('a', 5), ev('a', 40)], 1: [ev('b', 0)] });
    expect(fired(result)).toEqual([{ key: 'a', start: 0, end: 15, value: 2, update: false }]);
  });
});

describe('idleness', () => {
  const idleAfter1s = () => countJob({ watermarks: eventTime(0).withIdleness(1_000) });

  it('stops holding the job watermark back once a partition delivered nothing for the timeout', () => {
    const h = new Harness(idleAfter1s(), { partitions: [0, 1] });
    h.send({ 0: [ev('a', 5)], 1: [ev('b', 3)] }, { now: 0 });
    const notYet = h.send({ 0: [ev('a', 20)] }, { now: 500 });
    const almost = h.send({ 0: [ev('a', 21)] }, { now: 999 });
    const idle = h.send({ 0: [ev('a', 30)] }, { now: 1_000 });
    expect(notYet.metrics.watermark).toBe(2);
    expect(almost.metrics.watermark).toBe(2);
    expect(almost.partitions.find((p) => p.id === 'events-1')?.idle).toBe(false);
    expect(idle.partitions.find((p) => p.id === 'events-1')?.idle).toBe(true);
    expect(idle.metrics.watermark).toBe(29);
    // The idle partition's partial state is part of the result.
    expect(fired(idle)).toEqual([
      { key: 'a', start: 0, end: 10, value: 1, update: false },
      { key: 'b', start: 0, end: 10, value: 1, update: false },
      { key: 'a', start: 20, end: 30, value: 2, update: false },
    ]);
  });

  it('holds the watermark when every partition is idle', () => {
    const h = new Harness(idleAfter1s(), { partitions: [0, 1] });
    h.send({ 0: [ev('a', 5)], 1: [ev('b', 30)] }, { now: 0 });
    const allIdle = h.batch([], { now: 5_000 });
    expect(allIdle.partitions.every((p) => p.idle)).toBe(true);
    expect(allIdle.metrics.watermark).toBe(4);
    expect(allIdle.rows).toEqual([]);
  });

  it("with idleTopicWatermark 'processing-time', moves the watermark to the wall clock minus the bound when every partition is idle", () => {
    const job = countJob({
      watermarks: eventTime(2).withIdleness(1_000, { idleTopicWatermark: 'processing-time' }),
    });
    const h = new Harness(job, { partitions: [0, 1] });
    h.send({ 0: [ev('a', 5)], 1: [ev('b', 30)] }, { now: 0 });
    // One partition idle: the other's watermark, as with 'hold'.
    expect(h.send({ 1: [ev('b', 31)] }, { now: 1_000 }).metrics.watermark).toBe(28);
    const allIdle = h.engine.processBatch(h.state, [], { now: 5_000, wallClock: 50 });
    expect(allIdle.metrics.watermark).toBe(47);
    expect(fired(allIdle)).toEqual([{ key: 'b', start: 30, end: 40, value: 2, update: false }]);
    // The partitions' watermarks follow, so nothing goes back when one returns; its old records are late.
    expect(allIdle.partitions.map((p) => p.watermark)).toEqual([47, 47]);
    const back = h.send({ 0: [ev('a', 35), ev('a', 40)] }, { now: 5_100 });
    expect(back.metrics.watermark).toBe(47);
    expect(back.late).toMatchObject([{ partition: 0, timestamp: 35, watermark: 47 }]);
  });

  it("with idleTopicWatermark 'processing-time', moves an idle partition's own watermark for jobs keyed by the Kafka key", () => {
    const job = countJob({
      isKafkaKey: true,
      watermarks: eventTime(0).withIdleness(1_000, { idleTopicWatermark: 'processing-time' }),
    });
    const h = new Harness(job, { partitions: [0] });
    h.send({ 0: [ev('a', 5)] }, { now: 0 });
    expect(h.engine.processBatch(h.state, [], { now: 500, wallClock: 100 }).rows).toEqual([]);
    const idle = h.engine.processBatch(h.state, [], { now: 1_000, wallClock: 100 });
    expect(fired(idle)).toEqual([{ key: 'a', start: 0, end: 10, value: 1, update: false }]);
    expect(idle.partitions[0]!.watermark).toBe(99);
  });

  it('makes an idle partition active again with its next record, so it holds the watermark again', () => {
    const h = new Harness(idleAfter1s(), { partitions: [0, 1] });
    h.send({ 0: [ev('a', 5)], 1: [ev('b', 5)] }, { now: 0 });
    expect(h.send({ 0: [ev('a', 50)] }, { now: 1_000 }).metrics.watermark).toBe(49);
    const back = h.send({ 1: [ev('b', 60)], 0: [ev('a', 70)] }, { now: 1_500 });
    const held = h.send({ 0: [ev('a', 200)] }, { now: 1_600 });
    expect(back.partitions.every((p) => !p.idle)).toBe(true);
    expect(back.metrics.watermark).toBe(59);
    expect(held.metrics.watermark).toBe(59);
  });

  it('never moves the job watermark back when an idle partition returns behind it; its old records are late', () => {
    const h = new Harness(idleAfter1s(), { partitions: [0, 1] });
    h.send({ 0: [ev('a', 5)], 1: [ev('b', 3)] }, { now: 0 });
    h.send({ 0: [ev('a', 30)] }, { now: 1_000 }); // watermark 29
    const back = h.send({ 1: [ev('b', 12), ev('b', 40)] }, { now: 1_200 });
    expect(back.metrics.watermark).toBe(29);
    expect(back.late).toMatchObject([{ partition: 1, timestamp: 12, watermark: 29 }]);
  });

  it('lets a known partition that never delivers go idle after the timeout', () => {
    const h = new Harness(idleAfter1s(), { partitions: [0, 1] });
    expect(h.send({ 0: [ev('a', 20)] }, { now: 0 }).metrics.watermark).toBe(Number.NEGATIVE_INFINITY);
    expect(h.send({ 0: [ev('a', 21)] }, { now: 1_000 }).metrics.watermark).toBe(20);
  });

  it('lets a partition that delivers only undecodable values go idle instead of holding the watermark', () => {
    const h = new Harness(idleAfter1s(), { partitions: [0, 1] });
    const garbage = (offset: number) => ({
      partition: 1,
      offset,
      rawValue: Buffer.from('not json').toString('base64'),
    });
    h.batch([...h.log.append(0, [{ value: ev('a', 20), timestamp: 20 }]), garbage(0)], { now: 0 });
    const later = h.batch([...h.log.append(0, [{ value: ev('a', 21), timestamp: 21 }]), garbage(1)], {
      now: 1_000,
    });
    expect(later.deadLetters).toHaveLength(1);
    expect(later.metrics.watermark).toBe(20);
  });

  it('without an idleness timeout, waits for a silent partition until the input ends', () => {
    const h = new Harness(countJob(), { partitions: [0, 1] });
    h.send({ 0: [ev('a', 5)], 1: [ev('b', 3)] }, { now: 0 });
    const later = h.send({ 0: [ev('a', 500)] }, { now: 10_000_000 });
    expect(later.metrics.watermark).toBe(2);
    expect(later.rows).toEqual([]);
    expect(fired(h.drain())).toHaveLength(3);
  });
});

describe('redelivered and overlapping batches', () => {
  it('changes nothing when a batch is delivered again', () => {
    const h = new Harness(countJob({ lateness: 10 }), { partitions: [0, 1] });
    const first = h.send({ 0: [ev('a', 1), ev('a', 12)], 1: [ev('b', 30), ev('b', 2)] });
    const before = encodeState(h.state);
    const again = h.batch(h.log.items);
    expect(first.rows).not.toEqual([]);
    expect(again.rows).toEqual([]);
    expect(again.late).toEqual([]);
    expect(again.deadLetters).toEqual([]);
    expect(again.metrics).toMatchObject({ records: 4, redelivered: 4 });
    expect(encodeState(h.state)).toBe(before);
  });

  it('applies only the new records of a batch that overlaps the committed offsets', () => {
    const elements = [ev('a', 1), ev('a', 2), ev('a', 14), ev('b', 3), ev('a', 25), ev('b', 31)];
    const once = new Harness(countJob({ watermarks: eventTime(10) }));
    once.send({ 0: elements });
    once.drain();

    const overlapping = new Harness(countJob({ watermarks: eventTime(10) }));
    const items = overlapping.log.append(
      0,
      elements.map((value) => ({ value, timestamp: value.ts })),
    );
    overlapping.batch(items.slice(0, 4));
    const overlap = overlapping.batch(items.slice(1, 6));
    overlapping.batch(items.slice(0, 6));
    overlapping.drain();

    expect(overlap.metrics.redelivered).toBe(3);
    expect(flatten(overlapping.rows)).toEqual(flatten(once.rows));
  });

  it('skips replayed records of one partition while applying new records of another in the same batch', () => {
    const h = new Harness(countJob(), { partitions: [0, 1] });
    const [p0First] = h.log.append(0, [{ value: ev('a', 1), timestamp: 1 }]);
    const p1 = h.log.append(1, [{ value: ev('a', 2), timestamp: 2 }]);
    const p0Second = h.log.append(0, [{ value: ev('a', 3), timestamp: 3 }]);
    h.batch([p0First!]);
    const mixed = h.batch([...p1, p0First!, ...p0Second]);
    expect(mixed.metrics.redelivered).toBe(1);
    expect(fired(h.drain())).toEqual([{ key: 'a', start: 0, end: 10, value: 3, update: false }]);
  });

  it('does not count a redelivered late record again', () => {
    const h = new Harness(countJob());
    h.send({ 0: [ev('a', 50)] });
    const late = h.send({ 0: [ev('a', 1)] });
    const replay = h.batch(h.log.items);
    expect(late.late).toHaveLength(1);
    expect(replay.late).toEqual([]);
    expect(replay.metrics.late).toBe(0);
  });
});

describe('end of input', () => {
  it('fires every pending window, sessions included, and moves the watermark to +infinity', () => {
    const h = new Harness(countJob({ assigner: EventTimeSessionWindows.withGap(10), lateness: 1_000 }), {
      partitions: [0, 1],
    });
    h.send({ 0: [ev('a', 0), ev('a', 5)], 1: [ev('b', 100)] });
    const drained = h.drain();
    expect(drained.metrics.watermark).toBe(Number.POSITIVE_INFINITY);
    expect(drained.partitions.every((p) => p.watermark === Number.POSITIVE_INFINITY)).toBe(true);
    expect(fired(drained)).toEqual([
      { key: 'a', start: 0, end: 15, value: 2, update: false },
      { key: 'b', start: 100, end: 110, value: 1, update: false },
    ]);
    // Lateness is over too: nothing is kept, and a second drain fires nothing.
    expect([...h.state.partitions.values()].every((p) => p.sessions.size === 0 && p.windows.size === 0)).toBe(
      true,
    );
    expect(h.drain().rows).toEqual([]);
  });

  it('assigns the records of the last batch before firing everything', () => {
    const h = new Harness(countJob(), { partitions: [0, 1] });
    h.send({ 0: [ev('a', 1)] });
    const last = h.batch(h.log.append(1, [{ value: ev('a', 2), timestamp: 2 }]), { endOfInput: true });
    expect(fired(last)).toEqual([{ key: 'a', start: 0, end: 10, value: 2, update: false }]);
  });

  it('sends records that arrive after the end of input to the late output', () => {
    const h = new Harness(countJob());
    h.send({ 0: [ev('a', 1)] });
    h.drain();
    const after = h.send({ 0: [ev('a', 1_000_000)] });
    expect(after.partitions).toMatchObject([{ watermark: Number.POSITIVE_INFINITY }]);
    expect(after.rows).toEqual([]);
    expect(after.late).toMatchObject([{ timestamp: 1_000_000, watermark: Number.POSITIVE_INFINITY }]);
  });
});

describe('dedupeBy', () => {
  const dedupeJob = () =>
    events()
      .assignTimestampsAndWatermarks(eventTime(0))
      .dedupeBy((e) => e.id ?? '', { ttlMs: 100 })
      .keyBy((e) => e.key)
      .window(TumblingEventTimeWindows.of(1_000))
      .aggregate(count(), toRow)
      .sinkTo(results);

  it('drops an element whose id was seen before within the TTL, in the same batch or a later one', () => {
    const h = new Harness(dedupeJob());
    const first = h.send({ 0: [ev('a', 1, { id: 'x' }), ev('a', 2, { id: 'x' }), ev('a', 3, { id: 'y' })] });
    const second = h.send({ 0: [ev('a', 50, { id: 'x' })] });
    expect(first.metrics.deduplicated).toBe(1);
    expect(second.metrics.deduplicated).toBe(1);
    expect(fired(h.drain())).toEqual([{ key: 'a', start: 0, end: 1_000, value: 2, update: false }]);
  });

  it.each([
    // [partition watermark when the id comes again, dropped]: x is remembered while watermark < 1 + 100
    [100, true],
    [101, false],
  ])('at watermark %d, an id first seen at 1 with TTL 100 is dropped: %s', (watermark, dropped) => {
    const h = new Harness(dedupeJob());
    h.send({ 0: [ev('a', 1, { id: 'x' })] });
    h.send({ 0: [ev('b', watermark + 1, { id: 'w' })] });
    const again = h.send({ 0: [ev('a', 500, { id: 'x' })] });
    expect(again.metrics.deduplicated).toBe(dropped ? 1 : 0);
    // Ids leave the state once forgotten (the watermark is now 499), so it does not grow forever.
    expect([...h.state.partitions.get('events-0')!.seenIds.keys()]).toEqual(dropped ? [] : ['x']);
    expect(fired(h.drain())).toEqual([
      { key: 'a', start: 0, end: 1_000, value: dropped ? 1 : 2, update: false },
      { key: 'b', start: 0, end: 1_000, value: 1, update: false },
    ]);
  });

  it('does not remember the id of a record that became a dead letter, so its corrected replay is kept', () => {
    const job = events()
      .assignTimestampsAndWatermarks(eventTime(0))
      .dedupeBy((e) => e.id ?? '', { ttlMs: 100 })
      .keyBy((e) => {
        if (e.key === 'bad') throw new Error('no key for bad');
        return e.key;
      })
      .window(TumblingEventTimeWindows.of(1_000))
      .aggregate(count(), toRow)
      .sinkTo(results);
    const h = new Harness(job);
    const failed = h.send({ 0: [ev('bad', 1, { id: 'x' })] });
    const replayed = h.send({ 0: [ev('a', 2, { id: 'x' })] });
    expect(failed.deadLetters).toMatchObject([{ offset: 0, stage: 'window' }]);
    expect(replayed.metrics.deduplicated).toBe(0);
    expect(fired(h.drain())).toEqual([{ key: 'a', start: 0, end: 1_000, value: 1, update: false }]);
  });

  it('remembers ids per partition', () => {
    const h = new Harness(dedupeJob());
    const result = h.send({ 0: [ev('a', 1, { id: 'x' })], 1: [ev('a', 2, { id: 'x' })] });
    expect(result.metrics.deduplicated).toBe(0);
  });
});

describe('map, filter and flatMap', () => {
  it("keep the record's event time, whatever the elements they produce", () => {
    const job = events()
      .assignTimestampsAndWatermarks(eventTime(0))
      .map((e) => ({ ...e, ts: -1_000_000 }))
      .flatMap((e) => [e, { ...e, key: `${e.key}2` }])
      .filter((e) => e.key !== 'skip')
      .keyBy((e) => e.key)
      .window(TumblingEventTimeWindows.of(10))
      .aggregate(count(), toRow)
      .sinkTo(results);
    const h = new Harness(job);
    h.send({ 0: [ev('a', 15), ev('skip', 16)] });
    expect(fired(h.drain())).toEqual([
      { key: 'a', start: 10, end: 20, value: 1, update: false },
      { key: 'a2', start: 10, end: 20, value: 1, update: false },
      { key: 'skip2', start: 10, end: 20, value: 1, update: false },
    ]);
  });

  it('advance the watermark with records a filter drops, since watermarks come from the source', () => {
    const job = events()
      .assignTimestampsAndWatermarks(eventTime(0))
      .filter((e) => e.key !== 'heartbeat')
      .keyBy((e) => e.key)
      .window(TumblingEventTimeWindows.of(10))
      .aggregate(count(), toRow)
      .sinkTo(results);
    const h = new Harness(job);
    const result = h.send({ 0: [ev('a', 5), ev('heartbeat', 30)] });
    expect(result.metrics.watermark).toBe(29);
    expect(fired(result)).toEqual([{ key: 'a', start: 0, end: 10, value: 1, update: false }]);
  });
});

describe('dead letters', () => {
  const boom = (e: { key: string }) => {
    if (e.key === 'bad') throw new Error(`boom on ${e.key}`);
  };
  const windowed = <T extends { key: string }>(stream: DataStream<T>) =>
    stream
      .keyBy((e) => e.key)
      .window(TumblingEventTimeWindows.of(10))
      .aggregate(count(), toRow)
      .sinkTo(results);

  it.each([
    [
      'the timestamp assigner',
      windowed(
        events().assignTimestampsAndWatermarks(
          WatermarkStrategy.forBoundedOutOfOrderness<{ key: string; ts: number }>(0).withTimestampAssigner(
            (e) => {
              boom(e);
              return e.ts;
            },
          ),
        ),
      ),
      'timestamp',
      'The event time could not be read: boom on bad',
    ],
    [
      'a map function',
      windowed(
        events()
          .assignTimestampsAndWatermarks(eventTime(0))
          .map((e) => {
            boom(e);
            return e;
          }),
      ),
      'transform',
      'A map, filter, flatMap or dedupe function threw: boom on bad',
    ],
    [
      'a filter function',
      windowed(
        events()
          .assignTimestampsAndWatermarks(eventTime(0))
          .filter((e) => {
            boom(e);
            return true;
          }),
      ),
      'transform',
      'A map, filter, flatMap or dedupe function threw: boom on bad',
    ],
    [
      'the key selector',
      events()
        .assignTimestampsAndWatermarks(eventTime(0))
        .keyBy((e) => {
          boom(e);
          return e.key;
        })
        .window(TumblingEventTimeWindows.of(10))
        .aggregate(count(), toRow)
        .sinkTo(results),
      'window',
      'The record could not be windowed: boom on bad',
    ],
    [
      'the aggregate function',
      events()
        .assignTimestampsAndWatermarks(eventTime(0))
        .keyBy((e) => e.key)
        .window(TumblingEventTimeWindows.of(10))
        .aggregate(
          {
            ...count<{ key: string; ts: number }>(),
            add: (e: { key: string; ts: number }, n: number) => {
              boom(e);
              return n + 1;
            },
          },
          toRow,
        )
        .sinkTo(results),
      'window',
      'The record could not be windowed: boom on bad',
    ],
  ])(
    'turns a record on which %s throws into a dead letter, and processes the rest of the batch',
    (_fn, job, stage, reason) => {
      const h = new Harness(job);
      const result = h.batch([
        { partition: 2, offset: 40, timestamp: 1, value: ev('a', 1), key: 'a' },
        { partition: 2, offset: 41, timestamp: 2, value: ev('bad', 2), key: 'bad' },
        { partition: 2, offset: 42, timestamp: 3, value: ev('a', 3), key: 'a' },
      ]);
      expect(result.deadLetters).toEqual([
        {
          kind: 'record',
          topic: 'events',
          partition: 2,
          offset: 41,
          timestamp: 2,
          stage,
          reason,
          key: base64Text('bad'),
          value: base64Json(ev('bad', 2)),
        },
      ]);
      expect(result.metrics.deadLetters).toBe(1);
      expect(fired(h.drain())).toEqual([{ key: 'a', start: 0, end: 10, value: 2, update: false }]);
      // The offset moved past it: a redelivery does not dead-letter it twice.
      expect(h.batch(h.log.items).deadLetters).toEqual([]);
    },
  );

  it('turns a value that cannot be decoded into a dead letter with the raw bytes', () => {
    const h = new Harness(countJob());
    const result = h.batch([
      { offset: 0, rawValue: base64Text('{not json'), key: 'k' },
      { offset: 1, timestamp: 1, value: ev('a', 1) },
    ]);
    expect(result.deadLetters).toEqual([
      expect.objectContaining({
        kind: 'record',
        offset: 0,
        stage: 'decode',
        reason: expect.stringMatching(/^The value could not be decoded: .*JSON/),
        key: base64Text('k'),
        value: base64Text('{not json'),
      }),
    ]);
    expect(fired(h.drain())).toEqual([{ key: 'a', start: 0, end: 10, value: 1, update: false }]);
  });

  it.each([1.5, 'soon', null, Number.MAX_SAFE_INTEGER + 2])(
    'turns a record whose event time is %j (not a safe integer) into a dead letter',
    (ts) => {
      const h = new Harness(countJob());
      const result = h.batch([{ offset: 0, value: { key: 'a', ts } }]);
      expect(result.deadLetters).toMatchObject([
        {
          stage: 'timestamp',
          reason: expect.stringContaining('the timestamp assigner must return epoch milliseconds'),
        },
      ]);
      expect(h.watermark).toBe(Number.NEGATIVE_INFINITY);
    },
  );

  it.each([
    [{ nested: true }, 'object'],
    [null, 'null'],
    [undefined, 'undefined'],
  ])('turns a record whose key selector returns %j into a dead letter', (key, type) => {
    const job = events<{ key: unknown; ts: number }>()
      .assignTimestampsAndWatermarks(
        WatermarkStrategy.forBoundedOutOfOrderness<{ key: unknown; ts: number }>(0).withTimestampAssigner(
          (e) => e.ts,
        ),
      )
      .keyBy(() => key as unknown as string)
      .window(TumblingEventTimeWindows.of(10))
      .aggregate(count(), toRow)
      .sinkTo(results);
    const result = new Harness(job).batch([{ offset: 0, value: { key: 'a', ts: 1 } }]);
    expect(result.deadLetters).toMatchObject([
      {
        stage: 'window',
        reason: `The record could not be windowed: The key selector returned ${type}; keys must be strings, numbers, bigints or booleans.`,
      },
    ]);
  });

  it('leaves no trace in the windows of a record whose flatMap throws half way', () => {
    const job = windowed(
      events()
        .assignTimestampsAndWatermarks(eventTime(0))
        .flatMap(function* (e) {
          yield e;
          boom(e);
          yield e;
        }),
    );
    const h = new Harness(job);
    const result = h.send({ 0: [ev('bad', 1), ev('a', 2)] });
    expect(result.deadLetters).toMatchObject([{ offset: 0, stage: 'transform' }]);
    expect(fired(h.drain())).toEqual([{ key: 'a', start: 0, end: 10, value: 2, update: false }]);
  });

  it('leaves no trace in the windows of a record whose key selector throws for one of its elements', () => {
    const job = events()
      .assignTimestampsAndWatermarks(eventTime(0))
      .flatMap((e) => [e, { ...e, key: 'bad' }])
      .keyBy((e) => {
        boom(e);
        return e.key;
      })
      .window(TumblingEventTimeWindows.of(10))
      .aggregate(count(), toRow)
      .sinkTo(results);
    const h = new Harness(job);
    const result = h.send({ 0: [ev('a', 1)] });
    expect(result.deadLetters).toMatchObject([{ offset: 0, stage: 'window' }]);
    expect(fired(h.drain())).toEqual([]);
  });

  it('turns a window function that throws into a window dead letter and still writes the other rows', () => {
    const job = events()
      .assignTimestampsAndWatermarks(eventTime(0))
      .keyBy((e) => e.key)
      .window(TumblingEventTimeWindows.of(10))
      .aggregate(count(), (key, window, n) => {
        if (key === 'bad') throw new Error('cannot write bad');
        return toRow(key, window, n);
      })
      .sinkTo(results);
    const h = new Harness(job);
    const result = h.send({ 0: [ev('a', 1), ev('bad', 2), ev('c', 20)] });
    expect(result.deadLetters).toEqual([
      {
        kind: 'window',
        key: 'bad',
        window: { start: 0, end: 10 },
        reason: 'The window function threw: cannot write bad',
      },
    ]);
    expect(fired(result)).toEqual([{ key: 'a', start: 0, end: 10, value: 1, update: false }]);
  });

  const failingMerge = {
    ...count<Ev>(),
    merge: (a: number, b: number) => {
      if (b > 1) throw new Error('merge failed');
      return a + b;
    },
  };

  it.each([
    ['tumbling', TumblingEventTimeWindows.of(10), { start: 0, end: 10 }, { start: 0, end: 10 }],
    ['session', EventTimeSessionWindows.withGap(10), { start: 1, end: 14 }, { start: 3, end: 15 }],
  ])(
    'turns a merge that throws while firing a %s window spread over partitions into a window dead letter',
    (_kind, assigner, badWindow, goodWindow) => {
      const h = new Harness(countJob({ assigner, aggregate: failingMerge }), { partitions: [0, 1] });
      h.send({ 0: [ev('bad', 1), ev('bad', 2), ev('a', 3)], 1: [ev('bad', 4), ev('a', 5)] });
      const result = h.drain();
      expect(result.deadLetters).toEqual([
        {
          kind: 'window',
          key: 'bad',
          window: badWindow,
          reason: "The aggregate's merge threw: merge failed",
        },
      ]);
      expect(fired(result)).toEqual([{ key: 'a', ...goodWindow, value: 2, update: false }]);
    },
  );
});

describe('tombstones', () => {
  it('skips tombstones by default and counts them', () => {
    const h = new Harness(countJob());
    const result = h.batch([
      { offset: 0, value: null, key: 'a' },
      { offset: 1, timestamp: 1, value: ev('a', 1) },
    ]);
    expect(result.deadLetters).toEqual([]);
    expect(result.metrics.tombstones).toBe(1);
    expect(fired(h.drain())).toEqual([{ key: 'a', start: 0, end: 10, value: 1, update: false }]);
  });

  it("sends tombstones to the dead letters with policy 'dead-letter'", () => {
    const job = events({ tombstones: 'dead-letter' })
      .assignTimestampsAndWatermarks(eventTime(0))
      .keyBy((e) => e.key)
      .window(TumblingEventTimeWindows.of(10))
      .aggregate(count(), toRow)
      .sinkTo(results);
    const h = new Harness(job);
    const result = h.batch([
      { offset: 7, timestamp: 123, value: null, key: 'a' },
      { offset: 8, timestamp: 1, value: ev('a', 1) },
    ]);
    expect(result.deadLetters).toEqual([
      {
        kind: 'record',
        topic: 'events',
        partition: 0,
        offset: 7,
        timestamp: 123,
        stage: 'tombstone',
        reason: 'The record is a tombstone (null value).',
        key: base64Text('a'),
        value: null,
      },
    ]);
    expect(result.metrics.tombstones).toBe(1);
    expect(fired(h.drain())).toEqual([{ key: 'a', start: 0, end: 10, value: 1, update: false }]);
  });
});

describe('input', () => {
  it('accepts the records of a batch as arrays of one partition each, as well as a Lambda event', () => {
    const job = countJob();
    const fromEvent = new Harness(job);
    fromEvent.send({ 0: [ev('a', 1)], 1: [ev('a', 2)] });
    fromEvent.drain();
    const engine = new Engine(job);
    const state = newEngineState();
    const items = fromEvent.log.items.map((item) => ({
      topic: 'events',
      partition: item.partition!,
      offset: item.offset,
      timestamp: item.timestamp!,
      value: base64Json(item.value),
    }));
    const direct = engine.processBatch(state, [[items[0]!], [items[1]!]], { now: 0 });
    const drained = engine.drain(state, 0);
    expect(flatten([...direct.rows, ...drained.rows])).toEqual(flatten(fromEvent.rows));
  });
});

describe('Lambda events from the fixtures', () => {
  const fixture = (name: string): KafkaEvent =>
    JSON.parse(readFileSync(new URL(`../../examples/events/${name}`, import.meta.url), 'utf8')) as KafkaEvent;

  const bidsPerAuction = events<Bid>()
    .assignTimestampsAndWatermarks(
      WatermarkStrategy.forBoundedOutOfOrderness<Bid>(BID_OUT_OF_ORDERNESS_MS).withTimestampAssigner(
        (b) => b.dateTime,
      ),
    )
    .keyBy((bid) => bid.auction, { isKafkaKey: true })
    .window(TumblingEventTimeWindows.of(10_000))
    .aggregate(count(), toRow)
    .sinkTo(results);

  /** Bids per auction and 10 s window, counted directly from the decodable records. */
  function reference(event: KafkaEvent) {
    const counts = new Map<string, number>();
    for (const record of Object.values(event.records).flat()) {
      let bid: Bid;
      try {
        bid = JSON.parse(Buffer.from(record.value!, 'base64').toString()) as Bid;
      } catch {
        continue;
      }
      const start = Math.floor(bid.dateTime / 10_000) * 10_000;
      const id = `${bid.auction}|${start}`;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    return [...counts].map(([id, value]) => {
      const [key, start] = id.split('|');
      return { key: key!, start: Number(start), end: Number(start) + 10_000, value, update: false };
    });
  }

  it.each(['msk-bids.json', 'self-managed-bids.json'])(
    'counts the bids of %s per auction, and dead-letters the truncated record',
    (name) => {
      const event = fixture(name);
      const engine = new Engine(bidsPerAuction);
      const state = newEngineState();
      const batch = engine.processBatch(state, event, { now: 0 });
      const drained = engine.drain(state, 0);
      expect(batch.deadLetters).toMatchObject([{ topic: 'bids', partition: 1, offset: 20, stage: 'decode' }]);
      expect(batch.metrics).toMatchObject({ records: 12, deadLetters: 1, late: 0 });
      expect(flatten([...batch.rows, ...drained.rows])).toEqual(
        reference(event).sort((a, b) => a.start - b.start || a.key.localeCompare(b.key)),
      );
    },
  );
});

describe('records that carry their value as text (floe run reads lines)', () => {
  /** A format that counts which of its decodings ran. */
  const counting = (withText: boolean) => {
    const calls = { base64: 0, text: 0 };
    const format: FormatBase<Ev> = {
      type: 'json',
      decode: (b64: string) => {
        calls.base64++;
        return JSON.parse(Buffer.from(b64, 'base64').toString('utf8')) as Ev;
      },
      ...(withText
        ? {
            decodeText: (text: string) => {
              calls.text++;
              return JSON.parse(text) as Ev;
            },
          }
        : {}),
      toString: () => 'Json',
    };
    return { calls, format };
  };
  const jobWith = (format: FormatBase<Ev>) =>
    job('engine-text')
      .fromKafka({ value: format })
      .assignTimestampsAndWatermarks(eventTime(0))
      .keyBy((e) => e.key)
      .window(TumblingEventTimeWindows.of(10))
      .aggregate(count(), toRow)
      .sinkTo(results);
  const texts = ['{"key":"a","ts":1}', '{"key":"b","ts":2}', '{"key":"a","ts":3', '{"key":"a","ts":15}'];
  /** The records as Lambda delivers them, or with their text, their base64 counted when read. */
  const recordsOf = (withText: boolean) => {
    const reads = new Set<number>();
    const records = texts.map((text, offset) => {
      const plain = { topic: 'events', partition: 0, offset, timestamp: 0, value: base64Text(text) };
      if (!withText) return plain;
      return {
        ...plain,
        get value() {
          reads.add(offset);
          return base64Text(text);
        },
        [VALUE_TEXT]: text,
      };
    });
    return { reads, event: { eventSource: 'aws:kafka', records: { 'events-0': records } } as KafkaEvent };
  };

  it('decodes the text when the format reads text, with the rows and dead letters of the base64', () => {
    const run = (withText: boolean) => {
      const { calls, format } = counting(true);
      const { reads, event } = recordsOf(withText);
      const engine = new Engine(jobWith(format));
      const result = engine.processBatch(newEngineState(), event, { now: 0 });
      // Dead letters are written as Lambda's records would be: their base64 value read then.
      return {
        calls,
        reads,
        rows: fired(result),
        deadLetters: JSON.parse(JSON.stringify(result.deadLetters)),
      };
    };
    const base64 = run(false);
    const text = run(true);
    expect(text.rows).toEqual(base64.rows);
    expect(text.rows.length).toBeGreaterThan(0);
    expect(text.deadLetters).toEqual(base64.deadLetters);
    expect(text.deadLetters).toMatchObject([{ offset: 2, stage: 'decode', value: base64Text(texts[2]!) }]);
    expect(base64.calls).toEqual({ base64: 4, text: 0 });
    expect(text.calls).toEqual({ base64: 0, text: 4 });
    // Only the dead letter's record was asked for its base64.
    expect([...text.reads]).toEqual([2]);
  });

  it('decodes the base64 when the format has no text decoding', () => {
    const { calls, format } = counting(false);
    const result = new Engine(jobWith(format)).processBatch(newEngineState(), recordsOf(true).event, {
      now: 0,
    });
    expect(calls).toEqual({ base64: 4, text: 0 });
    expect(result.deadLetters).toHaveLength(1);
  });
});
