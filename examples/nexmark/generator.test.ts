/** The Nexmark bid generator that the reference tests and the benchmark feed on. */
import { describe, expect, it } from 'vitest';
import { BID_OUT_OF_ORDERNESS_MS, type Bid } from './bid.ts';
import { type BidGeneratorOptions, bidsToJsonLines, generateBids, iterateBids } from './generator.ts';

/** The largest amount by which any bid trails the newest bid generated before it. */
function largestLag(bids: readonly Bid[]): number {
  let newest = Number.NEGATIVE_INFINITY;
  let lag = 0;
  for (const bid of bids) {
    lag = Math.max(lag, newest - bid.dateTime);
    newest = Math.max(newest, bid.dateTime);
  }
  return lag;
}

/** The share of bids that go to the most frequent auction. */
function hottestShare(bids: readonly Bid[]): number {
  const counts = new Map<number, number>();
  for (const bid of bids) counts.set(bid.auction, (counts.get(bid.auction) ?? 0) + 1);
  return Math.max(...counts.values()) / bids.length;
}

describe('generateBids', () => {
  it('gives the same bids for the same options, and other bids for another seed', () => {
    const options: BidGeneratorOptions = { seed: 42, count: 500, skew: 1.1 };
    expect(generateBids(options)).toEqual(generateBids(options));
    expect(generateBids({ ...options, seed: 43 })).not.toEqual(generateBids(options));
  });

  it('yields the same bids one at a time as all at once', () => {
    const options: BidGeneratorOptions = { seed: 3, count: 300, extraBytes: 8 };
    expect([...iterateBids(options)]).toEqual(generateBids(options));
  });

  it('makes Nexmark-like bids within the configured ids, channels and price range', () => {
    const bids = generateBids({ seed: 1, count: 2_000, auctions: 50, bidders: 70, channels: 6 });

    expect(bids).toHaveLength(2_000);
    for (const bid of bids) {
      expect(Object.keys(bid)).toEqual(['auction', 'bidder', 'price', 'channel', 'url', 'dateTime', 'extra']);
      expect(bid.auction).toBeGreaterThanOrEqual(1000);
      expect(bid.auction).toBeLessThan(1050);
      expect(bid.bidder).toBeGreaterThanOrEqual(1000);
      expect(bid.bidder).toBeLessThan(1070);
      expect(['Google', 'Facebook', 'Baidu', 'Apple', 'channel-4', 'channel-5']).toContain(bid.channel);
      expect(Number.isSafeInteger(bid.price)).toBe(true);
      expect(bid.price).toBeGreaterThanOrEqual(100);
      expect(bid.price).toBeLessThanOrEqual(100_000_000);
      expect(bid.url).toMatch(
        /^https:\/\/www\.nexmark\.com\/[a-z]{5}\/[a-z]{5}\/[a-z]{5}\/item\.htm\?query=1/,
      );
      expect(bid.url).toContain(`auction=${bid.auction}`);
      expect(bid.extra).toBe('');
    }
    expect(new Set(bids.map((b) => b.channel)).size).toBe(6);
  });

  it('keeps every bid within maxDisorderMs of the newest one before it, below the examples bound', () => {
    const bids = generateBids({ seed: 9, count: 5_000, eventsPerSecond: 500 });

    const lag = largestLag(bids);
    expect(lag).toBeGreaterThan(3_000);
    expect(lag).toBeLessThanOrEqual(4_000);
    expect(lag).toBeLessThan(BID_OUT_OF_ORDERNESS_MS);
  });

  it.each([0, 250, 4_999])('honours maxDisorderMs %i', (maxDisorderMs) => {
    const bids = generateBids({ seed: 5, count: 3_000, eventsPerSecond: 5_000, maxDisorderMs });
    expect(largestLag(bids)).toBeLessThanOrEqual(maxDisorderMs);
  });

  it('spreads event time at eventsPerSecond from startTime, negative times included', () => {
    const bids = generateBids({ seed: 2, count: 1_000, eventsPerSecond: 20, startTime: -30_000 });
    const times = bids.map((b) => b.dateTime);

    expect(Math.min(...times)).toBeGreaterThanOrEqual(-30_000);
    // 1,000 bids at 20 a second span 50 s of event time (minus the jitter of the last ones).
    expect(Math.max(...times)).toBeGreaterThan(-30_000 + 49_950 - 4_000);
    expect(Math.max(...times)).toBeLessThanOrEqual(-30_000 + 49_950);
  });

  it('concentrates bids on a few hot auctions as the skew grows', () => {
    const share = (skew: number) =>
      hottestShare(generateBids({ seed: 4, count: 5_000, auctions: 200, skew }));

    expect(share(0)).toBeLessThan(0.02);
    expect(share(1.1)).toBeGreaterThan(0.1);
    expect(share(2)).toBeGreaterThan(0.5);
  });

  it('pads extra to extraBytes lowercase letters', () => {
    for (const bid of generateBids({ seed: 1, count: 20, extraBytes: 32 }))
      expect(bid.extra).toMatch(/^[a-z]{32}$/);
  });

  it.each([
    [{ count: -1 }, 'count must be a whole number >= 0, got -1.'],
    [{ count: 1, eventsPerSecond: 0 }, 'eventsPerSecond must be a positive number, got 0.'],
    [{ count: 1, auctions: 0 }, 'auctions must be a whole number >= 1, got 0.'],
    [{ count: 1, skew: -0.5 }, 'skew must be a number >= 0, got -0.5.'],
    [{ count: 1, maxDisorderMs: 1.5 }, 'maxDisorderMs must be a whole number >= 0, got 1.5.'],
    [{ count: 1, seed: 0.5 }, 'seed must be a safe integer, got 0.5.'],
  ] as const)('refuses %j, naming the option and the rule', (options, message) => {
    expect(() => generateBids(options)).toThrow(new RangeError(message));
  });
});

describe('bidsToJsonLines', () => {
  it('writes one JSON bid per line that reads back to the same bids', () => {
    const bids = generateBids({ seed: 8, count: 50 });
    const text = bidsToJsonLines(bids);

    expect(text.endsWith('\n')).toBe(true);
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(50);
    expect(lines.map((line) => JSON.parse(line))).toEqual(bids);
  });

  it('writes nothing for no bids', () => {
    expect(bidsToJsonLines([])).toBe('');
  });
});
