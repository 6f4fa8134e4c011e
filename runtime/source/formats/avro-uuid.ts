import avsc from 'avsc';
import { type AvscSchema, type AvscTypeOptions, requireUnderlying } from './avro-logical-type.ts';

const UUID_BYTES = 16;
const UUID_HEX = /^[0-9a-f]{32}$/i;

/**
 * Avro `uuid` as its text form. On a `string` it is the string as written (not validated: that
 * would cost every record and the writer owns the format). On a `fixed(16)` (Avro 1.12) the
 * bytes are formatted as the usual lowercase 8-4-4-4-12 text, so both encodings read alike.
 */
export class UuidType extends avsc.types.LogicalType {
  private readonly isFixed: boolean;

  constructor(schema: AvscSchema, opts?: AvscTypeOptions) {
    super(schema, opts);
    requireUnderlying(this, 'uuid', 'string', 'fixed');
    const underlying = this.underlyingType;
    this.isFixed = underlying instanceof avsc.types.FixedType;
    if (underlying instanceof avsc.types.FixedType && underlying.size !== UUID_BYTES) {
      throw new Error(`Avro uuid needs fixed(${UUID_BYTES}), not fixed(${underlying.size}).`);
    }
  }

  protected override _fromValue(value: string | Buffer | undefined): string | undefined {
    if (typeof value === 'string' || value === undefined) return value;
    const hex = value.toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  protected override _toValue(text: unknown): string | Buffer | undefined {
    if (typeof text !== 'string') return undefined;
    if (!this.isFixed) return text;
    const hex = text.replaceAll('-', '');
    return UUID_HEX.test(hex) ? Buffer.from(hex, 'hex') : undefined;
  }
}
