/** The value formats: how the base64 `value` of a Lambda Kafka record becomes a typed value. */
export { type AvroFormat, avro } from './avro.ts';
export type { AvroLong } from './avro-long.ts';
export type { AvroOptions, AvroSchema, AvroSchemaObject } from './avro-type.ts';
export { type BytesFormat, bytes } from './bytes.ts';
export { type ConfluentAvroFormat, type ConfluentAvroOptions, confluentAvro } from './confluent-avro.ts';
export { FormatDecodeError } from './format-decode-error.ts';
export { type JsonFormat, json } from './json.ts';
export { type TextFormat, text } from './text.ts';
export type { ValueFormat } from './value-format.ts';
