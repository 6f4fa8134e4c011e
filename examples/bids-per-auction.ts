/** Bids per auction in tumbling 10 s windows. The Kafka key is the auction, so windows fire per partition. */
import { count, job, json, TumblingEventTimeWindows, table, WatermarkStrategy } from 'floe';
import { BID_OUT_OF_ORDERNESS_MS, type Bid } from './nexmark/bid.ts';

export const bidsPerAuction = table('nexmark.bids_per_auction', {
  auction: 'long',
  window_start: 'timestamptz',
  window_end: 'timestamptz',
  bids: 'long',
});

export default job('bids-per-auction')
  .fromKafka({ value: json<Bid>() })
  .assignTimestampsAndWatermarks(
    WatermarkStrategy.forBoundedOutOfOrderness<Bid>(BID_OUT_OF_ORDERNESS_MS).withTimestampAssigner(
      (bid) => bid.dateTime,
    ),
  )
  .keyBy((bid) => bid.auction, { isKafkaKey: true })
  .window(TumblingEventTimeWindows.of(10_000))
  .aggregate(count(), (auction, window, bids) => ({
    auction,
    window_start: window.start,
    window_end: window.end,
    bids,
  }))
  .sinkTo(bidsPerAuction);
