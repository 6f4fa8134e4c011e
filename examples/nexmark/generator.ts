/**
 * A deterministic generator of Nexmark bids, for the examples, the reference tests and the
 * benchmark. The same options (seed included) always give the same bids, on every platform: the
 * randomness is a seeded mulberry32, not Math.random.
 *
 * Event time advances at `eventsPerSecond`; each bid is then pushed back by a random jitter of
 * at most `maxDisorderMs`, so a bid is never more than `maxDisorderMs` behind the newest bid
 * generated before it. Keep `maxDisorderMs` below the jobs' out-of-orderness bound (5 s in the
 * examples) and no bid is ever late, whichever partitions and batches carry it.
 *
 * @example
 * const bids = generateBids({ seed: 7, count: 10_000, eventsPerSecond: 500, skew: 1.1 });
 * writeFileSync('bids.jsonl', bidsToJsonLines(bids));
 */

import { mulberry32 } from '../../runtime/seeded-random.ts';
import type { Bid } from './bid.ts';

export interface BidGeneratorOptions {
  /** How many bids to generate. */
  readonly count: number;
  /**
   * Seeds the random choices; any safe integer.
   * @default 1
   */
  readonly seed?: number;
  /**
   * Event time of the first (and earliest) bid, epoch ms.
   * @default 1_700_000_000_000 (2023-11-14T22:13:20Z)
   */
  readonly startTime?: number;
  /**
   * Bids per second of event time (before jitter); may be fractional.
   * @default 1_000
   */
  readonly eventsPerSecond?: number;
  /**
   * Distinct auctions; ids run from 1000 (Nexmark's first auction id) upwards.
   * @default 1_000
   */
  readonly auctions?: number;
  /**
   * Distinct bidders; ids run from 1000 (Nexmark's first person id) upwards.
   * @default 1_000
   */
  readonly bidders?: number;
  /**
   * Distinct channels: Nexmark's four hot channels (Google, Facebook, Baidu, Apple), then
   * `channel-<n>`.
   * @default 4
   */
  readonly channels?: number;
  /**
   * Key skew, as the exponent s of a Zipf distribution over auctions, bidders and channels: the
   * key of rank r (the lowest id is rank 1) is drawn with probability proportional to 1 / r^s.
   * 0 is uniform; about 1 is a realistic "hot items" skew; 2 puts most bids on a few keys.
   * @default 0
   */
  readonly skew?: number;
  /**
   * The largest event-time jitter: each bid is at most this far behind the newest bid generated
   * before it. 0 gives timestamps that never decrease.
   * @default 4_000
   */
  readonly maxDisorderMs?: number;
  /**
   * Length of the `extra` field (random lowercase letters), to make records bigger.
   * @default 0
   */
  readonly extraBytes?: number;
}

const DEFAULT_START_TIME = 1_700_000_000_000;
const FIRST_AUCTION_ID = 1000;
const FIRST_PERSON_ID = 1000;
const HOT_CHANNELS = ['Google', 'Facebook', 'Baidu', 'Apple'];
const PADDING_POOL = 8_192;

/** Generates `count` bids; see BidGeneratorOptions for the knobs. */
export function generateBids(options: BidGeneratorOptions): Bid[] {
  return [...iterateBids(options)];
}

