import avsc from 'avsc';
import {
  type AvscSchema,
  type AvscTypeOptions,
  requireUnderlying,
  schemaAttributes,
} from './avro-logical-type.ts';
import { FormatDecodeError } from './format-decode-error.ts';

// Two's complement values of up to 6 bytes fit a safe integer, so Buffer can read them directly.
const MAX_NUMBER_BYTES = 6;
const DECIMAL_TEXT = /^([+-]?)(\d+)(?:\.(\d+))?$/;

/**
 * Avro `decimal` (bytes or fixed: a big-endian two's complement unscaled integer) as the exact
 * decimal text, e.g. "-12.34". A JS number would round most decimals with more than 15 digits,
 * which is the reason decimal exists. The text always has `scale` fraction digits ("1.50" for
 * scale 2), so it says what the writer meant; `Number(text)` or a decimal library reads it.
 */
export class DecimalType extends avsc.types.LogicalType {
  readonly precision: number;
  readonly scale: number;
  private readonly fixedSize: number | undefined;

  constructor(schema: AvscSchema, opts?: AvscTypeOptions) {
    super(schema, opts);
    requireUnderlying(this, 'decimal', 'bytes', 'fixed');
    const { precision, scale = 0 } = schemaAttributes(schema);
    if (typeof precision !== 'number' || !Number.isInteger(precision) || precision < 1) {
      throw new Error(`Avro decimal precision must be a positive integer, got ${String(precision)}.`);
    }
    if (typeof scale !== 'number' || !Number.isInteger(scale) || scale < 0 || scale > precision) {
      throw new Error(
        `Avro decimal scale must be an integer from 0 to precision ${precision}, got ${String(scale)}.`,
      );
    }
    const underlying = this.underlyingType;
    this.fixedSize = underlying instanceof avsc.types.FixedType ? underlying.size : undefined;
    if (this.fixedSize !== undefined && precision > maxFixedPrecision(this.fixedSize)) {
      throw new Error(`Avro decimal precision ${precision} does not fit fixed(${this.fixedSize}).`);
    }
    this.precision = precision;
    this.scale = scale;
  }

  protected override _fromValue(bytes: Buffer | undefined): string | undefined {
    if (bytes === undefined) return undefined;
    if (bytes.length === 0) throw new FormatDecodeError('Avro decimal has no bytes; expected at least one.');
    const unscaled =
      bytes.length <= MAX_NUMBER_BYTES ? bytes.readIntBE(0, bytes.length) : bigIntFromBytes(bytes);
    return formatDecimal(unscaled.toString(), this.scale);
  }

  protected override _toValue(text: unknown): Buffer | undefined {
    if (typeof text !== 'string') return undefined;
    const match = DECIMAL_TEXT.exec(text);
    if (!match) return undefined;
    const [, sign = '', integer = '', fraction = ''] = match;
    // Rounding on write would change the value; the caller must give at most `scale` digits.
    if (fraction.length > this.scale) return undefined;
    const digits = `${integer}${fraction.padEnd(this.scale, '0')}`.replace(/^0+(?=\d)/, '');
    if (digits.length > this.precision) return undefined;
    return bytesFromBigInt(BigInt(`${sign}${digits}`), this.fixedSize);
  }
}

/** The largest precision a fixed of `size` bytes can hold: floor(log10(2^(8 size - 1) - 1)). */
function maxFixedPrecision(size: number): number {
  return (2n ** BigInt(8 * size - 1) - 1n).toString().length - 1;
}

function bigIntFromBytes(bytes: Buffer): bigint {
  const unsigned = BigInt(`0x${bytes.toString('hex')}`);
  return bytes[0]! & 0x80 ? unsigned - (1n << BigInt(bytes.length * 8)) : unsigned;
}

/** Big-endian two's complement, in `size` bytes or the fewest that hold the value. */
function bytesFromBigInt(value: bigint, size: number | undefined): Buffer | undefined {
  const magnitudeBits = (value < 0n ? -value - 1n : value).toString(2).length;
  const length = size ?? Math.ceil((magnitudeBits + 1) / 8);
  const bits = length * 8;
  if (BigInt.asIntN(bits, value) !== value) return undefined;
  return Buffer.from(
    BigInt.asUintN(bits, value)
      .toString(16)
      .padStart(length * 2, '0'),
    'hex',
  );
}

/** Places the decimal point `scale` digits from the right of an integer's text. */
export function formatDecimal(unscaled: string, scale: number): string {
  if (scale === 0) return unscaled;
  const negative = unscaled.startsWith('-');
  let digits = negative ? unscaled.slice(1) : unscaled;
  if (digits.length <= scale) digits = digits.padStart(scale + 1, '0');
  const point = digits.length - scale;
  return `${negative ? '-' : ''}${digits.slice(0, point)}.${digits.slice(point)}`;
}
