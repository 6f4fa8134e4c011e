import { requireDuration } from './duration.ts';

/**
 * Extracts the event time (epoch milliseconds) of a decoded record. `recordTimestamp` is the
 * Kafka record's own timestamp, for jobs that want to combine the two.
 */
export type TimestampAssigner<T> = (element: T, recordTimestamp: number) => number;

/**
 * A WatermarkStrategy says how event time is read from records and how far the watermark trails
 * the largest timestamp seen, per source partition.
 *
 * The trade-off is latency against completeness: with an out-of-orderness bound B, a window
 * fires B ms after the first record past its end arrives, and a record more than B ms behind the
 * newest one of its partition may be late. Idleness lets the job watermark advance while some
 * partitions deliver nothing, at the risk of making their next records late.
 *
 * @example
 * WatermarkStrategy.forBoundedOutOfOrderness<Bid>(5_000).withTimestampAssigner((bid) => bid.dateTime)
 */
export class WatermarkStrategy<T> {
  private constructor(
    /** W_p = maxTimestampSeen_p - outOfOrdernessMs - 1. */
    readonly outOfOrdernessMs: number,
    /** Absent: the Kafka record timestamp is the event time. */
    readonly timestampAssigner: TimestampAssigner<T> | undefined,
    /** Absent: partitions never count as idle. */
    readonly idlenessMs: number | undefined,
  ) {}

  /** Records may arrive up to `maxOutOfOrdernessMs` behind the newest record of their partition. */
  static forBoundedOutOfOrderness<T>(maxOutOfOrdernessMs: number): WatermarkStrategy<T> {
    return new WatermarkStrategy<T>(
      requireDuration('maxOutOfOrderness', maxOutOfOrdernessMs, { allowZero: true }),
      undefined,
      undefined,
    );
  }

  /** Timestamps never decrease within a partition (out-of-orderness 0). */
  static forMonotonousTimestamps<T>(): WatermarkStrategy<T> {
    return new WatermarkStrategy<T>(0, undefined, undefined);
  }

  /** Reads event time from the record instead of the Kafka timestamp. */
  withTimestampAssigner(assigner: TimestampAssigner<T>): WatermarkStrategy<T> {
    return new WatermarkStrategy<T>(this.outOfOrdernessMs, assigner, this.idlenessMs);
  }

  /**
   * Marks a partition idle once it has delivered nothing for `idleTimeoutMs` of processing
   * time; the job watermark then ignores it until its next record.
   */
  withIdleness(idleTimeoutMs: number): WatermarkStrategy<T> {
    return new WatermarkStrategy<T>(
      this.outOfOrdernessMs,
      this.timestampAssigner,
      requireDuration('idleTimeout', idleTimeoutMs),
    );
  }

  toString(): string {
    const idle = this.idlenessMs === undefined ? '' : `, idleness ${this.idlenessMs} ms`;
    const source = this.timestampAssigner ? 'assigner' : 'Kafka record timestamp';
    return `WatermarkStrategy(boundedOutOfOrderness ${this.outOfOrdernessMs} ms, ${source}${idle})`;
  }
}