/** Generates the same bids as generateBids, one at a time, for inputs too big to hold. */
export function* iterateBids(options: BidGeneratorOptions): Generator<Bid, void, undefined> {
  const count = wholeNumber('count', options.count, 0);
  const seed = safeInteger('seed', options.seed ?? 1);
  const startTime = safeInteger('startTime', options.startTime ?? DEFAULT_START_TIME);
  const eventsPerSecond = options.eventsPerSecond ?? 1_000;
  if (!Number.isFinite(eventsPerSecond) || eventsPerSecond <= 0) {
    throw new RangeError(`eventsPerSecond must be a positive number, got ${String(eventsPerSecond)}.`);
  }
  const skew = options.skew ?? 0;
  if (!Number.isFinite(skew) || skew < 0) {
    throw new RangeError(`skew must be a number >= 0, got ${String(skew)}.`);
  }
  const maxDisorderMs = wholeNumber('maxDisorderMs', options.maxDisorderMs ?? 4_000, 0);
  const extraBytes = wholeNumber('extraBytes', options.extraBytes ?? 0, 0);
  const auction = keyChooser(wholeNumber('auctions', options.auctions ?? 1_000, 1), skew);
  const bidder = keyChooser(wholeNumber('bidders', options.bidders ?? 1_000, 1), skew);
  const channelCount = wholeNumber('channels', options.channels ?? 4, 1);
  const channel = keyChooser(channelCount, skew);

  const random = mulberry32(seed);
  // Own streams for the URLs and padding, so that their lengths do not shift the other choices.
  const text = mulberry32(seed ^ 0x5bd1e995);
  const channels = Array.from({ length: channelCount }, (_, i) => channelOf(i, text));
  // Padding is cut from one random string at random places: 200-byte extras for a million bids
  // would otherwise cost 200 million random draws.
  const padding = extraBytes > 0 ? letters(text, PADDING_POOL + extraBytes) : '';
  const msPerEvent = 1_000 / eventsPerSecond;

  for (let i = 0; i < count; i++) {
    // Every bid draws the same five numbers, in this order, whatever the options.
    const a = FIRST_AUCTION_ID + auction(random());
    const b = FIRST_PERSON_ID + bidder(random());
    const c = channels[channel(random())]!;
    const price = nexmarkPrice(random());
    // The ideal time never decreases, so the newest bid so far is at most `ideal`, and this bid
    // is at most maxDisorderMs behind it. Near the start the jitter shrinks, so that no bid is
    // earlier than startTime.
    const ideal = startTime + Math.floor(i * msPerEvent);
    const jitter = Math.floor(random() * (Math.min(maxDisorderMs, ideal - startTime) + 1));
    const padAt = extraBytes > 0 ? Math.floor(text() * PADDING_POOL) : 0;
    yield {
      auction: a,
      bidder: b,
      price,
      channel: c.name,
      url: `${c.url}&auction=${a}`,
      dateTime: ideal - jitter,
      extra: padding.slice(padAt, padAt + extraBytes),
    };
  }
}

/** One JSON object per line (JSON Lines), as a JSON producer would send them. */
export function bidsToJsonLines(bids: Iterable<Bid>): string {
  let out = '';
  for (const bid of bids) out += `${JSON.stringify(bid)}\n`;
  return out;
}

/**
 * Maps a uniform number in [0, 1) to a key index in [0, n): uniformly for skew 0, else by the
 * Zipf distribution with exponent `skew` (inverse CDF by binary search).
 */
function keyChooser(n: number, skew: number): (u: number) => number {
  if (skew === 0 || n === 1) return (u) => Math.floor(u * n);
  const cdf = new Float64Array(n);
  let total = 0;
  for (let rank = 1; rank <= n; rank++) {
    total += rank ** -skew;
    cdf[rank - 1] = total;
  }
  return (u) => {
    const target = u * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! > target) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
}

/** Nexmark's price distribution: log-uniform from 1.00 to 1,000,000.00, in cents. */
function nexmarkPrice(u: number): number {
  return Math.round(10 ** (u * 6) * 100);
}

function channelOf(index: number, random: () => number): { name: string; url: string } {
  const path = `${letters(random, 5)}/${letters(random, 5)}/${letters(random, 5)}`;
  if (index < HOT_CHANNELS.length) {
    return { name: HOT_CHANNELS[index]!, url: `https://www.nexmark.com/${path}/item.htm?query=1` };
  }
  return {
    name: `channel-${index}`,
    url: `https://www.nexmark.com/${path}/item.htm?query=1&channel_id=${index}`,
  };
}

function letters(random: () => number, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += String.fromCharCode(97 + Math.floor(random() * 26));
  return out;
}

function safeInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`${name} must be a safe integer, got ${String(value)}.`);
  }
  return value;
}

function wholeNumber(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`${name} must be a whole number >= ${min}, got ${String(value)}.`);
  }
  return value;
}
