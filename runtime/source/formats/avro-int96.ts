import avsc from 'avsc';
import { type AvscSchema, type AvscTypeOptions, requireUnderlying } from './avro-logical-type.ts';
import { epochMsToInt96, INT96_SIZE, int96ToEpochMs } from './int96.ts';

const INT96_NAME = /(?:^|\.)int96$/i;

/**
 * A legacy INT96 timestamp (see int96.ts) carried as an Avro `fixed(12)`, as epoch milliseconds.
 * Recognised by `"logicalType": "int96"` on the fixed, or by a fixed(12) named INT96 in any case
 * and namespace, which is how Parquet-to-Avro converters emit it without annotating it.
 */
export class Int96Type extends avsc.types.LogicalType {
  constructor(schema: AvscSchema, opts?: AvscTypeOptions) {
    super(schema, opts);
    requireUnderlying(this, 'int96', 'fixed');
    const underlying = this.underlyingType;
    if (underlying instanceof avsc.types.FixedType && underlying.size !== INT96_SIZE) {
      throw new Error(`Avro int96 needs fixed(${INT96_SIZE}), not fixed(${underlying.size}).`);
    }
  }

  protected override _fromValue(bytes: Buffer | undefined): number | undefined {
    return bytes === undefined ? undefined : int96ToEpochMs(bytes);
  }

  protected override _toValue(epochMs: unknown): Buffer | undefined {
    if (typeof epochMs !== 'number' || !Number.isSafeInteger(epochMs)) return undefined;
    return epochMsToInt96(epochMs);
  }
}

/** True for an unannotated fixed that Floe reads as INT96 by its name. */
export function isNamedInt96(attributes: Readonly<Record<string, unknown>>): boolean {
  return (
    attributes.type === 'fixed' &&
    attributes.logicalType === undefined &&
    attributes.size === INT96_SIZE &&
    typeof attributes.name === 'string' &&
    INT96_NAME.test(attributes.name)
  );
}
