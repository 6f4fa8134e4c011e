/**
 * Avro object container files (the format of Iceberg manifests and manifest lists), encoded and
 * decoded in memory with avsc types.
 *
 * The header carries the writer's schema JSON exactly as given, because Iceberg needs the
 * `field-id`, `element-id` and `logicalType: "map"` attributes that avsc does not re-export.
 * Values are read with the writer's schema from the header, so files from other Iceberg writers
 * (Java, pyiceberg) read correctly whatever their record names; longs read as bigint.
 */
import { randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import avro from 'avsc';
import { avroType, bigIntLongType } from './avro-long.ts';

export type AvroCodec = 'null' | 'deflate';

export interface AvroFile {
  /** The writer's schema, parsed from the header. */
  readonly schema: unknown;
  /** User metadata from the header (the `avro.*` keys removed), as UTF-8 strings. */
  readonly metadata: Readonly<Record<string, string>>;
  readonly records: readonly unknown[];
}

const MAGIC = Uint8Array.of(0x4f, 0x62, 0x6a, 0x01); // "Obj" 1
const HEADER = avro.Type.forSchema({
  type: 'record',
  name: 'org.apache.avro.file.Header',
  fields: [
    { name: 'magic', type: { type: 'fixed', name: 'Magic', size: 4 } },
    { name: 'meta', type: { type: 'map', values: 'bytes' } },
    { name: 'sync', type: { type: 'fixed', name: 'Sync', size: 16 } },
  ],
});
/** Rows per block; Iceberg readers read whole blocks, so the size only bounds memory. */
const BLOCK_RECORDS = 1000;

/**
 * Encodes `records` as one Avro container file. `schema` is written to the header verbatim;
 * every record must match it (avsc validates and throws naming the field).
 */
export function encodeAvroFile(
  schema: object,
  records: readonly unknown[],
  metadata: Readonly<Record<string, string>>,
  codec: AvroCodec = 'deflate',
): Uint8Array {
  const type = avroType(schema);
  const sync = randomBytes(16);
  const meta: Record<string, Buffer> = {};
  for (const [key, value] of Object.entries(metadata)) meta[key] = Buffer.from(value, 'utf8');
  meta['avro.schema'] = Buffer.from(JSON.stringify(schema), 'utf8');
  meta['avro.codec'] = Buffer.from(codec, 'utf8');
  const chunks: Buffer[] = [HEADER.toBuffer({ magic: Buffer.from(MAGIC), meta, sync })];
  for (let start = 0; start < records.length; start += BLOCK_RECORDS) {
    const block = records.slice(start, start + BLOCK_RECORDS);
    const raw = Buffer.concat(block.map((record) => type.toBuffer(record)));
    const data = codec === 'deflate' ? deflateRawSync(raw) : raw;
    chunks.push(
      bigIntLongType.toBuffer(BigInt(block.length)),
      bigIntLongType.toBuffer(BigInt(data.length)),
      data,
      sync,
    );
  }
  return new Uint8Array(Buffer.concat(chunks));
}

/** Decodes a whole container file. Throws an Error describing the first problem found. */
export function decodeAvroFile(bytes: Uint8Array): AvroFile {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!buffer.subarray(0, 4).equals(MAGIC)) throw new Error('not an Avro container file (bad magic bytes)');
  const header = HEADER.decode(buffer, 0);
  if (header.offset < 0) throw new Error('truncated Avro header');
  const { meta, sync } = header.value as { meta: Record<string, Buffer>; sync: Buffer };
  const schemaText = meta['avro.schema']?.toString('utf8');
  if (schemaText === undefined) throw new Error('the Avro header has no avro.schema');
  const schema: unknown = JSON.parse(schemaText);
  const codec = meta['avro.codec']?.toString('utf8') ?? 'null';
  if (codec !== 'null' && codec !== 'deflate') {
    throw new Error(`unsupported Avro codec "${codec}"; supported codecs are: null, deflate`);
  }
  const type = avroType(schema as object);
  const records: unknown[] = [];
  let offset = header.offset;
  while (offset < buffer.length) {
    const count = bigIntLongType.decode(buffer, offset);
    const size = bigIntLongType.decode(buffer, count.offset);
    if (count.offset < 0 || size.offset < 0) throw new Error(`truncated Avro block header at byte ${offset}`);
    const start = size.offset;
    const end = start + Number(size.value as bigint);
    if (end + 16 > buffer.length) throw new Error(`truncated Avro block at byte ${offset}`);
    const raw =
      codec === 'deflate' ? inflateRawSync(buffer.subarray(start, end)) : buffer.subarray(start, end);
    let position = 0;
    for (let i = 0n; i < (count.value as bigint); i++) {
      const decoded = type.decode(raw, position);
      if (decoded.offset < 0) throw new Error(`truncated Avro record in the block at byte ${offset}`);
      records.push(decoded.value);
      position = decoded.offset;
    }
    if (!buffer.subarray(end, end + 16).equals(sync))
      throw new Error(`bad sync marker after the block at byte ${offset}`);
    offset = end + 16;
  }
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(meta)) {
    if (!key.startsWith('avro.')) metadata[key] = value.toString('utf8');
  }
  return { schema, metadata, records };
}
