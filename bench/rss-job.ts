/**
 * The job of the RSS figure (bench/rss.ts): each record carries 10 keys, counted per key in
 * tumbling 10 s windows, so that one event of 10,000 records holds 100,000 distinct keys.
 */
import { count, job, json, TumblingEventTimeWindows, table, WatermarkStrategy } from '../runtime/index.ts';

/** One record's value: its event time, its keys and padding. */
export interface KeyBundle {
  readonly t: number;
  readonly keys: readonly number[];
  readonly pad: string;
}

export const KEYS_PER_RECORD = 10;

export default job('rss-keys')
  .fromKafka({ value: json<KeyBundle>() })
  .assignTimestampsAndWatermarks(
    WatermarkStrategy.forBoundedOutOfOrderness<KeyBundle>(1_000).withTimestampAssigner((b) => b.t),
  )
  .flatMap((b) => b.keys.map((key) => ({ key })))
  .keyBy((k) => k.key)
  .window(TumblingEventTimeWindows.of(10_000))
  .aggregate(count(), (key, window, n) => ({ key, window_start: window.start, n }))
  .sinkTo(table('rss.counts', { key: 'long', window_start: 'timestamptz', n: 'long' }));
