/** Bids per auction in sliding windows of 10 s every 2 s (Nexmark q5's hot items, before the top-N). */
import { count, job, json, SlidingEventTimeWindows, table, WatermarkStrategy } from 'floe';
import { BID_OUT_OF_ORDERNESS_MS, type Bid } from './nexmark/bid.ts';

export const hotItems = table('nexmark.hot_items', {
  auction: 'long',
  window_start: 'timestamptz',
  window_end: 'timestamptz',
  bids: 'long',
});

export default job('hot-items')
  .fromKafka({ value: json<Bid>() })
  .assignTimestampsAndWatermarks(
    WatermarkStrategy.forBoundedOutOfOrderness<Bid>(BID_OUT_OF_ORDERNESS_MS).withTimestampAssigner(
      (bid) => bid.dateTime,
    ),
  )
  .keyBy((bid) => bid.auction, { isKafkaKey: true })
  .window(SlidingEventTimeWindows.of(10_000, 2_000))
  .aggregate(count(), (auction, window, bids) => ({
    auction,
    window_start: window.start,
    window_end: window.end,
    bids,
  }))
  .sinkTo(hotItems);
