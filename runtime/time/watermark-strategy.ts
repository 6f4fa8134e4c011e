import { FloeConfigError } from '../errors.ts';
import { requireDuration } from './duration.ts';

/**
 * Extracts the event time (epoch milliseconds) of a decoded record. `recordTimestamp` is the
 * Kafka record's own timestamp, for jobs that want to combine the two.
 */
export type TimestampAssigner<T> = (element: T, recordTimestamp: number) => number;

/**
 * What the job watermark does while every partition is idle: `hold` (the default, as Flink) keeps
 * it where it is; `processing-time` moves it to the wall clock minus the out-of-orderness bound
 * minus 1, as if a record stamped "now" had arrived, so windows of a topic that went silent
 * everywhere still fire. The price: a record that arrives later with an older event time is late.
 */
export type IdleTopicWatermark = 'hold' | 'processing-time';

export interface IdlenessOptions {
  /** @default 'hold' */
  readonly idleTopicWatermark?: IdleTopicWatermark;
}

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
    /** What the job watermark does while every partition is idle. */
    readonly idleTopicWatermark: IdleTopicWatermark = 'hold',
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
    return new WatermarkStrategy<T>(
      this.outOfOrdernessMs,
      assigner,
      this.idlenessMs,
      this.idleTopicWatermark,
    );
  }

  /**
   * Marks a partition idle once it has delivered nothing for `idleTimeoutMs` of processing
   * time; the job watermark then ignores it until its next record. While every partition is
   * idle the job watermark holds, unless `idleTopicWatermark: 'processing-time'` lets it follow
   * the wall clock minus the out-of-orderness bound (docs/semantics.md, "Idleness"). In Lambda,
   * idleness needs the ticker (`createTicker`): without deliveries nothing runs.
   */
  withIdleness(idleTimeoutMs: number, options: IdlenessOptions = {}): WatermarkStrategy<T> {
    const idleTopic = options.idleTopicWatermark ?? 'hold';
    if (idleTopic !== 'hold' && idleTopic !== 'processing-time') {
      throw new FloeConfigError(
        `idleTopicWatermark must be 'hold' or 'processing-time', got ${JSON.stringify(idleTopic)}.`,
      );
    }
    return new WatermarkStrategy<T>(
      this.outOfOrdernessMs,
      this.timestampAssigner,
      requireDuration('idleTimeout', idleTimeoutMs),
      idleTopic,
    );
  }

  toString(): string {
    const fallback = this.idleTopicWatermark === 'processing-time' ? ', idle topic: processing time' : '';
    const idle = this.idlenessMs === undefined ? '' : `, idleness ${this.idlenessMs} ms${fallback}`;
    const source = this.timestampAssigner ? 'assigner' : 'Kafka record timestamp';
    return `WatermarkStrategy(boundedOutOfOrderness ${this.outOfOrdernessMs} ms, ${source}${idle})`;
  }
}
