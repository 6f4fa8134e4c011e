/**
 * Bids per bidder in tumbling 10 s windows: the key is not the Kafka key, so windows wait for
 * every partition. With a 60 s idleness timeout and `idleTopicWatermark: 'processing-time'`, a
 * topic that went silent everywhere still fires its windows on ticks (cli/tick.test.ts).
 */
import { count, job, json, TumblingEventTimeWindows, table, WatermarkStrategy } from 'floe';
import type { Bid } from '../../../examples/nexmark/bid.ts';

export default job('idle-bids-per-bidder')
  .fromKafka({ value: json<Bid>() })
  .assignTimestampsAndWatermarks(
    WatermarkStrategy.forBoundedOutOfOrderness<Bid>(5_000)
      .withTimestampAssigner((bid) => bid.dateTime)
      .withIdleness(60_000, { idleTopicWatermark: 'processing-time' }),
  )
  .keyBy((bid) => bid.bidder)
  .window(TumblingEventTimeWindows.of(10_000))
  .aggregate(count(), (bidder, window, bids) => ({
    bidder,
    window_start: window.start,
    window_end: window.end,
    bids,
  }))
  .sinkTo(
    table('nexmark.idle_bids_per_bidder', {
      bidder: 'long',
      window_start: 'timestamptz',
      window_end: 'timestamptz',
      bids: 'long',
    }),
  );
