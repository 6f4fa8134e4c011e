/**
 * A JSON lines file read as a Kafka topic, the input of `floe run`: each non-blank line is one
 * record, placed by Kafka's default partitioner and given its partition's next offset from 0, so
 * the same file and flags always give the same topic (and a restarted run the same batches).
 */
import { basename, extname } from 'node:path';
import {
  type ProducerRecord,
  produceToTopic,
  type TopicLog,
} from '../runtime/event-source-mapping/event-builder.ts';

export interface JsonLinesTopicOptions {
  readonly topic: string;
  readonly partitions: number;
  /**
   * The field whose value, as text, is the record key (and so picks the partition).
   * @default - no key: records are spread round-robin
   */
  readonly key?: string;
  /**
   * The field that holds the record timestamp, epoch ms (a number) or ISO-8601 text.
   * @default - every record gets `defaultTimestamp`
   */
  readonly timestamp?: string;
  /** The timestamp of records without a usable timestamp field (the runner uses the file's mtime). */
  readonly defaultTimestamp: number;
}

export interface JsonLinesTopic {
  readonly log: TopicLog;
  /** Records in the topic (the non-blank lines). */
  readonly records: number;
  /** Records placed round-robin because `key` was given but their line had no such field. */
  readonly withoutKey: number;
}

/**
 * Turns JSON lines into a topic. A line's bytes, without the line ending (`\n` or `\r\n`), are
 * the record value as-is, so a line that is not JSON (or not UTF-8) is still a record, which the
 * job's decoder makes a dead letter. Blank lines are skipped and take no offset; a UTF-8 byte
 * order mark at the start of the file is not part of the first line.
 */
export function jsonLinesTopic(content: Uint8Array | string, options: JsonLinesTopicOptions): JsonLinesTopic {
  const bytes =
    typeof content === 'string'
      ? Buffer.from(content, 'utf8')
      : Buffer.from(content.buffer, content.byteOffset, content.byteLength);
  const records: ProducerRecord[] = [];
  let withoutKey = 0;
  const needsFields = options.key !== undefined || options.timestamp !== undefined;
  let start = hasByteOrderMark(bytes) ? 3 : 0;
  while (start < bytes.length) {
    const newline = bytes.indexOf(NEWLINE, start);
    const end = newline === -1 ? bytes.length : newline;
    const line = bytes.subarray(start, end > start && bytes[end - 1] === CARRIAGE_RETURN ? end - 1 : end);
    start = end + 1;
    if (isBlank(line)) continue;
    const fields = needsFields ? objectOf(line.toString('utf8')) : undefined;
    const key = options.key === undefined ? undefined : keyText(fields?.[options.key]);
    if (options.key !== undefined && key === undefined) withoutKey++;
    const timestamp = options.timestamp === undefined ? undefined : timestampOf(fields?.[options.timestamp]);
    records.push({ key, value: line, timestamp: timestamp ?? options.defaultTimestamp });
  }
  const log = produceToTopic(records, { topic: options.topic, partitions: options.partitions });
  return { log, records: records.length, withoutKey };
}

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

function hasByteOrderMark(bytes: Uint8Array): boolean {
  return bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
}

/** Only spaces, tabs and carriage returns (JSON's whitespace besides the newline). */
function isBlank(line: Uint8Array): boolean {
  for (const byte of line) if (byte !== 0x20 && byte !== 0x09 && byte !== CARRIAGE_RETURN) return false;
  return true;
}

/** The default topic name of an input file: its base name without extension, as a legal Kafka topic name. */
export function topicNameOf(path: string): string {
  const name = basename(path, extname(path))
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .slice(0, MAX_TOPIC_LENGTH);
  return name === '' || name === '.' || name === '..' ? 'input' : name;
}

/** Kafka's rule for topic names (org.apache.kafka.common.internals.Topic). */
export function topicNameProblem(name: string): string | undefined {
  if (name === '' || name === '.' || name === '..') return 'it must not be empty, "." or ".."';
  if (name.length > MAX_TOPIC_LENGTH) return `it must be at most ${MAX_TOPIC_LENGTH} characters`;
  if (!/^[A-Za-z0-9._-]+$/.test(name)) return 'it may only hold letters, digits, ".", "_" and "-"';
  return undefined;
}

const MAX_TOPIC_LENGTH = 249;

function objectOf(line: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** A field value as key text: strings as they are, numbers and booleans as String() writes them. */
function keyText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  // String() would make every object the same key, "[object Object]"; JSON keeps them apart.
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

function timestampOf(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? Math.floor(value) : undefined;
  if (typeof value === 'string') {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? undefined : ms;
  }
  return undefined;
}
