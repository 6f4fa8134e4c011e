/**
 * Integer arithmetic for converting finer time units to Floe's epoch milliseconds.
 *
 * Floe floors rather than truncates, so that an instant before 1970 lands in the millisecond
 * that contains it: -1 µs is in the millisecond [-1, 0), not in [0, 1). Truncation would shift
 * every pre-1970 value by up to one unit and put it in the wrong window.
 */

const MAX_SAFE_BIGINT = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE_BIGINT = -MAX_SAFE_BIGINT;

/**
 * floor(n / divisor) for a safe integer n and a positive integer divisor. Exact by construction,
 * with no argument about how a rounded float quotient floors.
 */
export function floorDiv(n: number, divisor: number): number {
  const remainder = n % divisor;
  // n - remainder is an exact multiple of divisor, so this division is exact.
  const quotient = (n - remainder) / divisor;
  return remainder < 0 ? quotient - 1 : quotient;
}

/** floor(n / divisor) for bigints (bigint `/` truncates toward zero). */
export function floorDivBigInt(n: bigint, divisor: bigint): bigint {
  const quotient = n / divisor;
  return n % divisor < 0n ? quotient - 1n : quotient;
}

/** True when the bigint fits a safe integer number exactly. */
export function isSafeBigInt(n: bigint): boolean {
  return n >= MIN_SAFE_BIGINT && n <= MAX_SAFE_BIGINT;
}
