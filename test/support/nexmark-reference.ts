/**
 * Brute-force references for the example jobs: the rows each example must write for a set of
 * bids, computed from the bids alone, straight from Flink's window definitions, without the
 * engine. Used by test/reference (the engine's rows) and
 * test/iceberg (the tables, as other engines read them).
 */
import type { ExampleName } from '../../examples/index.ts';
import type { Bid } from '../../examples/nexmark/bid.ts';

/** A result row: longs as numbers, timestamps as epoch ms. */
export type Row = Record<string, string | number>;

/** Windows [start, start + size) for every start = k * step (k integer) that can hold a time in [min, max]. */
export function alignedWindows(min: number, max: number, size: number, step: number): [number, number][] {
  const windows: [number, number][] = [];
  for (let start = Math.floor((min - size) / step) * step; start <= max; start += step) {
    if (start + size > min) windows.push([start, start + size]);
  }
  return windows;
}

/** Cumulative windows: within each [S, S + maxSize) with S = k * maxSize, every [S, S + j * step). */
export function cumulativeWindows(
  min: number,
  max: number,
  step: number,
  maxSize: number,
): [number, number][] {
  const windows: [number, number][] = [];
  for (const [start] of alignedWindows(min, max, maxSize, maxSize)) {
    for (let end = start + step; end <= start + maxSize; end += step) windows.push([start, end]);
  }
  return windows;
}

/** For each window and each key with bids in it (start <= dateTime < end), one row. */
export function perWindowAndKey<K extends string | number>(
  bids: readonly Bid[],
  windows: (min: number, max: number) => [number, number][],
  keyOf: (bid: Bid) => K,
  toRow: (key: K, start: number, end: number, bids: readonly Bid[]) => Row,
): Row[] {
  if (bids.length === 0) return [];
  const times = bids.map((b) => b.dateTime);
  const rows: Row[] = [];
  for (const [start, end] of windows(Math.min(...times), Math.max(...times))) {
    const groups = new Map<K, Bid[]>();
    for (const bid of bids) {
      if (bid.dateTime < start || bid.dateTime >= end) continue;
      const key = keyOf(bid);
      const group = groups.get(key);
      if (group) group.push(bid);
      else groups.set(key, [bid]);
    }
    for (const [key, group] of groups) rows.push(toRow(key, start, end, group));
  }
  return rows;
}

/**
 * Session windows: each bid opens [t, t + gap); windows of a bidder that overlap or touch merge.
 * Taking a bidder's bids by time, a bid starts a new session only when t > the current end.
 */
export function bidderSessions(bids: readonly Bid[], gap: number): Row[] {
  const byBidder = new Map<number, Bid[]>();
  for (const bid of bids) {
    const list = byBidder.get(bid.bidder);
    if (list) list.push(bid);
    else byBidder.set(bid.bidder, [bid]);
  }
  const rows: Row[] = [];
  for (const [bidder, list] of byBidder) {
    list.sort((a, b) => a.dateTime - b.dateTime);
    let session: { start: number; end: number; bids: number; total: number } | undefined;
    const close = () => {
      if (session) {
        rows.push({
          bidder,
          window_start: session.start,
          window_end: session.end,
          bids: session.bids,
          total_price: session.total,
        });
      }
    };
    for (const bid of list) {
      if (session && bid.dateTime <= session.end) {
        session.end = Math.max(session.end, bid.dateTime + gap);
        session.bids++;
        session.total += bid.price;
      } else {
        close();
        session = { start: bid.dateTime, end: bid.dateTime + gap, bids: 1, total: bid.price };
      }
    }
    close();
  }
  return rows;
}

/** Bids per auction and window, for windows of `size` every `slide` (tumbling when equal). */
export function bidsPerAuctionIn(bids: readonly Bid[], size: number, slide: number): Row[] {
  return perWindowAndKey(
    bids,
    (min, max) => alignedWindows(min, max, size, slide),
    (b) => b.auction,
    (auction, start, end, group) => ({ auction, window_start: start, window_end: end, bids: group.length }),
  );
}

/** What each example job must write to its table for these bids. */
export const EXAMPLE_REFERENCES: Readonly<Record<ExampleName, (bids: readonly Bid[]) => Row[]>> = {
  'bids-per-auction': (bids) => bidsPerAuctionIn(bids, 10_000, 10_000),
  'hot-items': (bids) => bidsPerAuctionIn(bids, 10_000, 2_000),
  'bidder-sessions': (bids) => bidderSessions(bids, 10_000),
  'channel-revenue': (bids) =>
    perWindowAndKey(
      bids,
      (min, max) => cumulativeWindows(min, max, 10_000, 60_000),
      (b) => b.channel,
      (channel, start, end, group) => ({
        channel,
        window_start: start,
        window_end: end,
        revenue: group.reduce((sum, b) => sum + b.price, 0),
      }),
    ),
  'max-price': (bids) =>
    perWindowAndKey(
      bids,
      (min, max) => alignedWindows(min, max, 10_000, 10_000),
      () => 'all',
      (_all, start, end, group) => ({
        window_start: start,
        window_end: end,
        max_price: Math.max(...group.map((b) => b.price)),
      }),
    ),
};

/** Rows as a sorted multiset: order-independent, duplicates kept, key order ignored. */
export function multiset(rows: readonly Readonly<Record<string, unknown>>[]): string[] {
  return rows
    .map((row) =>
      JSON.stringify(
        Object.keys(row)
          .sort()
          .map((k) => [k, row[k]]),
      ),
    )
    .sort();
}
