/**
 * The event the Lambda event source mapping delivers for Amazon MSK and self-managed Kafka.
 * Shapes follow the AWS documentation: the example events in
 * https://docs.aws.amazon.com/lambda/latest/dg/with-msk.html (Amazon MSK) and
 * https://docs.aws.amazon.com/lambda/latest/dg/with-kafka.html (self-managed Kafka).
 */

/** One Kafka header as Lambda delivers it: a one-entry object whose value is the raw bytes. */
export type KafkaEventHeader = Readonly<Record<string, readonly number[]>>;

export interface KafkaEventRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** Epoch milliseconds. */
  readonly timestamp: number;
  readonly timestampType?: 'CREATE_TIME' | 'LOG_APPEND_TIME' | string;
  /** Base64. Missing or "" when the record has no key. */
  readonly key?: string | null;
  /** Base64. null for a tombstone. */
  readonly value: string | null;
  readonly headers?: readonly KafkaEventHeader[];
  readonly keySchemaMetadata?: { readonly dataFormat: string; readonly schemaId: string };
  readonly valueSchemaMetadata?: { readonly dataFormat: string; readonly schemaId: string };
}

/**
 * A record whose value's bytes are also at hand as text: `floe run` reads UTF-8 lines, and a
 * format that reads text (JSON, text) decodes this instead of the base64 `value`, which such a
 * record computes only when asked (for a dead letter, say). Lambda's records never carry it.
 */
export const VALUE_TEXT: unique symbol = Symbol('floe.valueText');

export interface TextValueRecord extends KafkaEventRecord {
  /** The value's bytes as text; present only when they are valid UTF-8 (decoding loses nothing). */
  readonly [VALUE_TEXT]?: string;
}

export interface KafkaEvent {
  /** "aws:kafka" for Amazon MSK, "SelfManagedKafka" for any other cluster. */
  readonly eventSource: 'aws:kafka' | 'SelfManagedKafka' | string;
  /** MSK only. */
  readonly eventSourceArn?: string;
  /** One comma-separated string. */
  readonly bootstrapServers?: string;
  /** Keyed "<topic>-<partition>", each array in offset order. */
  readonly records: Readonly<Record<string, readonly KafkaEventRecord[]>>;
}

/**
 * Lambda's limit on an invocation payload, 6 MB; the event source mapping never builds a bigger
 * Kafka event. https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
 */
export const LAMBDA_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024;

/** Below this many characters of key and value, a record is far from the limit: no need to measure. */
const SURELY_FITS = LAMBDA_PAYLOAD_LIMIT_BYTES / 4;

/**
 * The bytes of the smallest Lambda event that holds `record` alone
 * (`{"records":{"<topic>-<partition>":[<record>]}}`), when it may exceed the payload limit; 0 for
 * a record far below it (not measured).
 */
export function oversizedRecordBytes(record: KafkaEventRecord): number {
  if ((record.value?.length ?? 0) + (record.key?.length ?? 0) < SURELY_FITS) return 0;
  const bytes = Buffer.byteLength(
    JSON.stringify({ records: { [`${record.topic}-${record.partition}`]: [record] } }),
    'utf8',
  );
  return bytes > LAMBDA_PAYLOAD_LIMIT_BYTES ? bytes : 0;
}

/**
 * Why `text` is not base64 as Lambda sends keys and values (the standard alphabet, padded to a
 * multiple of 4), or undefined when it is. Node's decoder skips characters outside the alphabet
 * silently, so a value that is not base64 would otherwise decode to garbage.
 */
export function base64Problem(text: string): string | undefined {
  const bad = /[^A-Za-z0-9+/=]/.exec(text);
  if (bad !== null) return `invalid character ${JSON.stringify(bad[0])} at position ${bad.index}`;
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
    return 'not padded base64 (a multiple of 4 characters, "=" only at the end)';
  }
  return undefined;
}
