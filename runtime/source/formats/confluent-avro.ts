import type avsc from 'avsc';
import { FloeConfigError } from '../../errors.ts';
import type { FormatBase } from '../format.ts';
import { decodeAvro } from './avro-decode.ts';
import { type AvroOptions, type AvroSchema, buildAvroType, describeAvroType } from './avro-type.ts';
import { FormatDecodeError } from './format-decode-error.ts';

/** Confluent wire format: magic byte 0, then the schema id as a 4-byte big-endian integer. */
const MAGIC_BYTE = 0;
const HEADER_SIZE = 5;
const MAX_SCHEMA_ID = 0xffff_ffff;

export interface ConfluentAvroOptions extends AvroOptions {
  /**
   * The writer schemas by Schema Registry id: every id the topic's producers use. Floe does not
   * call the registry: a cold start would wait on it, and a record whose id is missing here
   * becomes a dead letter that names the id.
   */
  readonly schemas: Readonly<Record<number, AvroSchema>>;
}

/** Avro in the Confluent Schema Registry wire format, with the writer schemas given in the job. */
export interface ConfluentAvroFormat<T> extends FormatBase<T> {
  readonly type: 'confluent-avro';
  /** The configured schema ids, ascending. */
  readonly schemaIds: readonly number[];
}

interface WriterSchema {
  readonly type: avsc.Type;
  /** Names the value in error messages, e.g. `Avro value (schema id 7, record Bid)`. */
  readonly subject: string;
}

class ConfluentAvroValueFormat<T> implements ConfluentAvroFormat<T> {
  readonly type = 'confluent-avro';

  constructor(
    private readonly writers: ReadonlyMap<number, WriterSchema>,
    readonly schemaIds: readonly number[],
  ) {}

  decode(base64: string): T {
    const bytes = Buffer.from(base64, 'base64');
    if (bytes.length < HEADER_SIZE) {
      throw new FormatDecodeError(
        `Confluent Avro value is ${bytes.length} byte${bytes.length === 1 ? '' : 's'}; the wire format needs at least ${HEADER_SIZE} (magic byte 0 and a 4-byte schema id before the Avro value).`,
      );
    }
    if (bytes[0] !== MAGIC_BYTE) throw wrongMagicByte(bytes[0]!);
    const id = bytes.readUInt32BE(1);
    const writer = this.writers.get(id);
    if (writer === undefined) {
      throw new FormatDecodeError(
        `Confluent Avro schema id ${id} is not configured; known ids: ${this.schemaIds.join(', ')}. Add its writer schema to confluentAvro({ schemas }).`,
      );
    }
    return decodeAvro<T>(writer.type, bytes, HEADER_SIZE, writer.subject);
  }

  toString(): string {
    return `ConfluentAvro(schema ids ${this.schemaIds.join(', ')})`;
  }
}

function wrongMagicByte(found: number): FormatDecodeError {
  const hex = `0x${found.toString(16).padStart(2, '0')}`;
  // '{' and '[' start almost every JSON value: the commonest mix-up, worth naming.
  const hint =
    found === 0x7b || found === 0x5b
      ? 'The value looks like JSON; use json() for this topic.'
      : 'Was it written by the Confluent Avro serializer?';
  return new FormatDecodeError(
    `Confluent Avro value starts with byte ${found} (${hex}), not the magic byte 0. ${hint}`,
  );
}

/**
 * Decodes values in the Confluent Schema Registry wire format: magic byte 0, a 4-byte big-endian
 * schema id, then Avro binary written with that id's schema. Values decode as with avro().
 *
 * Each schema is decoded as written; Floe does not resolve old schemas to a newer reader schema,
 * so with several ids `T` should cover every version (e.g. a union, or optional new fields).
 *
 * @example
 * confluentAvro<Bid>({ schemas: { 1: bidSchemaV1, 7: bidSchemaV2 } })
 */
export function confluentAvro<T = unknown>(options: ConfluentAvroOptions): ConfluentAvroFormat<T> {
  const schemas = options?.schemas;
  if (typeof schemas !== 'object' || schemas === null || Object.keys(schemas).length === 0) {
    throw new FloeConfigError(
      'confluentAvro(): schemas must map at least one Schema Registry id to its Avro schema, e.g. { schemas: { 1: schema } }.',
    );
  }
  const writers = new Map<number, WriterSchema>();
  for (const [key, schema] of Object.entries(schemas)) {
    const id = Number(key);
    if (!/^\d+$/.test(key) || id > MAX_SCHEMA_ID) {
      throw new FloeConfigError(
        `confluentAvro(): schema id "${key}" must be an integer from 0 to ${MAX_SCHEMA_ID}.`,
      );
    }
    const type = buildAvroType(schema, options, `confluentAvro(): schema id ${id}`);
    writers.set(id, { type, subject: `Avro value (schema id ${id}, ${describeAvroType(type)})` });
  }
  const ids = [...writers.keys()].sort((a, b) => a - b);
  return new ConfluentAvroValueFormat<T>(writers, ids);
}
