import { FloeConfigError } from '../errors.ts';
import type { FormatBase } from '../source/format.ts';
import { bytes } from '../source/formats/bytes.ts';
import type { KafkaMessage } from '../source/kafka-message.ts';
import type { TombstonePolicy } from './plan.ts';
import { type SourceStream, sourceStream } from './streams.ts';

export interface KafkaSourceOptions<T> {
  /** How record values are decoded, e.g. `json<Bid>()`. */
  readonly value: FormatBase<T>;
  /**
   * Records with a null value (tombstones) carry no data for windows. `skip` counts them in the
   * `tombstones` metric; `dead-letter` sends each one to the dead letters.
   * @default 'skip'
   */
  readonly tombstones?: TombstonePolicy;
}

export interface KafkaRecordSourceOptions<K, V> extends KafkaSourceOptions<V> {
  /** How record keys are decoded. @default bytes() */
  readonly key?: FormatBase<K>;
}

const JOB_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** The entry point of the job API: name the job, then describe its stream. */
export class JobBuilder {
  /** @internal */
  constructor(private readonly name: string) {}

  /** Reads the values of records from the Kafka topic(s) of the Lambda event source mapping. */
  fromKafka<T>(options: KafkaSourceOptions<T>): SourceStream<T> {
    return sourceStream<T>(this.name, {
      value: options.value as FormatBase<unknown>,
      tombstones: this.tombstones(options.tombstones),
    });
  }

  /**
   * Reads whole records: decoded key and value, headers, coordinates and the Kafka timestamp.
   * Costs an object per record more than `fromKafka`; use it when the job needs more than values.
   *
   * @example
   * job('orders').fromKafkaRecords({ key: text(), value: json<Order>() })
   */
  fromKafkaRecords<K = Buffer, V = unknown>(
    options: KafkaRecordSourceOptions<K, V>,
  ): SourceStream<KafkaMessage<K, V>> {
    return sourceStream<KafkaMessage<K, V>>(this.name, {
      value: options.value as FormatBase<unknown>,
      tombstones: this.tombstones(options.tombstones),
      message: { key: (options.key ?? bytes()) as FormatBase<unknown> },
    });
  }

  private tombstones(policy: TombstonePolicy | undefined): TombstonePolicy {
    const tombstones = policy ?? 'skip';
    if (tombstones !== 'skip' && tombstones !== 'dead-letter') {
      throw new FloeConfigError(
        `Job ${this.name}: tombstones must be 'skip' or 'dead-letter', got '${String(tombstones)}'.`,
      );
    }
    return tombstones;
  }
}

/**
 * Starts a job definition.
 *
 * @example
 * export default job('bids-per-auction')
 *   .fromKafka({ value: json<Bid>() })
 *   .assignTimestampsAndWatermarks(WatermarkStrategy.forBoundedOutOfOrderness<Bid>(5_000).withTimestampAssigner((b) => b.dateTime))
 *   .keyBy((bid) => bid.auction, { isKafkaKey: true })
 *   .window(TumblingEventTimeWindows.of(10_000))
 *   .aggregate(count(), (auction, window, bids) => ({ auction, window_start: window.start, window_end: window.end, bids }))
 *   .sinkTo(table('nexmark.bids_per_auction', { auction: 'long', window_start: 'timestamptz', window_end: 'timestamptz', bids: 'long' }));
 */
export function job(name: string): JobBuilder {
  if (!JOB_NAME.test(name)) {
    throw new FloeConfigError(
      `Invalid job name "${name}". Use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit.`,
    );
  }
  return new JobBuilder(name);
}
