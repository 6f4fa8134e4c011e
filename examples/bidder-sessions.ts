/**
 * Bidder sessions with a 10 s gap. The Kafka key is the auction, not the bidder, so a bidder's
 * bids arrive on several partitions: partial sessions are merged across partitions when the job
 * watermark passes them.
 */
import { type AggregateFunction, EventTimeSessionWindows, job, json, table, WatermarkStrategy } from 'floe';
import { BID_OUT_OF_ORDERNESS_MS, type Bid } from './nexmark/bid.ts';

export const bidderSessions = table('nexmark.bidder_sessions', {
  bidder: 'long',
  window_start: 'timestamptz',
  window_end: 'timestamptz',
  bids: 'long',
  total_price: 'long',
});

interface BidTotals {
  bids: number;
  totalPrice: number;
}

const bidTotals: AggregateFunction<Bid, BidTotals, BidTotals> = {
  createAccumulator: () => ({ bids: 0, totalPrice: 0 }),
  add: (bid, acc) => {
    acc.bids += 1;
    acc.totalPrice += bid.price;
    return acc;
  },
  getResult: (acc) => acc,
  merge: (a, b) => {
    a.bids += b.bids;
    a.totalPrice += b.totalPrice;
    return a;
  },
};

export default job('bidder-sessions')
  .fromKafka({ value: json<Bid>() })
  .assignTimestampsAndWatermarks(
    WatermarkStrategy.forBoundedOutOfOrderness<Bid>(BID_OUT_OF_ORDERNESS_MS).withTimestampAssigner(
      (bid) => bid.dateTime,
    ),
  )
  .keyBy((bid) => bid.bidder)
  .window(EventTimeSessionWindows.withGap(10_000))
  .aggregate(bidTotals, (bidder, window, totals) => ({
    bidder,
    window_start: window.start,
    window_end: window.end,
    bids: totals.bids,
    total_price: totals.totalPrice,
  }))
  .sinkTo(bidderSessions);
