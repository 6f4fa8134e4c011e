import type { AvroFormat } from './avro.ts';
import type { BytesFormat } from './bytes.ts';
import type { ConfluentAvroFormat } from './confluent-avro.ts';
import type { JsonFormat } from './json.ts';
import type { TextFormat } from './text.ts';

/**
 * Every value format Floe ships, as a union keyed on `type`, so code that must treat formats
 * differently can `switch (format.type)` and have each case narrowed. `T` is the decoded type of
 * the generic formats; text and bytes always decode to `string` and `Buffer`.
 */
export type ValueFormat<T = unknown> =
  | JsonFormat<T>
  | TextFormat
  | BytesFormat
  | AvroFormat<T>
  | ConfluentAvroFormat<T>;
