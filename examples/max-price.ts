/** The highest bid price over all auctions in tumbling 10 s windows (Nexmark q7's first step), global. */
import { job, json, max, TumblingEventTimeWindows, table, WatermarkStrategy } from 'floe';
import { BID_OUT_OF_ORDERNESS_MS, type Bid } from './nexmark/bid.ts';

export const maxPrice = table('nexmark.max_price', {
  window_start: 'timestamptz',
  window_end: 'timestamptz',
  max_price: 'long',
});

export default job('max-price')
  .fromKafka({ value: json<Bid>() })
  .assignTimestampsAndWatermarks(
    WatermarkStrategy.forBoundedOutOfOrderness<Bid>(BID_OUT_OF_ORDERNESS_MS).withTimestampAssigner(
      (bid) => bid.dateTime,
    ),
  )
  .windowAll(TumblingEventTimeWindows.of(10_000))
  .aggregate(
    max((bid: Bid) => bid.price),
    (window, maxPrice) => ({ window_start: window.start, window_end: window.end, max_price: maxPrice }),
  )
  .sinkTo(maxPrice);
