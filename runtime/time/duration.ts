import { FloeConfigError } from '../errors.ts';

/** Checks a millisecond duration option and returns it; names the option in the error. */
export function requireDuration(name: string, value: number, { allowZero = false } = {}): number {
  if (!Number.isSafeInteger(value) || value < 0 || (!allowZero && value === 0)) {
    throw new FloeConfigError(
      `${name} must be a ${allowZero ? 'non-negative' : 'positive'} whole number of milliseconds, got ${value}.`,
    );
  }
  return value;
}
