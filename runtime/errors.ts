/**
 * Floe's error classes. Configuration mistakes throw FloeConfigError when a job is defined (cold
 * start or `floe invoke`), never in the middle of a batch. Per-record problems are not errors:
 * they become dead letters.
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

/** The text of any thrown value, for dead-letter reasons and logs. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
