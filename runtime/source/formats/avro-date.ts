import avsc from 'avsc';
import { type AvscSchema, type AvscTypeOptions, requireUnderlying } from './avro-logical-type.ts';
import { FormatDecodeError } from './format-decode-error.ts';

const MS_PER_DAY = 86_400_000;

/**
 * Avro `date` (days since 1970-01-01) as the epoch milliseconds of that day's UTC midnight.
 *
 * A 'YYYY-MM-DD' string was the alternative; a number keeps dates in Floe's single time model, so
 * a date field can be an event time or be compared with timestamps without parsing. Read it back
 * with `new Date(ms).toISOString().slice(0, 10)`.
 */
export class DateType extends avsc.types.LogicalType {
  constructor(schema: AvscSchema, opts?: AvscTypeOptions) {
    super(schema, opts);
    requireUnderlying(this, 'date', 'int');
  }

  protected override _fromValue(days: number | undefined): number | undefined {
    if (days === undefined) return undefined;
    const ms = days * MS_PER_DAY;
    // An int holds ±5.9 million years of days; only ±285,000 years fit in epoch-ms numbers.
    if (!Number.isSafeInteger(ms)) {
      throw new FormatDecodeError(
        `Avro date ${days} (days since 1970-01-01) is beyond the ±2^53 ms Floe holds.`,
      );
    }
    return ms;
  }

  protected override _toValue(epochMs: unknown): number | undefined {
    // Only UTC midnights are dates; anything else would be silently moved to another instant.
    if (typeof epochMs !== 'number' || !Number.isSafeInteger(epochMs) || epochMs % MS_PER_DAY !== 0) {
      return undefined;
    }
    return epochMs / MS_PER_DAY;
  }
}
