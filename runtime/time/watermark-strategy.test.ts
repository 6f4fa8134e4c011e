import { describe, expect, it } from 'vitest';
import { FloeConfigError } from '../errors.ts';
import { WatermarkStrategy } from './watermark-strategy.ts';

describe('WatermarkStrategy', () => {
  it('keeps the out-of-orderness bound, the timestamp assigner and the idleness timeout', () => {
    const assigner = (e: { at: number }) => e.at;
    const strategy = WatermarkStrategy.forBoundedOutOfOrderness<{ at: number }>(5_000)
      .withTimestampAssigner(assigner)
      .withIdleness(60_000);
    expect(strategy.outOfOrdernessMs).toBe(5_000);
    expect(strategy.timestampAssigner).toBe(assigner);
    expect(strategy.idlenessMs).toBe(60_000);
  });

  it('treats monotonous timestamps as an out-of-orderness bound of zero', () => {
    expect(WatermarkStrategy.forMonotonousTimestamps().outOfOrdernessMs).toBe(0);
  });

  it('reads the Kafka record timestamp and never marks partitions idle unless told to', () => {
    const strategy = WatermarkStrategy.forBoundedOutOfOrderness(0);
    expect(strategy.timestampAssigner).toBeUndefined();
    expect(strategy.idlenessMs).toBeUndefined();
  });

  it('is immutable: each with… returns a new strategy', () => {
    const base = WatermarkStrategy.forBoundedOutOfOrderness<number>(10);
    const idle = base.withIdleness(1_000);
    expect(base.idlenessMs).toBeUndefined();
    expect(idle.withTimestampAssigner((n) => n).idlenessMs).toBe(1_000);
  });

  it('describes itself for logs', () => {
    expect(String(WatermarkStrategy.forBoundedOutOfOrderness(5_000))).toBe(
      'WatermarkStrategy(boundedOutOfOrderness 5000 ms, Kafka record timestamp)',
    );
    expect(
      String(
        WatermarkStrategy.forMonotonousTimestamps<number>()
          .withTimestampAssigner((n) => n)
          .withIdleness(30_000),
      ),
    ).toBe('WatermarkStrategy(boundedOutOfOrderness 0 ms, assigner, idleness 30000 ms)');
  });

  it.each([-1, 0.5, Number.NaN])('rejects an out-of-orderness bound of %d', (ms) => {
    expect(() => WatermarkStrategy.forBoundedOutOfOrderness(ms)).toThrow(FloeConfigError);
    expect(() => WatermarkStrategy.forBoundedOutOfOrderness(ms)).toThrow(
      `maxOutOfOrderness must be a non-negative whole number of milliseconds, got ${ms}.`,
    );
  });

  it.each([0, -1, 2.5])('rejects an idleness timeout of %d', (ms) => {
    expect(() => WatermarkStrategy.forMonotonousTimestamps().withIdleness(ms)).toThrow(
      `idleTimeout must be a positive whole number of milliseconds, got ${ms}.`,
    );
  });
});
