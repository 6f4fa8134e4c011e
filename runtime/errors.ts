/**
 * Floe's error classes. Configuration mistakes throw FloeConfigError when a job is defined (cold
 * start or `floe invoke`), never in the middle of a batch. Per-record problems are not errors:
 * they become dead letters. A job that is wrong in a way only its output shows (a row that does
 * not fit its table) throws a FloeJobError, which no retry fixes.
 */
export class FloeError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'FloeError';
  }
}

/** A job, flag or option is invalid. The message names the field and the rule. */
export class FloeConfigError extends FloeError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'FloeConfigError';
  }
}

/**
 * The job itself is wrong, found while a batch runs: retrying the batch cannot fix it. The
 * processor does not retry it (its retries are for store and network errors) and commits nothing
 * of the batch; `floe run` and `floe invoke` stop with its message, and the Lambda handler logs it
 * with its coordinates and fails the batch (see "Job errors" in docs/design.md).
 */
export class FloeJobError extends FloeError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'FloeJobError';
  }
}

/** Where a row that failed its table came from. */
export type RowSource =
  /** A window firing: many records, possibly of earlier batches, made the row. */
  | {
      readonly kind: 'window';
      /** The window's key (as JSON text, truncated); undefined for windowAll. */
      readonly key: string | undefined;
      readonly windowStart: number;
      readonly windowEnd: number;
      /** The batch that fired the window; empty when the end of the input (a drain) fired it. */
      readonly batch: readonly BatchRange[];
    }
  /** One record (a late record, a record's dead letter). */
  | { readonly kind: 'record'; readonly topic: string; readonly partition: number; readonly offset: number };

/** A batch's records of one partition: offsets first to last. */
export interface BatchRange {
  readonly topic: string;
  readonly partition: number;
  readonly firstOffset: number;
  readonly lastOffset: number;
}

/**
 * A row does not fit its table's column types: a value of the wrong type, a number a column
 * cannot hold (not an integer, not finite, out of range), or no value in a required column. The
 * compiler catches most of these (`sinkTo` checks the row type); a cast, `any` or JSON data
 * typed by hand gets past it. Found before anything of the batch is staged.
 */
export class RowTypeError extends FloeJobError {
  constructor(
    readonly job: string,
    readonly table: string,
    readonly column: string,
    readonly columnType: string,
    /** The value, described and truncated (e.g. `the string "abc…"`). */
    readonly value: string,
    /** Why the column cannot hold it: the rule. */
    readonly problem: string,
    readonly source: RowSource,
  ) {
    super(
      `Job ${job} emitted a row that does not fit table ${table}: ${problem}${problem.endsWith('.') ? '' : '.'} The row came from ${describeSource(source)}. Nothing of the batch was committed; fix the job (or the table's column types) and run it again.`,
    );
    this.name = 'RowTypeError';
  }
}

/** Partitions of a batch named in a message; the error's `source` has them all. */
const MAX_RANGES = 8;

function describeSource(source: RowSource): string {
  if (source.kind === 'record') {
    return `the record at ${source.topic}-${source.partition} offset ${source.offset}`;
  }
  const window = `window [${instant(source.windowStart)}, ${instant(source.windowEnd)})`;
  const key = source.key === undefined ? '' : ` of key ${source.key}`;
  const batch =
    source.batch.length === 0
      ? 'the end of the input (drain)'
      : `the batch ${source.batch
          .slice(0, MAX_RANGES)
          .map((b) => `${b.topic}-${b.partition} offsets ${b.firstOffset}..${b.lastOffset}`)
          .join(
            ', ',
          )}${source.batch.length > MAX_RANGES ? ` and ${source.batch.length - MAX_RANGES} more partitions` : ''}`;
  return `${window}${key}, fired by ${batch}`;
}

function instant(ms: number): string {
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : String(ms);
}

/** The text of any thrown value, for dead-letter reasons and logs. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
