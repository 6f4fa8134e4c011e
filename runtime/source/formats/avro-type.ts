import avsc from 'avsc';
import { describeError, FloeConfigError } from '../../errors.ts';
import { DateType } from './avro-date.ts';
import { DecimalType } from './avro-decimal.ts';
import { Int96Type, isNamedInt96 } from './avro-int96.ts';
import { type AvscSchema, schemaAttributes } from './avro-logical-type.ts';
import { AVRO_LONG_TYPE } from './avro-long.ts';
import { TIMESTAMP_LOGICAL_TYPES, TimestampType } from './avro-timestamp.ts';
import { UuidType } from './avro-uuid.ts';

/**
 * An Avro schema: the parsed JSON of an .avsc file, a primitive type name such as "string", or
 * the JSON text itself (as the Schema Registry returns it).
 */
export type AvroSchema = string | readonly AvroSchema[] | AvroSchemaObject;

/** An Avro schema object: a record, enum, array, map, fixed, or an annotated primitive. */
export interface AvroSchemaObject {
  readonly type: AvroSchema;
  readonly [attribute: string]: unknown;
}

export interface AvroOptions {
  /**
   * How union values are represented. `auto` unwraps unions whose branches can be told apart by
   * their JavaScript value (such as `["null", "string"]`: `null` or a string) and wraps the
   * others as `{ [branchName]: value }`; `always` wraps every union; `never` unwraps every union
   * (the branch of an ambiguous union is then lost).
   * @default 'auto'
   */
  readonly wrapUnions?: 'auto' | 'always' | 'never';
}

const WRAP_UNIONS: readonly string[] = ['auto', 'always', 'never'];

type LogicalTypeClass = new (schema: AvscSchema, opts?: object) => avsc.types.LogicalType;

const LOGICAL_TYPES: Readonly<Record<string, LogicalTypeClass>> = {
  ...Object.fromEntries(TIMESTAMP_LOGICAL_TYPES.map((name) => [name, TimestampType])),
  date: DateType,
  decimal: DecimalType,
  uuid: UuidType,
  int96: Int96Type,
};

const LONG_LOGICAL_TYPES: ReadonlySet<unknown> = new Set(TIMESTAMP_LOGICAL_TYPES);

/**
 * Puts Floe's long in place of avsc's, and reads unannotated fixed(12) INT96 fields.
 * A hook is needed for the long: avsc's `registry` option only replaces the name "long", not the
 * object form `{"type": "long"}`, which Java-generated schemas often use.
 */
function floeTypeHook(schema: AvscSchema, opts: object): avsc.Type | undefined {
  if (schema === 'long') return AVRO_LONG_TYPE;
  const attributes = schemaAttributes(schema);
  if (attributes.type === 'long') {
    // Floe's timestamp types build their own underlying long (see TimestampType).
    return LONG_LOGICAL_TYPES.has(attributes.logicalType) ? undefined : AVRO_LONG_TYPE;
  }
  if (isNamedInt96(attributes))
    return new Int96Type({ ...attributes, logicalType: 'int96' } as AvscSchema, opts);
  return undefined;
}

/**
 * Builds the avsc type Floe decodes with: its long, its logical types, records as plain objects.
 * Runs at cold start; a bad schema throws a FloeConfigError that starts with `context`.
 *
 * Logical types that are invalid for their schema (such as a decimal whose scale exceeds its
 * precision) are read as their underlying type, as the Avro specification requires and Java does.
 */
export function buildAvroType(
  schema: AvroSchema,
  options: AvroOptions | undefined,
  context: string,
): avsc.Type {
  const wrapUnions = options?.wrapUnions ?? 'auto';
  if (!WRAP_UNIONS.includes(wrapUnions)) {
    throw new FloeConfigError(
      `${context}: wrapUnions must be 'auto', 'always' or 'never', got ${JSON.stringify(wrapUnions)}.`,
    );
  }
  const parsed = parseSchemaText(schema, context);
  try {
    return avsc.Type.forSchema(parsed as AvscSchema, {
      wrapUnions,
      logicalTypes: LOGICAL_TYPES,
      typeHook: floeTypeHook,
      // Prototype methods such as toBuffer would be enumerable on every decoded record.
      omitRecordMethods: true,
    });
  } catch (error) {
    throw new FloeConfigError(`${context}: invalid Avro schema: ${describeError(error)}.`, { cause: error });
  }
}

function parseSchemaText(schema: AvroSchema, context: string): AvroSchema {
  if (schema === undefined || schema === null) {
    throw new FloeConfigError(`${context}: an Avro schema is required, got ${String(schema)}.`);
  }
  // A bare name such as "string" or "long" is a schema too; only JSON text is parsed.
  if (typeof schema !== 'string' || !/^\s*[{["]/.test(schema)) return schema;
  try {
    return JSON.parse(schema) as AvroSchema;
  } catch (error) {
    throw new FloeConfigError(
      `${context}: the Avro schema text is not valid JSON: ${describeError(error)}.`,
      {
        cause: error,
      },
    );
  }
}

/**
 * A short description for toString() and error messages in Avro's words, e.g. `record nexmark.Bid`,
 * `long`, `union` or `timestamp-millis` (avsc says `abstract:long`, `union:unwrapped`, ...).
 */
export function describeAvroType(type: avsc.Type): string {
  const kind = type.typeName.slice(type.typeName.indexOf(':') + 1);
  const avroKind = type.typeName.startsWith('union:') ? 'union' : kind;
  return type.name === undefined ? avroKind : `${avroKind} ${type.name}`;
}
