/**
 * Property tests: random inputs, random batch boundaries and partition orders, compared with a
 * direct computation over all records (what one process reading everything would give).
 */
import { describe, expect, it } from 'vitest';
import {
  countJob,
  cutIntoBatches,
  type Ev,
  eventTime,
  type Fired,
  finalTable,
  flatten,
  Harness,
  type PartitionGroup,
  random,
  randomInt,
} from '../../test/support/engine-harness.ts';
import type { AggregateFunction } from '../aggregates/aggregate-function.ts';
import { sum } from '../aggregates/aggregates.ts';
import { CumulativeEventTimeWindows } from '../windows/cumulative.ts';
import { EventTimeSessionWindows } from '../windows/session.ts';
import { SlidingEventTimeWindows } from '../windows/sliding.ts';
import { TumblingEventTimeWindows } from '../windows/tumbling.ts';
import type { WindowAssigner } from '../windows/window-assigner.ts';
import { encodeState } from './state-codec.ts';

const SEEDS = Array.from({ length: 40 }, (_, i) => i + 1);
const sumOfN = sum<Ev>((e) => e.n ?? 0) as AggregateFunction<Ev, unknown, number>;

// --- Reference window assignment, written from Flink's window definitions with floor division -------

type Windows = (ts: number) => [number, number][];

const floorStart = (ts: number, offset: number, size: number) =>
  offset + size * Math.floor((ts - offset) / size);

const tumbling =
  (size: number, offset = 0): Windows =>
  (ts) => {
    const start = floorStart(ts, offset, size);
    return [[start, start + size]];
  };

const sliding =
  (size: number, slide: number, offset = 0): Windows =>
  (ts) => {
    const out: [number, number][] = [];
    for (let s = floorStart(ts, offset, slide); s > ts - size; s -= slide) out.push([s, s + size]);
    return out;
  };

const cumulative =
  (step: number, maxSize: number, offset = 0): Windows =>
  (ts) => {
    const start = floorStart(ts, offset, maxSize);
    const out: [number, number][] = [];
    for (let k = 1; k <= maxSize / step; k++) if (start + k * step > ts) out.push([start, start + k * step]);
    return out;
  };

function referenceFixed(elements: readonly Ev[], windows: Windows, keyOf: (e: Ev) => string): Fired[] {
  const sums = new Map<string, Fired>();
  for (const e of elements) {
    for (const [start, end] of windows(e.ts)) {
      const key = keyOf(e);
      const id = `${key}|${start}|${end}`;
      const prior = sums.get(id);
      sums.set(id, { key, start, end, value: (prior?.value ?? 0) + (e.n ?? 0), update: false });
    }
  }
  return [...sums.values()].sort(byWindowThenKey);
}

/** Sessions per key: sort by time, and merge while the next [ts, ts + gap) touches the current one. */
function referenceSessions(elements: readonly Ev[], gap: number, keyOf: (e: Ev) => string): Fired[] {
  const byKey = new Map<string, Ev[]>();
  for (const e of elements) byKey.set(keyOf(e), [...(byKey.get(keyOf(e)) ?? []), e]);
  const out: Fired[] = [];
  for (const [key, list] of byKey) {
    list.sort((a, b) => a.ts - b.ts);
    let current: { start: number; end: number; value: number } | undefined;
    for (const e of list) {
      if (current && e.ts <= current.end) {
        current.end = Math.max(current.end, e.ts + gap);
        current.value += e.n ?? 0;
      } else {
        if (current) out.push({ key, ...current, update: false });
        current = { start: e.ts, end: e.ts + gap, value: e.n ?? 0 };
      }
    }
    if (current) out.push({ key, ...current, update: false });
  }
  return out.sort(byWindowThenKey);
}

function byWindowThenKey(a: Fired, b: Fired): number {
  return a.start - b.start || a.end - b.end || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}

// --- Generators -------------------------------------------------------------------------------

interface InBoundOptions {
  readonly partitions: number;
  readonly keys: number;
  readonly bound: number;
  /** Route each key to one partition (as when the key is the Kafka key). */
  readonly keyToPartition?: boolean;
  /** Even timestamps only (see the session property). */
  readonly even?: boolean;
}

