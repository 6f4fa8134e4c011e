/**
 * The bytes of a partition log segment: one partition's records, compact because every batch of
 * a job whose windows merge partitions is written once as a segment (and billed by the KB as a
 * DynamoDB item while small).
 *
 * Columns rather than Lambda's record objects: offsets and timestamps as differences from the
 * previous record (mostly small numbers), keys and values as their UTF-8 text when the bytes are
 * text that round-trips exactly (base64 text hides the redundancy a compressor would find: a
 * segment of 125 JSON bids takes about a third less after zstd), and each record's remaining
 * fields (timestampType, headers, schema metadata) as an index into the distinct shapes of the
 * segment. Decoding gives back exactly the records encoded.
 */
import { FloeError } from '../errors.ts';
import type { KafkaEventRecord } from '../source/kafka-event.ts';

const FORMAT = 2;
/** A key or value kept as its UTF-8 text. */
const TEXT = '=';
/** A key or value kept as the base64 Lambda delivered. */
const BASE64 = '~';
/** A record without a key field at all (not null, not ""). */
const ABSENT = 0;

type Cell = string | null | typeof ABSENT;

interface SegmentJson {
  readonly format: typeof FORMAT;
  readonly topic: string;
  readonly partition: number;
  readonly offsets: number[];
  readonly timestamps: number[];
  readonly keys: Cell[];
  readonly values: Cell[];
  /** Distinct JSON texts of the records' other fields, and each record's index into them. */
  readonly shapes: string[];
  readonly shapeOf: number[];
}

const CORE = new Set(['topic', 'partition', 'offset', 'timestamp', 'key', 'value']);

export function encodeSegment(records: readonly KafkaEventRecord[]): Uint8Array {
  const first = records[0];
  if (first === undefined) throw new FloeError('A partition log segment holds at least one record.');
  const offsets: number[] = [];
  const timestamps: number[] = [];
  const keys: Cell[] = [];
  const values: Cell[] = [];
  const shapes: string[] = [];
  const shapeIndex = new Map<string, number>();
  const shapeOf: number[] = [];
  let offset = 0;
  let timestamp = 0;
  for (const record of records) {
    if (record.topic !== first.topic || record.partition !== first.partition) {
      throw new FloeError(
        `A partition log segment holds one partition's records: ${first.topic}-${first.partition}, not ${record.topic}-${record.partition}.`,
      );
    }
    offsets.push(record.offset - offset);
    timestamps.push(record.timestamp - timestamp);
    offset = record.offset;
    timestamp = record.timestamp;
    // A key that is undefined is absent (JSON has no undefined), however the record holds it.
    keys.push(record.key !== undefined ? cell(record.key) : ABSENT);
    values.push(cell(record.value));
    const rest: Record<string, unknown> = {};
    for (const [name, v] of Object.entries(record)) if (!CORE.has(name)) rest[name] = v;
    const shape = JSON.stringify(rest);
    let index = shapeIndex.get(shape);
    if (index === undefined) {
      index = shapes.length;
      shapes.push(shape);
      shapeIndex.set(shape, index);
    }
    shapeOf.push(index);
  }
  const json: SegmentJson = {
    format: FORMAT,
    topic: first.topic,
    partition: first.partition,
    offsets,
    timestamps,
    keys,
    values,
    shapes,
    shapeOf,
  };
  return new TextEncoder().encode(JSON.stringify(json));
}

/** Decodes a segment; `describe` names it in errors. */
export function decodeSegmentRecords(bytes: Uint8Array, describe: string): KafkaEventRecord[] {
  let json: SegmentJson;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes)) as SegmentJson;
  } catch (error) {
    throw new FloeError(`Partition log segment ${describe} is not valid JSON: ${String(error)}`);
  }
  const n = json?.offsets?.length;
  if (
    json?.format !== FORMAT ||
    typeof json.topic !== 'string' ||
    typeof json.partition !== 'number' ||
    !Array.isArray(json.offsets) ||
    [json.timestamps, json.keys, json.values, json.shapeOf].some(
      (a) => !Array.isArray(a) || a.length !== n,
    ) ||
    !Array.isArray(json.shapes)
  ) {
    throw new FloeError(
      `Partition log segment ${describe} is not a Floe segment (format ${FORMAT}). Another program wrote to Floe's checkpoint store under this key.`,
    );
  }
  const shapes = json.shapes.map((text) => JSON.parse(text) as Record<string, unknown>);
  const records: KafkaEventRecord[] = new Array(n);
  let offset = 0;
  let timestamp = 0;
  for (let i = 0; i < n; i++) {
    offset += json.offsets[i]!;
    timestamp += json.timestamps[i]!;
    const record: Record<string, unknown> = {
      topic: json.topic,
      partition: json.partition,
      offset,
      timestamp,
      ...shapes[json.shapeOf[i]!],
    };
    const key = json.keys[i]!;
    if (key !== ABSENT) record.key = uncell(key);
    record.value = uncell(json.values[i]!);
    records[i] = record as unknown as KafkaEventRecord;
  }
  return records;
}

/** A key or value as text when its bytes are UTF-8 that gives back the same base64, else as base64. */
function cell(base64: string | null | undefined): Cell {
  if (base64 === null || base64 === undefined) return null;
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.toString('base64') === base64) {
    const text = bytes.toString('utf8');
    if (Buffer.from(text, 'utf8').equals(bytes)) return TEXT + text;
  }
  return BASE64 + base64;
}

function uncell(cell: Cell): string | null {
  if (cell === null || cell === ABSENT) return null;
  const body = cell.slice(1);
  return cell[0] === TEXT ? Buffer.from(body, 'utf8').toString('base64') : body;
}
