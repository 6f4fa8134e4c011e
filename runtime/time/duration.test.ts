import { describe, expect, it } from 'vitest';
import { FloeConfigError } from '../errors.ts';
import { requireDuration } from './duration.ts';

describe('requireDuration', () => {
  it.each([1, 1000, Number.MAX_SAFE_INTEGER])('accepts %d ms', (ms) => {
    expect(requireDuration('gap', ms)).toBe(ms);
  });

  it('accepts zero only where zero is allowed', () => {
    expect(requireDuration('allowedLateness', 0, { allowZero: true })).toBe(0);
    expect(() => requireDuration('gap', 0)).toThrow(
      'gap must be a positive whole number of milliseconds, got 0.',
    );
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.MAX_SAFE_INTEGER + 1])(
    'rejects %d ms with a FloeConfigError that names the option and the rule',
    (ms) => {
      expect(() => requireDuration('idleTimeout', ms)).toThrow(FloeConfigError);
      expect(() => requireDuration('idleTimeout', ms, { allowZero: true })).toThrow(
        `idleTimeout must be a non-negative whole number of milliseconds, got ${ms}.`,
      );
    },
  );
});