/**
 * Events per partition that never break the out-of-orderness bound: each is at most `bound`
 * behind the newest event of its partition so far, so none can be late.
 */
function eventsWithinBound(rnd: () => number, options: InBoundOptions): Ev[][] {
  const perPartition: Ev[][] = Array.from({ length: options.partitions }, () => []);
  const newest = perPartition.map(() => Number.NEGATIVE_INFINITY);
  const total = randomInt(rnd, 1, 60);
  for (let i = 0; i < total; i++) {
    const k = randomInt(rnd, 0, options.keys - 1);
    const p = options.keyToPartition ? k % options.partitions : randomInt(rnd, 0, options.partitions - 1);
    let ts =
      newest[p] === Number.NEGATIVE_INFINITY
        ? randomInt(rnd, -300, 300)
        : randomInt(rnd, newest[p]! - options.bound, newest[p]! + 25);
    if (options.even && ts % 2 !== 0) ts += 1;
    newest[p] = Math.max(newest[p]!, ts);
    perPartition[p]!.push({ key: `k${k}`, ts, n: randomInt(rnd, 1, 9) });
  }
  return perPartition;
}

/** Events in any order, far outside any bound: many will be late. */
function eventsInAnyOrder(rnd: () => number, partitions: number, keys: number): Ev[][] {
  return Array.from({ length: partitions }, () =>
    Array.from({ length: randomInt(rnd, 0, 40) }, () => ({
      key: `k${randomInt(rnd, 0, keys - 1)}`,
      ts: randomInt(rnd, -200, 200),
      n: 1,
    })),
  );
}

function run(h: Harness, batches: readonly PartitionGroup[][], now = () => 0): Harness {
  for (const groups of batches) h.sendGroups(groups, { now: now() });
  h.drain();
  return h;
}

const partitionsOf = (n: number) => Array.from({ length: n }, (_, p) => p);

// --- Properties -------------------------------------------------------------------------------

const fixedAssigners: [string, WindowAssigner<Ev>, Windows][] = [
  ['tumbling 10', TumblingEventTimeWindows.of(10), tumbling(10)],
  ['tumbling 10 offset 3', TumblingEventTimeWindows.of(10, 3), tumbling(10, 3)],
  ['sliding 20/5', SlidingEventTimeWindows.of(20, 5), sliding(20, 5)],
  ['sliding 10/3 offset -1', SlidingEventTimeWindows.of(10, 3, -1), sliding(10, 3, -1)],
  ['cumulative 5/20', CumulativeEventTimeWindows.of(5, 20), cumulative(5, 20)],
  ['cumulative 4/12 offset 7', CumulativeEventTimeWindows.of(4, 12, 7), cumulative(4, 12, 7)],
];

