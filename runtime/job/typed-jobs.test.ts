/**
 * The job API's promise that mistakes are compile errors. `npm test` type-checks this file: if a
 * `@ts-expect-error` line stopped being an error, tsc would fail with "Unused '@ts-expect-error'".
 */
import { describe, expect, it } from 'vitest';
import { count, max } from '../aggregates/aggregates.ts';
import { table } from '../sink/table.ts';
import { json } from '../source/formats/index.ts';
import { WatermarkStrategy } from '../time/watermark-strategy.ts';
import { TumblingEventTimeWindows } from '../windows/tumbling.ts';
import { job } from './job-builder.ts';
import { operatorUid } from './plan.ts';

interface Bid {
  auction: number;
  price: number;
  dateTime: number;
}

const bids = table('test.bids', { auction: 'long', window_start: 'timestamptz', bids: 'long' });
const strategy = WatermarkStrategy.forBoundedOutOfOrderness<Bid>(0).withTimestampAssigner(
  (bid) => bid.dateTime,
);

function keyed() {
  return job('typed')
    .fromKafka({ value: json<Bid>() })
    .assignTimestampsAndWatermarks(strategy)
    .keyBy((bid) => bid.auction)
    .window(TumblingEventTimeWindows.of(1_000));
}

describe('the typed job API', () => {
  it('accepts rows that match the table', () => {
    const ok = keyed()
      .aggregate(count(), (auction, window, n) => ({ auction, window_start: window.start, bids: n }))
      .sinkTo(bids);
    expect(ok.name).toBe('typed');
  });

  it('makes a misspelt record field a compile error', () => {
    expect(() =>
      job('typo')
        .fromKafka({ value: json<Bid>() })
        // @ts-expect-error: Bid has no field dateTme
        .assignTimestampsAndWatermarks(strategy.withTimestampAssigner((bid) => bid.dateTme)),
    ).not.toThrow();
  });

  it('makes a missing or misspelt column a compile error', () => {
    const stream = keyed().aggregate(count(), (auction, window, n) => ({
      auction,
      window_start: window.start,
      bid: n,
    }));
    // @ts-expect-error: the rows lack the column `bids`
    expect(() => stream.sinkTo(bids)).not.toThrow();
  });

  it('makes a column of the wrong type a compile error', () => {
    const stream = keyed().aggregate(
      max((bid: Bid) => bid.price),
      (auction, window, price) => ({
        auction: String(auction),
        window_start: window.start,
        bids: price,
      }),
    );
    // @ts-expect-error: auction must be a number (long), not a string
    expect(() => stream.sinkTo(bids)).not.toThrow();
  });
  it('makes a column of the wrong type a compile error when the table is written inline', () => {
    const stream = keyed().aggregate(count(), (auction, window, n) => ({
      auction,
      window_start: window.start,
      bids: String(n),
    }));
    // The table's columns must not be inferred from the rows: bids must be a number (long).
    const inline = () =>
      // @ts-expect-error: bids is a string, the column is long
      stream.sinkTo(table('test.inline', { auction: 'long', window_start: 'timestamptz', bids: 'long' }));
    expect(inline).not.toThrow();
  });
});

describe('job definition errors', () => {
  it.each([
    [() => job('bad name!'), /Invalid job name "bad name!"/],
    [() => table('bids', { a: 'long' }), /Invalid table name "bids". Use namespace.name/],
    [
      () => table('t.bids', { a: 'decimal' as 'long' }),
      /column a: unsupported type "decimal". Supported types are: boolean, int/,
    ],
    [
      () =>
        keyed()
          .aggregate(count(), (auction, window, n) => ({ auction, window_start: window.start, bids: n }))
          .uid('no spaces'),
      /uid "no spaces" is not a valid operator id/,
    ],
    [
      () => job('x').fromKafka({ value: json<Bid>(), tombstones: 'drop' as 'skip' }),
      /tombstones must be 'skip' or 'dead-letter', got 'drop'/,
    ],
  ])('fails when the job is defined, naming the field and the rule (%#)', (define, message) => {
    expect(define).toThrow(message);
  });

  it('uid names the window operator; without it the id is <job name>.window', () => {
    const result = keyed().aggregate(count(), (auction, window, n) => ({
      auction,
      window_start: window.start,
      bids: n,
    }));
    expect(operatorUid(result.sinkTo(bids).plan)).toBe('typed.window');
    expect(operatorUid(result.uid('bids-per-auction').sinkTo(bids).plan)).toBe('bids-per-auction');
  });
});
