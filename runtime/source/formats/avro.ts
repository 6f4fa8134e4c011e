import type avsc from 'avsc';
import type { FormatBase } from '../format.ts';
import { decodeAvro } from './avro-decode.ts';
import { type AvroOptions, type AvroSchema, buildAvroType, describeAvroType } from './avro-type.ts';

/** Plain Avro binary, one value per record, written with a schema the job knows. */
export interface AvroFormat<T> extends FormatBase<T> {
  readonly type: 'avro';
}

class AvroValueFormat<T> implements AvroFormat<T> {
  readonly type = 'avro';
  private readonly subject: string;

  constructor(
    private readonly avroType: avsc.Type,
    private readonly description: string,
  ) {
    this.subject = `Avro value (${description})`;
  }

  decode(base64: string): T {
    return decodeAvro<T>(this.avroType, Buffer.from(base64, 'base64'), 0, this.subject);
  }

  toString(): string {
    return `Avro(${this.description})`;
  }
}

/**
 * Decodes values that are plain Avro binary (no header) written with `schema`.
 *
 * Longs are `number`s, or `bigint`s beyond 2^53 (see AvroLong). Timestamps (`timestamp-*`,
 * `local-timestamp-*`), `date` and INT96 fixed(12) values are epoch milliseconds, floored;
 * `decimal` is its exact text ("-12.34"); `uuid` is a string. Records are plain objects.
 * The schema is compiled here, so a bad one fails at cold start, not on the first record.
 *
 * For the Confluent Schema Registry wire format (magic byte + schema id), use confluentAvro().
 *
 * @example
 * const bids = avro<Bid>({
 *   type: 'record', name: 'Bid', namespace: 'nexmark',
 *   fields: [{ name: 'auction', type: 'long' }, { name: 'dateTime', type: { type: 'long', logicalType: 'timestamp-millis' } }],
 * });
 */
export function avro<T = unknown>(schema: AvroSchema, options?: AvroOptions): AvroFormat<T> {
  const type = buildAvroType(schema, options, 'avro()');
  return new AvroValueFormat<T>(type, describeAvroType(type));
}
