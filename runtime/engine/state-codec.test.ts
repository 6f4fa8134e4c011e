import { describe, expect, it } from 'vitest';
import {
  countJob,
  cutIntoBatches,
  type Ev,
  ev,
  events,
  eventTime,
  Harness,
  random,
  randomInt,
  results,
  toRow,
} from '../../test/support/engine-harness.ts';
import type { AggregateFunction } from '../aggregates/aggregate-function.ts';
import { avg, count, sum } from '../aggregates/aggregates.ts';
import type { Job } from '../job/job.ts';
import type { Key } from '../job/plan.ts';
import { WatermarkStrategy } from '../time/watermark-strategy.ts';
import { EventTimeSessionWindows } from '../windows/session.ts';
import { SlidingEventTimeWindows } from '../windows/sliding.ts';
import { TumblingEventTimeWindows } from '../windows/tumbling.ts';
import { newEngineState } from './state.ts';
import { decodeState, encodeState } from './state-codec.ts';

describe('encodeState and decodeState', () => {
  it('round-trip a fresh state, with its -infinity watermarks and known partitions', () => {
    const state = newEngineState([
      { topic: 'bids', partition: 0 },
      { topic: 'bids', partition: 1 },
    ]);
    const decoded = decodeState(encodeState(state));
    expect(decoded).toEqual(state);
    expect(decoded.jobWatermark).toBe(Number.NEGATIVE_INFINITY);
  });

  it('round-trip the +infinity watermark of an ended input', () => {
    const h = new Harness(countJob());
    h.send({ 0: [ev('a', 1)] });
    h.drain();
    const decoded = decodeState(encodeState(h.state));
    expect(decoded.jobWatermark).toBe(Number.POSITIVE_INFINITY);
    expect(decoded).toEqual(h.state);
  });

  it('produce JSON text', () => {
    const h = new Harness(countJob());
    h.send({ 0: [ev('a', 1)] });
    expect(() => JSON.parse(encodeState(h.state))).not.toThrow();
  });

  it('keep keys of different types apart: 1, "1", 1n and true stay four keys', () => {
    const keyOf = (e: { kind: string }): Key =>
      e.kind === 'number' ? 1 : e.kind === 'string' ? '1' : e.kind === 'bigint' ? 1n : true;
    const job = events<{ kind: string; ts: number }>()
      .assignTimestampsAndWatermarks(
        WatermarkStrategy.forBoundedOutOfOrderness<{ kind: string; ts: number }>(0).withTimestampAssigner(
          (e) => e.ts,
        ),
      )
      .keyBy(keyOf)
      .window(TumblingEventTimeWindows.of(10))
      .aggregate(count(), toRow)
      .sinkTo(results);
    const h = new Harness(job, { checkpoint: true });
    h.batch(
      ['number', 'string', 'bigint', 'boolean', 'number'].map((kind, offset) => ({
        offset,
        value: { kind, ts: 1 },
      })),
    );
    const rows = h.drain().rows.map((r) => [r.key, r.row.value]);
    expect(rows).toHaveLength(4);
    expect(rows).toEqual(
      expect.arrayContaining([
        [1, 2],
        ['1', 1],
        [1n, 1],
        [true, 1],
      ]),
    );
  });

  it('keep dedupe ids, so a duplicate after a checkpoint is still dropped', () => {
    const job = events()
      .assignTimestampsAndWatermarks(eventTime(0))
      .dedupeBy((e) => e.id ?? '', { ttlMs: 1_000 })
      .keyBy((e) => e.key)
      .window(TumblingEventTimeWindows.of(100))
      .aggregate(count(), toRow)
      .sinkTo(results);
    const h = new Harness(job, { checkpoint: true });
    h.send({ 0: [ev('a', 1, { id: 'x' })] });
    expect(h.send({ 0: [ev('a', 2, { id: 'x' })] }).metrics.deduplicated).toBe(1);
  });

  it('reject a state written by another version', () => {
    const text = encodeState(newEngineState()).replace('"version":1', '"version":2');
    expect(() => decodeState(text)).toThrow('Unsupported engine state version 2; expected 1.');
  });
});

describe('a run split by checkpoints', () => {
  const jobs: [string, () => Job<ReturnType<typeof toRow>>][] = [
    [
      'tumbling count with lateness',
      () => countJob({ lateness: 15, watermarks: eventTime(3).withIdleness(40) }),
    ],
    [
      'sliding average',
      () =>
        countJob({
          assigner: SlidingEventTimeWindows.of(20, 5),
          aggregate: avg<Ev>((e) => e.n ?? 0) as AggregateFunction<Ev, unknown, number>,
          watermarks: eventTime(5),
        }),
    ],
    [
      'sessions with lateness',
      () =>
        countJob({
          assigner: EventTimeSessionWindows.withGap(8),
          aggregate: sum<Ev>((e) => e.n ?? 0) as AggregateFunction<Ev, unknown, number>,
          lateness: 20,
        }),
    ],
    [
      'process-window function over every element, after dedupe',
      () =>
        events()
          .assignTimestampsAndWatermarks(eventTime(2))
          .dedupeBy((e) => `${e.key}:${e.ts}`, { ttlMs: 30 })
          .keyBy((e) => e.key)
          .window(TumblingEventTimeWindows.of(10))
          .process((key, window, elements) =>
            toRow(
              `${key}:${elements
                .map((e) => e.ts)
                .sort((a, b) => a - b)
                .join(',')}`,
              window,
              elements.length,
            ),
          )
          .sinkTo(results),
    ],
  ];

  it.each(jobs)('gives the same results as an uninterrupted run: %s', (_name, job) => {
    for (let seed = 1; seed <= 30; seed++) {
      const rnd = random(seed);
      const partitions = randomInt(rnd, 1, 3);
      const perPartition = Array.from({ length: partitions }, () =>
        Array.from({ length: randomInt(rnd, 0, 30) }, () =>
          ev(`k${randomInt(rnd, 0, 2)}`, randomInt(rnd, -100, 100), { n: randomInt(rnd, 1, 9) }),
        ),
      );
      const batches = cutIntoBatches(rnd, perPartition);
      const known = Array.from({ length: partitions }, (_, p) => p);
      const runWith = (checkpoint: boolean) => {
        const h = new Harness(job(), { partitions: known, checkpoint });
        for (const [i, groups] of batches.entries()) h.sendGroups(groups, { now: i * 15 });
        h.drain();
        return h;
      };
      const uninterrupted = runWith(false);
      const checkpointed = runWith(true);
      expect(checkpointed.results, `seed ${seed}`).toEqual(uninterrupted.results);
      expect(encodeState(checkpointed.state), `seed ${seed}`).toBe(encodeState(uninterrupted.state));
    }
  });
});
