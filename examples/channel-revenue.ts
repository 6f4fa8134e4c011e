/** Revenue per channel so far in each minute, updated every 10 s (cumulative windows). */
import { CumulativeEventTimeWindows, job, json, sum, table, WatermarkStrategy } from 'floe';
import { BID_OUT_OF_ORDERNESS_MS, type Bid } from './nexmark/bid.ts';

export const channelRevenue = table('nexmark.channel_revenue', {
  channel: 'string',
  window_start: 'timestamptz',
  window_end: 'timestamptz',
  revenue: 'long',
});

export default job('channel-revenue')
  .fromKafka({ value: json<Bid>() })
  .assignTimestampsAndWatermarks(
    WatermarkStrategy.forBoundedOutOfOrderness<Bid>(BID_OUT_OF_ORDERNESS_MS).withTimestampAssigner(
      (bid) => bid.dateTime,
    ),
  )
  .keyBy((bid) => bid.channel)
  .window(CumulativeEventTimeWindows.of(10_000, 60_000))
  .aggregate(
    sum((bid: Bid) => bid.price),
    (channel, window, revenue) => ({ channel, window_start: window.start, window_end: window.end, revenue }),
  )
  .sinkTo(channelRevenue);