describe('keys spread over several partitions give what one process reading everything would give', () => {
  it.each(fixedAssigners)(
    '%s windows, for random batch boundaries and partition orders',
    (_name, assigner, windows) => {
      for (const seed of SEEDS) {
        const rnd = random(seed);
        const partitions = randomInt(rnd, 1, 4);
        const bound = randomInt(rnd, 0, 15);
        const perPartition = eventsWithinBound(rnd, { partitions, keys: randomInt(rnd, 1, 5), bound });
        const h = run(
          new Harness(countJob({ assigner, watermarks: eventTime(bound), aggregate: sumOfN }), {
            partitions: partitionsOf(partitions),
          }),
          cutIntoBatches(rnd, perPartition),
        );
        expect(h.late, `seed ${seed}`).toEqual([]);
        expect(h.deadLetters, `seed ${seed}`).toEqual([]);
        // Every window fires exactly once, on time, with its complete result.
        expect(flatten(h.rows), `seed ${seed}`).toEqual(
          referenceFixed(perPartition.flat(), windows, (e) => e.key),
        );
      }
    },
  );

  it('session windows, for random batch boundaries and partition orders', () => {
    // Timestamps are even and the gap odd, so no record lands exactly on a session's end; see
    // "a session that touches a record at its end" in the engine tests for that case.
    for (const seed of SEEDS) {
      const rnd = random(seed);
      const partitions = randomInt(rnd, 1, 4);
      const bound = randomInt(rnd, 0, 15);
      const perPartition = eventsWithinBound(rnd, {
        partitions,
        keys: randomInt(rnd, 1, 4),
        bound,
        even: true,
      });
      const h = run(
        new Harness(
          countJob({
            assigner: EventTimeSessionWindows.withGap(7),
            watermarks: eventTime(bound),
            aggregate: sumOfN,
          }),
          { partitions: partitionsOf(partitions) },
        ),
        cutIntoBatches(rnd, perPartition),
      );
      expect(h.late, `seed ${seed}`).toEqual([]);
      expect(flatten(h.rows), `seed ${seed}`).toEqual(
        referenceSessions(perPartition.flat(), 7, (e) => e.key),
      );
    }
  });

  it('windowAll, for random batch boundaries and partition orders', () => {
    for (const seed of SEEDS) {
      const rnd = random(seed);
      const partitions = randomInt(rnd, 1, 4);
      const bound = randomInt(rnd, 0, 15);
      const perPartition = eventsWithinBound(rnd, { partitions, keys: 3, bound });
      const h = run(
        new Harness(countJob({ all: true, watermarks: eventTime(bound), aggregate: sumOfN }), {
          partitions: partitionsOf(partitions),
        }),
        cutIntoBatches(rnd, perPartition),
      );
      expect(flatten(h.rows), `seed ${seed}`).toEqual(
        referenceFixed(perPartition.flat(), tumbling(10), () => '*'),
      );
    }
  });
});

describe('keys that are the Kafka key give the same results, fired per partition', () => {
  it.each([
    ['tumbling 10', TumblingEventTimeWindows.of(10)],
    ['session 7', EventTimeSessionWindows.withGap(7)],
  ] as [string, WindowAssigner<Ev>][])('%s windows', (name, assigner) => {
    for (const seed of SEEDS) {
      const rnd = random(seed);
      const partitions = randomInt(rnd, 1, 4);
      const bound = randomInt(rnd, 0, 15);
      const perPartition = eventsWithinBound(rnd, {
        partitions,
        keys: 6,
        bound,
        keyToPartition: true,
        even: true,
      });
      const h = run(
        new Harness(
          countJob({ assigner, isKafkaKey: true, watermarks: eventTime(bound), aggregate: sumOfN }),
        ),
        cutIntoBatches(rnd, perPartition),
      );
      const expected = name.startsWith('session')
        ? referenceSessions(perPartition.flat(), 7, (e) => e.key)
        : referenceFixed(perPartition.flat(), tumbling(10), (e) => e.key);
      expect(h.late, `seed ${seed}`).toEqual([]);
      expect(flatten(h.rows), `seed ${seed}`).toEqual(expected);
    }
  });
});

