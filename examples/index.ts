/** The example jobs, by name, for the demo, the benchmark and the tests. */
import bidderSessions from './bidder-sessions.ts';
import bidsPerAuction from './bids-per-auction.ts';
import channelRevenue from './channel-revenue.ts';
import hotItems from './hot-items.ts';
import maxPrice from './max-price.ts';

export const EXAMPLE_JOBS = {
  'bids-per-auction': bidsPerAuction,
  'hot-items': hotItems,
  'bidder-sessions': bidderSessions,
  'channel-revenue': channelRevenue,
  'max-price': maxPrice,
} as const;

export type ExampleName = keyof typeof EXAMPLE_JOBS;
