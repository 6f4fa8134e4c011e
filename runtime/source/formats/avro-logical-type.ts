import type avsc from 'avsc';

/** A schema as avsc hands it to a logical type's constructor. */
export type AvscSchema = ConstructorParameters<typeof avsc.types.LogicalType>[0];

/** The options avsc passes down while it builds a type; Floe only spreads and forwards them. */
export type AvscTypeOptions = object;

/** The attributes of a schema object. Logical types are only ever declared on objects. */
export function schemaAttributes(schema: AvscSchema): Readonly<Record<string, unknown>> {
  return typeof schema === 'object' && schema !== null ? (schema as Readonly<Record<string, unknown>>) : {};
}

/**
 * Rejects a logical type on the wrong underlying type. avsc catches this error and, as the Avro
 * specification requires for invalid logical types, falls back to the underlying type.
 */
export function requireUnderlying(
  type: avsc.types.LogicalType,
  logicalType: string,
  ...allowed: string[]
): void {
  const actual = type.underlyingType.typeName;
  if (!allowed.includes(actual)) {
    throw new Error(`Avro logical type ${logicalType} needs ${allowed.join(' or ')}, not ${actual}.`);
  }
}