describe('out-of-order input with allowed lateness', () => {
  interface Case {
    readonly seed: number;
    readonly partitions: number;
    readonly lateness: number;
    readonly bound: number;
    readonly perPartition: Ev[][];
    readonly batches: PartitionGroup[][];
  }

  function randomCase(seed: number): Case {
    const rnd = random(seed);
    const partitions = randomInt(rnd, 1, 3);
    const perPartition = eventsInAnyOrder(rnd, partitions, 3);
    return {
      seed,
      partitions,
      lateness: randomInt(rnd, 0, 30),
      bound: randomInt(rnd, 0, 10),
      perPartition,
      batches: cutIntoBatches(rnd, perPartition),
    };
  }

  const harnessFor = (c: Case, options: { checkpoint?: boolean } = {}) =>
    new Harness(countJob({ lateness: c.lateness, watermarks: eventTime(c.bound) }), {
      partitions: partitionsOf(c.partitions),
      ...options,
    });

  it('never drops a record: every one is counted in the final table or sent to the late output', () => {
    for (const seed of SEEDS) {
      const c = randomCase(seed);
      const h = run(harnessFor(c), c.batches);
      const counted = finalTable(h.rows).reduce((total, row) => total + row.value, 0);
      expect(counted + h.late.length, `seed ${seed}`).toBe(c.perPartition.flat().length);
      expect(h.results.reduce((n, r) => n + r.metrics.late, 0)).toBe(h.late.length);
      // A late record is late for its only window: maxTimestamp + lateness <= the watermark it met.
      for (const late of h.late) {
        const [, end] = tumbling(10)(late.timestamp)[0]!;
        expect(end - 1 + c.lateness, `seed ${seed}`).toBeLessThanOrEqual(late.watermark);
      }
    }
  });

  it('fires each window on time at most once and only updates it afterwards', () => {
    for (const seed of SEEDS) {
      const c = randomCase(seed);
      const h = run(harnessFor(c), c.batches);
      const seen = new Set<string>();
      for (const row of flattenInOrder(h)) {
        const id = `${row.key}|${row.start}`;
        if (!row.update) {
          expect(seen.has(id), `seed ${seed}: ${id} fired on time twice`).toBe(false);
        }
        seen.add(id);
      }
    }
  });

  it('never moves a watermark backwards', () => {
    for (const seed of SEEDS) {
      const c = randomCase(seed);
      let now = 0;
      const h = run(
        new Harness(countJob({ lateness: c.lateness, watermarks: eventTime(c.bound).withIdleness(50) }), {
          partitions: partitionsOf(c.partitions),
        }),
        c.batches,
        () => (now += 20),
      );
      const previous = new Map<string, number>();
      let job = Number.NEGATIVE_INFINITY;
      for (const result of h.results) {
        expect(result.metrics.watermark, `seed ${seed}`).toBeGreaterThanOrEqual(job);
        job = result.metrics.watermark;
        for (const p of result.partitions) {
          expect(p.watermark, `seed ${seed}`).toBeGreaterThanOrEqual(
            previous.get(p.id) ?? Number.NEGATIVE_INFINITY,
          );
          previous.set(p.id, p.watermark);
        }
      }
    }
  });

  it('gives the same results when every batch is redelivered with records it already applied', () => {
    for (const seed of SEEDS) {
      const c = randomCase(seed);
      const clean = run(harnessFor(c), c.batches);

      const rnd = random(seed * 7919);
      const h = harnessFor(c);
      const delivered: Map<number, ReturnType<Harness['log']['append']>> = new Map();
      const fresh: typeof h.results = [];
      for (const groups of c.batches) {
        // Each partition's group starts with a random run of records it already applied.
        const items = groups.flatMap(([p, elements]) => {
          const old = delivered.get(p) ?? [];
          const replayed = old.slice(randomInt(rnd, 0, old.length));
          const appended = h.log.append(
            p,
            elements.map((value) => ({ value, timestamp: value.ts, key: value.key })),
          );
          delivered.set(p, [...old, ...appended]);
          return [...replayed, ...appended];
        });
        fresh.push(h.batch(items));
        // Now and then the whole batch arrives again, as after a lost response.
        if (rnd() < 0.3) {
          const again = h.batch(items);
          expect(again.rows, `seed ${seed}`).toEqual([]);
          expect(again.late, `seed ${seed}`).toEqual([]);
        }
      }
      fresh.push(h.drain());
      const strip = (results: typeof h.results) =>
        results.map(({ rows, late, deadLetters }) => ({ rows, late, deadLetters }));
      expect(strip(fresh), `seed ${seed}`).toEqual(strip(clean.results));
      expect(encodeState(h.state), `seed ${seed}`).toBe(encodeState(clean.state));
    }
  });

  it('gives the same results every time the same batches are processed', () => {
    for (const seed of SEEDS.slice(0, 10)) {
      const c = randomCase(seed);
      expect(run(harnessFor(c), c.batches).results).toEqual(run(harnessFor(c), c.batches).results);
    }
  });
});

function flattenInOrder(h: Harness): Fired[] {
  return h.results.flatMap((r) => flatten(r.rows));
}
