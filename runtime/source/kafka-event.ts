/**
 * The event the Lambda event source mapping delivers for Amazon MSK and self-managed Kafka.
 * Shapes follow the AWS documentation of Lambda's Kafka event source mapping.
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
