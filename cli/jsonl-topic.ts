/**
 * A JSON lines file read as a Kafka topic, the input of `floe run`: each non-blank line is one
 * record, placed by Kafka's default partitioner and given its partition's next offset from 0, so
 * the same file and flags always give the same topic (and a restarted run the same batches).
 *
 * `floe run` streams the file ({@link readRunEvents}): it reads it in chunks, makes each line a
 * record and cuts the records into Lambda events as it goes ({@link EventCutter}), so a file of any
 * size is never in memory at once. `floe events` and `floe produce` read the whole topic
 * ({@link jsonLinesTopic}).
 */
import { isAscii, isUtf8 } from 'node:buffer';
import { open } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, extname } from 'node:path';
import { Worker } from 'node:worker_threads';
import { type EventSource, envelope, type TopicLog } from '../runtime/event-source-mapping/event-builder.ts';
import { murmur2Of, toPositive } from '../runtime/event-source-mapping/partitioner.ts';
import {
  type KafkaEvent,
  type KafkaEventHeader,
  type KafkaEventRecord,
  LAMBDA_PAYLOAD_LIMIT_BYTES,
  type TextValueRecord,
  VALUE_TEXT,
} from '../runtime/source/kafka-event.ts';
import { FieldScanner, type FieldValue, isCanonicalInteger, Located } from './jsonl-fields.ts';

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
  const maker = new RecordMaker(options);
  const partitions = Array.from({ length: options.partitions }, (): KafkaEventRecord[] => []);
  const start = hasByteOrderMark(bytes) ? 3 : 0;
  forEachLine(bytes, start, bytes.length, true, (lineStart, lineEnd) => {
    if (maker.make(bytes, lineStart, lineEnd)) partitions[maker.partition]!.push(maker.record());
  });
  return { log: { topic: options.topic, partitions }, records: maker.records, withoutKey: maker.withoutKey };
}

/**
 * Makes each line a record as Lambda delivers it (base64 key and value, CREATE_TIME, no headers),
 * with its partition and the partition's next offset, and the bytes of its JSON in an event.
 * `make` reads a line into the fields below; `record` builds the record of the last line made.
 */
export class RecordMaker {
  /** Records made so far. */
  records = 0;
  /** Of those, records placed round-robin because the line had no `key` field. */
  withoutKey = 0;
  /** The last record's fields, and the bytes of its JSON. */
  partition = 0;
  offset = 0;
  timestamp = 0;
  /** The last record's value: bytes [valueStart, valueEnd) of the line buffer given to `make`. */
  valueStart = 0;
  valueEnd = 0;
  /** The last record's key: the UTF-8 bytes [keyStart, keyEnd) of keyBytes; undefined: no key. */
  keyBytes: Buffer | undefined;
  keyStart = 0;
  keyEnd = 0;
  bytes = 0;
  readonly topic: string;
  private readonly partitions: number;
  private readonly offsets: number[];
  private readonly scanner: FieldScanner | undefined;
  private readonly keyIndex: number;
  private readonly timestampIndex: number;
  private readonly defaultTimestamp: number;
  private nextRoundRobin = 0;
  private line: Buffer = Buffer.alloc(0);
  /** `{"topic":…,"partition":0,"offset":0,"timestamp":0,"timestampType":"CREATE_TIME","value":"","headers":[]}` less the 3 digits. */
  private readonly fixedBytes: number;

  constructor(options: JsonLinesTopicOptions) {
    this.topic = options.topic;
    this.partitions = options.partitions;
    this.offsets = Array.from({ length: options.partitions }, () => 0);
    this.defaultTimestamp = options.defaultTimestamp;
    const names: string[] = [];
    this.keyIndex = options.key === undefined ? -1 : names.push(options.key) - 1;
    this.timestampIndex = options.timestamp === undefined ? -1 : names.push(options.timestamp) - 1;
    this.scanner = names.length > 0 ? new FieldScanner(names) : undefined;
    this.fixedBytes =
      jsonBytes({
        topic: options.topic,
        partition: 0,
        offset: 0,
        timestamp: 0,
        timestampType: 'CREATE_TIME',
        value: '',
        headers: [],
      }) - 3;
  }

  /** Reads the line `bytes[start, end)` as the next record; false for a blank line (no record). */
  make(bytes: Buffer, start: number, end: number): boolean {
    if (isBlank(bytes, start, end)) return false;
    this.keyBytes = undefined;
    this.keyStart = 0;
    this.keyEnd = 0;
    let timestamp = this.defaultTimestamp;
    const scanner = this.scanner;
    if (scanner !== undefined && !(this.timestampIndex < 0 && this.locateKey(scanner, bytes, start, end)))
      timestamp = this.scanFields(scanner, bytes, start, end);
    const { keyBytes, keyStart, keyEnd } = this;
    let partition: number;
    if (keyBytes !== undefined)
      partition = toPositive(murmur2Of(keyBytes, keyStart, keyEnd)) % this.partitions;
    else {
      if (this.keyIndex >= 0) this.withoutKey++;
      partition = this.nextRoundRobin;
      this.nextRoundRobin = (this.nextRoundRobin + 1) % this.partitions;
    }
    const offset = this.offsets[partition]!++;
    this.records++;
    this.partition = partition;
    this.offset = offset;
    this.timestamp = timestamp;
    this.line = bytes;
    this.valueStart = start;
    this.valueEnd = end;
    this.bytes = recordJsonBytes(
      this.fixedBytes,
      partition,
      offset,
      timestamp,
      base64Length(end - start),
      keyBytes === undefined ? -1 : base64Length(keyEnd - keyStart),
    );
    return true;
  }

  /**
   * The common case, a key and no timestamp field: the key read where `locate` found it in the
   * line (the same key as `scan` gives, without building its result). False when only `scan` can
   * tell (escapes, numbers JSON writes otherwise, other values, names it cannot compare).
   */
  private locateKey(scanner: FieldScanner, bytes: Buffer, start: number, end: number): boolean {
    const found = scanner.locate(bytes, start, end);
    if (found === Located.NotAnObject) return true; // no key
    if (found === Located.Unsure) return false;
    const at = scanner.valueStart(this.keyIndex);
    if (at < 0) return true; // no key
    const to = scanner.valueEnd(this.keyIndex);
    if (scanner.plainString(this.keyIndex)) {
      if (isAsciiRange(bytes, at + 1, to - 1)) this.keyIn(bytes, at + 1, to - 1);
      else this.keyOf(bytes.toString('utf8', at + 1, to - 1));
      return true;
    }
    if (!isCanonicalInteger(bytes, at, to)) return false;
    this.keyIn(bytes, at, to);
    return true;
  }

  /** Every other case: the key and the timestamp (returned) from the line's full scan. */
  private scanFields(scanner: FieldScanner, bytes: Buffer, start: number, end: number): number {
    const fields = scanner.scan(bytes, start, end);
    const keyField = fields.values[this.keyIndex];
    if (
      keyField !== undefined &&
      (keyField.kind === 'string' ? keyField.ascii : keyField.kind === 'integer')
    ) {
      // The key's UTF-8 bytes are in the line: hash them where they are.
      const text = keyField as { readonly start: number; readonly end: number };
      this.keyIn(bytes, text.start, text.end);
    } else {
      const text = keyField === undefined ? undefined : keyText(keyField);
      if (text !== undefined) this.keyOf(text);
    }
    const timestampField = fields.values[this.timestampIndex];
    return timestampField === undefined
      ? this.defaultTimestamp
      : (timestampOf(timestampField) ?? this.defaultTimestamp);
  }

  /** The key is the bytes `bytes[start, end)`. */
  private keyIn(bytes: Buffer, start: number, end: number): void {
    this.keyBytes = bytes;
    this.keyStart = start;
    this.keyEnd = end;
  }

  /** The key is `text`'s UTF-8, as Kafka's StringSerializer writes it. */
  private keyOf(text: string): void {
    const utf8 = Buffer.from(text, 'utf8');
    this.keyIn(utf8, 0, utf8.length);
  }

  /** The last line's record. */
  record(): KafkaEventRecord {
    const value = this.line.toString('base64', this.valueStart, this.valueEnd);
    const key = this.keyBytes?.toString('base64', this.keyStart, this.keyEnd);
    return eventRecordOf(this.topic, this.partition, this.offset, this.timestamp, value, key);
  }
}

/** A record as Lambda delivers it, with its fields in the order eventRecord gives them (so both serialize alike). */
function eventRecordOf(
  topic: string,
  partition: number,
  offset: number,
  timestamp: number,
  value: string,
  key: string | undefined,
): KafkaEventRecord {
  return key === undefined
    ? { topic, partition, offset, timestamp, timestampType: 'CREATE_TIME', value, headers: [] }
    : { topic, partition, offset, timestamp, timestampType: 'CREATE_TIME', value, headers: [], key };
}

/** The bytes of a record's JSON, counted (cli/jsonl-topic.test.ts checks it against JSON.stringify). */
function recordJsonBytes(
  fixed: number,
  partition: number,
  offset: number,
  timestamp: number,
  valueLength: number,
  /** -1: no key. */
  keyLength: number,
): number {
  return (
    fixed +
    digits(partition) +
    digits(offset) +
    digits(timestamp) +
    valueLength +
    (keyLength < 0 ? 0 : KEY_FIELD_BYTES + keyLength)
  );
}

/** The characters of the base64 of `bytes` bytes (padded). */
function base64Length(bytes: number): number {
  return 4 * Math.ceil(bytes / 3);
}

/** `,"key":""` */
const KEY_FIELD_BYTES = 9;

/** The characters of `n` as JSON writes it (a safe integer, as offsets and timestamps are), without making the string. */
function digits(n: number): number {
  if (!Number.isSafeInteger(n)) return String(n).length;
  let length = n < 0 ? 2 : 1;
  const magnitude = Math.abs(n);
  for (let power = 10; magnitude >= power && length < 17; power *= 10) length++;
  return length;
}

function isAsciiRange(bytes: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (bytes[i]! >= 0x80) return false;
  return true;
}

export interface CutOptions {
  readonly topic: string;
  readonly partitions: number;
  /**
   * - `partition`: each event holds one partition's records, as the event source mapping gives
   *   each partition to its own invocation; each partition's events are cut on their own, so they
   *   can run concurrently, one at a time per partition (jobs whose commit groups are partitions);
   * - `file`: events take the records in the order of the file, mixing partitions, so every
   *   partition's event time moves on together (jobs whose one commit group covers all
   *   partitions, which run one event at a time anyway).
   * @default 'partition'
   */
  readonly by?: 'partition' | 'file';
  /** The most records an event holds. @default - no limit but the payload */
  readonly batchSize?: number;
  /** @default 6 MB (LAMBDA_PAYLOAD_LIMIT_BYTES) */
  readonly maxPayloadBytes?: number;
  /**
   * With `by: 'partition'`, the most event bytes waiting for their partition's event to fill:
   * past it, the partition with the most is cut early, so that a topic of many partitions never
   * holds the whole file. @default 96 MB
   */
  readonly maxPendingBytes?: number;
  /** @default { type: 'msk' } */
  readonly source?: EventSource;
}

/** A cut event: its records by partition, in order, and the partition they are of (-1: it may mix partitions). */
export interface Cut<T> {
  readonly partition: number;
  readonly lists: readonly (readonly [partition: number, records: T[]])[];
  readonly records: number;
}

interface Pending<T> {
  readonly records: T[];
  /** The records by partition (with `by: 'file'`). */
  readonly lists: Map<number, T[]>;
  /** The bytes the records add to an empty event. */
  bytes: number;
}

/**
 * Cuts records, in the order of the file, into events at `batchSize` records and 6 MB of event
 * JSON, each partition's records in offset order: one partition an event, or mixing them in the
 * order of the file (see {@link CutOptions.by}). An event is emitted once full (or once the next
 * record that would join it does not fit), so events come in about the order of the file. A
 * record too big for any event comes alone in an event of its own (the engine makes it a dead
 * letter). Deterministic: the same records give the same events, so a restarted run meets the
 * same batches. `T` is what a record is to the caller: the cutter sees only its partition and the
 * bytes of its JSON.
 */
export class EventCutter<T> {
  private readonly byFile: boolean;
  private readonly emptyBytes: number;
  private readonly batchSize: number;
  private readonly maxPayload: number;
  private readonly maxPending: number;
  /** Each partition's `"<topic>-<partition>":[]` in bytes, the cost of its records' list. */
  private readonly listBytes: number[];
  /** Per partition, or one (by file). */
  private readonly pending: Pending<T>[];
  private pendingBytes = 0;

  constructor(options: CutOptions) {
    this.byFile = options.by === 'file';
    this.emptyBytes = jsonBytes({ ...envelope(options.source ?? { type: 'msk' }), records: {} });
    this.batchSize = options.batchSize ?? Number.POSITIVE_INFINITY;
    this.maxPayload = options.maxPayloadBytes ?? LAMBDA_PAYLOAD_LIMIT_BYTES;
    this.maxPending = options.maxPendingBytes ?? 96 * 1024 * 1024;
    this.listBytes = Array.from(
      { length: options.partitions },
      (_, p) => jsonBytes(`${options.topic}-${p}`) + 3,
    );
    this.pending = Array.from({ length: this.byFile ? 1 : options.partitions }, () => empty<T>());
  }

  /** Adds the next record (`bytes`: its JSON's); events it completes go to `out`, in order. */
  add(record: T, partition: number, bytes: number, out: (cut: Cut<T>) => void): void {
    const lane = this.byFile ? 0 : partition;
    let pending = this.pending[lane]!;
    // A record costs its JSON, and a comma unless it is the event's first; the first of a
    // partition also its list's `"<id>":[]`.
    let added = this.costIn(pending, partition, bytes);
    if (pending.records.length > 0 && this.emptyBytes + pending.bytes + added > this.maxPayload) {
      this.emit(lane, out);
      pending = this.pending[lane]!;
      added = this.costIn(pending, partition, bytes);
    }
    if (pending.records.length === 0 && this.emptyBytes + added > this.maxPayload) {
      // Too big for any event: one of its own.
      out({ partition: this.byFile ? -1 : partition, lists: [[partition, [record]]], records: 1 });
      return;
    }
    pending.records.push(record);
    if (this.byFile) {
      const list = pending.lists.get(partition);
      if (list === undefined) pending.lists.set(partition, [record]);
      else list.push(record);
    }
    pending.bytes += added;
    this.pendingBytes += added;
    if (pending.records.length >= this.batchSize) this.emit(lane, out);
    else if (!this.byFile && this.pendingBytes > this.maxPending) {
      let largest = 0;
      for (let p = 1; p < this.pending.length; p++) {
        if (this.pending[p]!.bytes > this.pending[largest]!.bytes) largest = p;
      }
      this.emit(largest, out);
    }
  }

  /** Cuts what is left, partition by partition. */
  end(out: (cut: Cut<T>) => void): void {
    for (let lane = 0; lane < this.pending.length; lane++) {
      if (this.pending[lane]!.records.length > 0) this.emit(lane, out);
    }
  }

  private costIn(pending: Pending<T>, partition: number, bytes: number): number {
    if (pending.records.length === 0) return bytes + this.listBytes[partition]!;
    if (this.byFile && !pending.lists.has(partition)) return bytes + 1 + this.listBytes[partition]!;
    return bytes + 1;
  }

  private emit(lane: number, out: (cut: Cut<T>) => void): void {
    const { records, lists, bytes } = this.pending[lane]!;
    this.pendingBytes -= bytes;
    this.pending[lane] = empty();
    out(
      this.byFile
        ? { partition: -1, lists: [...lists], records: records.length }
        : { partition: lane, lists: [[lane, records]], records: records.length },
    );
  }
}

function empty<T>(): Pending<T> {
  return { records: [], lists: new Map(), bytes: 0 };
}

/** An event, and the partition whose records it holds (-1: it may mix partitions). */
export interface CutEvent {
  /**
   * The event. Read in a worker thread, its records' objects are built when first asked for:
   * until then the event is a few transferred buffers outside the heap, which the garbage
   * collector need not trace while it waits for its turn.
   */
  event(): KafkaEvent;
  readonly partition: number;
  readonly records: number;
  /** Each partition's id and the offset of its last record in the event. */
  readonly lasts: readonly (readonly [id: string, offset: number])[];
}

/** What a streamed read of the input found, once it is done. */
export interface ReadStats {
  records: number;
  withoutKey: number;
  /** Bytes of the file read so far, to the end of the last line made a record (or skipped). */
  bytesRead: number;
}

/** How much of the file one read takes. */
const CHUNK_BYTES = 4 * 1024 * 1024;

export interface ReadOptions {
  /**
   * Read and cut in a worker thread, which hands over each event's fields in bulk: the main
   * thread then only builds the records' objects, and keeps its time for the job. @default false
   */
  readonly worker?: boolean;
}

/**
 * Streams the events of a JSON lines file, cut as {@link EventCutter} cuts them, reading the file
 * a few MB at a time. `stats` counts as it goes; after the consumer stops early,
 * {@link countRecords} counts the records left from `stats.bytesRead`.
 */
export function readRunEvents(
  path: string,
  topic: JsonLinesTopicOptions,
  cut: Omit<CutOptions, 'topic' | 'partitions'>,
  stats: ReadStats,
  options: ReadOptions = {},
): AsyncGenerator<CutEvent> {
  const cutOptions = { ...cut, topic: topic.topic, partitions: topic.partitions };
  return options.worker === true
    ? readInWorker(path, topic, cutOptions, stats)
    : readHere(path, topic, cutOptions, stats);
}

async function* readHere(
  path: string,
  topic: JsonLinesTopicOptions,
  cut: CutOptions,
  stats: ReadStats,
): AsyncGenerator<CutEvent> {
  const maker = new RecordMaker(topic);
  const cutter = new EventCutter<KafkaEventRecord>(cut);
  const head = envelope(cut.source ?? { type: 'msk' });
  const ready: CutEvent[] = [];
  const collect = (c: Cut<KafkaEventRecord>) => ready.push(cutEvent(head, topic.topic, c));
  for await (const { buffer, start, end, last, consumed } of chunksOfLines(path)) {
    forEachLine(buffer, start, end, last, (lineStart, lineEnd) => {
      if (maker.make(buffer, lineStart, lineEnd)) {
        cutter.add(maker.record(), maker.partition, maker.bytes, collect);
      }
    });
    if (last) cutter.end(collect);
    stats.records = maker.records;
    stats.withoutKey = maker.withoutKey;
    stats.bytesRead = consumed;
    while (ready.length > 0) yield ready.shift()!;
  }
}

function cutEvent(head: Omit<KafkaEvent, 'records'>, topic: string, cut: Cut<KafkaEventRecord>): CutEvent {
  const records: Record<string, KafkaEventRecord[]> = {};
  for (const [partition, list] of cut.lists) records[`${topic}-${partition}`] = list;
  const event = { ...head, records };
  return {
    event: () => event,
    partition: cut.partition,
    records: cut.records,
    lasts: Object.entries(records).map(([id, list]) => [id, list[list.length - 1]!.offset] as const),
  };
}

/**
 * A cut event's fields in bulk, as the worker posts them: the values' bytes (the lines, as read)
 * one after the other, the keys' UTF-8 bytes likewise, and per record the lengths,
 * partition, offset and timestamp. Every buffer is transferred, not copied.
 */
interface PackedEvent {
  readonly type: 'event';
  readonly partition: number;
  readonly records: number;
  readonly values: ArrayBuffer;
  readonly keys: ArrayBuffer;
  /** Per record: value length, key length (-1: no key), partition. */
  readonly ints: Int32Array<ArrayBuffer>;
  /** Per record: offset, timestamp. */
  readonly numbers: Float64Array<ArrayBuffer>;
  readonly stats: ReadStats;
}

/** What the worker posts: an event, the end, or its failure. */
type WorkerMessage =
  | PackedEvent
  | { readonly type: 'end'; readonly stats: ReadStats }
  | { readonly type: 'error'; readonly error: unknown };

/** Events the worker reads ahead, beyond those taken. */
const WORKER_READ_AHEAD = 3;

/** What the reader thread is told to read, its first message. */
interface ReadOrder {
  readonly path: string;
  readonly topic: JsonLinesTopicOptions;
  readonly cut: CutOptions;
  readonly readAhead: number;
}

/**
 * From this size on, on a machine of more than one core, `floe run` reads and cuts its input in a
 * worker thread (about 0.1 s to start), which leaves the main thread to the job: reading a line
 * costs about what the engine's work on it costs.
 */
export const READ_WORKER_BYTES = 8 * 1024 * 1024;

/** Whether an input of `bytes` is read in a worker thread (see {@link READ_WORKER_BYTES}). */
export function readsInWorker(bytes: number): boolean {
  return bytes >= READ_WORKER_BYTES && availableParallelism() > 1;
}

/** A reader thread started before the run knew what to read, not taken yet. */
let spareReader: ReaderThread | undefined;

/**
 * Starts the reader thread now, while the job is still loading: a thread needs about 0.1 s to
 * load its modules (more from a checkout, where tsx compiles them), and the first event waited
 * for that. The next read in a worker takes it. An unused one does not keep the process alive.
 */
export function startReaderEarly(): void {
  if (spareReader !== undefined) return;
  spareReader = new ReaderThread();
  spareReader.worker.unref();
}

/** Whether a reader thread started early waits for a read to take it. */
export function readerWaiting(): boolean {
  return spareReader !== undefined;
}

/** A reader thread and what it said, queued from its start (a failure while it waits is kept). */
class ReaderThread {
  readonly worker: Worker;
  private readonly queue: WorkerMessage[] = [];
  private wake: (() => void) | undefined;

  constructor() {
    const self = import.meta.url;
    // Floe's TypeScript sources (a checkout) need tsx in the worker too: hooks do not pass to workers.
    const tsx = self.endsWith('.ts') ? import.meta.resolve('tsx/esm/api') : undefined;
    const script = `${tsx === undefined ? '' : `(await import(${JSON.stringify(tsx)})).register();\n`}await (await import(${JSON.stringify(self)})).runReadWorker();`;
    this.worker = new Worker(script, { eval: true });
    this.worker.on('message', this.arrive);
    this.worker.on('error', (error) => this.arrive({ type: 'error', error }));
    this.worker.on('exit', (code) =>
      this.arrive({ type: 'error', error: new Error(`The input reader stopped (exit code ${code}).`) }),
    );
  }

  /** The next message, in order. */
  async next(): Promise<WorkerMessage> {
    while (this.queue.length === 0) await new Promise<void>((resolve) => (this.wake = resolve));
    return this.queue.shift()!;
  }

  async stop(): Promise<void> {
    this.worker.removeAllListeners();
    await this.worker.terminate();
  }

  private readonly arrive = (message: WorkerMessage) => {
    this.queue.push(message);
    this.wake?.();
    this.wake = undefined;
  };
}

async function* readInWorker(
  path: string,
  topic: JsonLinesTopicOptions,
  cut: CutOptions,
  stats: ReadStats,
): AsyncGenerator<CutEvent> {
  const reader = spareReader ?? new ReaderThread();
  spareReader = undefined;
  reader.worker.ref();
  reader.worker.postMessage({ path, topic, cut, readAhead: WORKER_READ_AHEAD } satisfies ReadOrder);
  const head = envelope(cut.source ?? { type: 'msk' });
  try {
    for (;;) {
      const message = await reader.next();
      if (message.type === 'error') throw message.error;
      Object.assign(stats, message.stats);
      if (message.type === 'end') return;
      // Ask for the next one before the consumer takes this one, so that it is read meanwhile.
      reader.worker.postMessage(1);
      yield lazyEvent(head, topic.topic, message);
    }
  } finally {
    await reader.stop();
  }
}

/** The event the worker packed, its records built when first asked for. */
function lazyEvent(head: Omit<KafkaEvent, 'records'>, topic: string, packed: PackedEvent): CutEvent {
  const lasts: [string, number][] = [];
  for (let i = 0; i < packed.records; i++) {
    const id = `${topic}-${packed.ints[3 * i + 2]!}`;
    const last = lasts.find(([known]) => known === id);
    if (last === undefined) lasts.push([id, packed.numbers[2 * i]!]);
    else last[1] = packed.numbers[2 * i]!;
  }
  let event: KafkaEvent | undefined;
  return {
    event: () => (event ??= eventOf(head, topic, packed)),
    partition: packed.partition,
    records: packed.records,
    lasts,
  };
}

/**
 * The event the worker packed: the records' objects, their values' text sliced from the bulk
 * (decoded once when it is all ASCII, else per record), their base64 computed only if asked for.
 */
function eventOf(head: Omit<KafkaEvent, 'records'>, topic: string, packed: PackedEvent): KafkaEvent {
  const bytes = Buffer.from(packed.values);
  const ascii = isAscii(bytes) ? bytes.toString('latin1') : undefined;
  const keys = Buffer.from(packed.keys);
  const { ints, numbers } = packed;
  const records: Record<string, KafkaEventRecord[]> = {};
  let valueAt = 0;
  let keyAt = 0;
  let lastPartition = -1;
  let list: KafkaEventRecord[] = [];
  for (let i = 0; i < packed.records; i++) {
    const valueLength = ints[3 * i]!;
    const keyLength = ints[3 * i + 1]!;
    const partition = ints[3 * i + 2]!;
    const start = valueAt;
    const end = valueAt + valueLength;
    valueAt = end;
    // Bytes that are not UTF-8 have no text that decodes back to them: such a record is decoded
    // from its base64, as Lambda's are, and the format decides (JSON: a dead letter).
    const text =
      ascii !== undefined
        ? ascii.slice(start, end)
        : isUtf8(bytes.subarray(start, end))
          ? bytes.toString('utf8', start, end)
          : undefined;
    const keyStart = keyLength < 0 ? -1 : keyAt;
    if (keyLength >= 0) keyAt += keyLength;
    if (partition !== lastPartition) {
      const id = `${topic}-${partition}`;
      list = records[id] ??= [];
      lastPartition = partition;
    }
    list.push(
      new LineRecord(
        topic,
        partition,
        numbers[2 * i]!,
        numbers[2 * i + 1]!,
        keys,
        keyStart,
        keyAt,
        bytes,
        start,
        end,
        text,
      ),
    );
  }
  return { ...head, records };
}

/**
 * A record of a line read in the worker: its value's text for the formats that read text
 * (VALUE_TEXT), and its base64 `value` and `key`, as Lambda delivers them, made from the bytes
 * when asked for (a dead letter, a format that reads bytes, a job that reads keys). `toJSON` gives the record Lambda would
 * deliver, so that it serializes like one.
 */
class LineRecord implements TextValueRecord {
  readonly timestampType = 'CREATE_TIME';
  readonly headers: readonly KafkaEventHeader[] = NO_HEADERS;
  readonly [VALUE_TEXT]: string | undefined;
  // Private fields (#): not enumerable, so code that walks a record's own fields sees only
  // Lambda's (a partition log segment keeps the fields it does not know).
  readonly #keys: Buffer;
  readonly #keyStart: number;
  readonly #keyEnd: number;
  readonly #bytes: Buffer;
  readonly #start: number;
  readonly #end: number;

  /** The key's UTF-8 bytes are keys[keyStart, keyEnd), keyStart -1 for none; the value's bytes[start, end). */
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly offset: number,
    readonly timestamp: number,
    keys: Buffer,
    keyStart: number,
    keyEnd: number,
    bytes: Buffer,
    start: number,
    end: number,
    text: string | undefined,
  ) {
    this.#keys = keys;
    this.#keyStart = keyStart;
    this.#keyEnd = keyEnd;
    this.#bytes = bytes;
    this.#start = start;
    this.#end = end;
    this[VALUE_TEXT] = text;
  }

  get value(): string {
    return this.#bytes.toString('base64', this.#start, this.#end);
  }

  get key(): string | undefined {
    return this.#keyStart < 0 ? undefined : this.#keys.toString('base64', this.#keyStart, this.#keyEnd);
  }

  toJSON(): KafkaEventRecord {
    return eventRecordOf(this.topic, this.partition, this.offset, this.timestamp, this.value, this.key);
  }
}

const NO_HEADERS: readonly KafkaEventHeader[] = Object.freeze([]);

/** The records of one lane of the cutter (a partition, or the whole file), as columns. */
class Columns {
  // Empty until used, then doubled as needed: a topic may have thousands of partitions.
  private values: Buffer = Buffer.alloc(0);
  private valuesAt = 0;
  private keys: Buffer = Buffer.alloc(0);
  private keysAt = 0;
  private ints = new Int32Array(0);
  private numbers = new Float64Array(0);
  private count = 0;

  /** The record `maker` made last. */
  push(maker: RecordMaker, line: Buffer): void {
    if (this.count * 3 === this.ints.length) {
      this.ints = grown(this.ints, Math.max(3 * 64, this.ints.length * 2));
      this.numbers = grown(this.numbers, Math.max(2 * 64, this.numbers.length * 2));
    }
    const { valueStart, valueEnd, keyBytes, keyStart, keyEnd } = maker;
    this.values = room(this.values, this.valuesAt, valueEnd - valueStart);
    this.valuesAt += line.copy(this.values, this.valuesAt, valueStart, valueEnd);
    this.ints[3 * this.count] = valueEnd - valueStart;
    if (keyBytes === undefined) this.ints[3 * this.count + 1] = -1;
    else {
      // Keys are a few bytes: a loop beats Buffer.copy's per-call cost.
      const keys = room(this.keys, this.keysAt, keyEnd - keyStart);
      let at = this.keysAt;
      for (let k = keyStart; k < keyEnd; k++) keys[at++] = keyBytes[k]!;
      this.keys = keys;
      this.keysAt = at;
      this.ints[3 * this.count + 1] = keyEnd - keyStart;
    }
    const partition = maker.partition;
    const offset = maker.offset;
    const timestamp = maker.timestamp;
    this.ints[3 * this.count + 2] = partition;
    this.numbers[2 * this.count] = offset;
    this.numbers[2 * this.count + 1] = timestamp;
    this.count++;
  }

  /** The first `n` records, packed in buffers of their own; the rest stay. */
  take(n: number, partition: number, stats: ReadStats): PackedEvent {
    let valueBytes = 0;
    let keyBytes = 0;
    for (let i = 0; i < n; i++) {
      valueBytes += this.ints[3 * i]!;
      keyBytes += Math.max(0, this.ints[3 * i + 1]!);
    }
    const packed: PackedEvent = {
      type: 'event',
      partition,
      records: n,
      values: copyOf(this.values, 0, valueBytes),
      keys: copyOf(this.keys, 0, keyBytes),
      ints: this.ints.slice(0, 3 * n),
      numbers: this.numbers.slice(0, 2 * n),
      stats: { ...stats },
    };
    // The rest (usually the one record that did not fit) moves to buffers of its size: a lane
    // keeps no 6 MB buffer between its events, however many lanes there are.
    this.values = Buffer.from(this.values.subarray(valueBytes, this.valuesAt));
    this.valuesAt -= valueBytes;
    this.keys = Buffer.from(this.keys.subarray(keyBytes, this.keysAt));
    this.keysAt -= keyBytes;
    this.ints = this.ints.slice(3 * n, 3 * this.count);
    this.numbers = this.numbers.slice(2 * n, 2 * this.count);
    this.count -= n;
    return packed;
  }
}

function grown<A extends Int32Array<ArrayBuffer> | Float64Array<ArrayBuffer>>(array: A, length: number): A {
  const bigger = new (array.constructor as new (n: number) => A)(length);
  bigger.set(array);
  return bigger;
}

function room(buffer: Buffer, at: number, more: number): Buffer {
  if (at + more <= buffer.length) return buffer;
  const bigger = Buffer.allocUnsafe(Math.max(buffer.length * 2, at + more, 16 * 1024));
  buffer.copy(bigger, 0, 0, at);
  return bigger;
}

function copyOf(buffer: Buffer, start: number, end: number): ArrayBuffer {
  const copy = new ArrayBuffer(end - start);
  buffer.copy(new Uint8Array(copy), 0, start, end);
  return copy;
}

/** The worker's side of {@link readInWorker}: reads, cuts and posts events, a few ahead of their use. */
export async function runReadWorker(): Promise<void> {
  const { parentPort } = await import('node:worker_threads');
  const port = parentPort!;
  // The first message says what to read, each later one grants more events.
  const { path, topic, cut, readAhead } = await new Promise<ReadOrder>((resolve) =>
    port.once('message', (order: ReadOrder) => resolve(order)),
  );
  let credit = readAhead;
  let more: (() => void) | undefined;
  port.on('message', (n: number) => {
    credit += n;
    more?.();
    more = undefined;
  });
  try {
    const maker = new RecordMaker(topic);
    const cutter = new EventCutter<null>(cut);
    const byFile = cut.by === 'file';
    // The cutter's lanes, record for record: a record joins its lane's columns before the cutter
    // sees it, and a cut event is the first records of its lane.
    const lanes = Array.from({ length: byFile ? 1 : topic.partitions }, () => new Columns());
    const stats: ReadStats = { records: 0, withoutKey: 0, bytesRead: 0 };
    const ready: PackedEvent[] = [];
    const collect = (c: Cut<null>) => {
      const lane = byFile ? 0 : c.partition;
      ready.push(lanes[lane]!.take(c.records, c.partition, stats));
    };
    for await (const { buffer, start, end, last, consumed } of chunksOfLines(path)) {
      // The stats as of this chunk's end go with its events.
      stats.bytesRead = consumed;
      forEachLine(buffer, start, end, last, (lineStart, lineEnd) => {
        if (maker.make(buffer, lineStart, lineEnd)) {
          const partition = maker.partition;
          lanes[byFile ? 0 : partition]!.push(maker, buffer);
          cutter.add(null, partition, maker.bytes, collect);
        }
      });
      if (last) cutter.end(collect);
      stats.records = maker.records;
      stats.withoutKey = maker.withoutKey;
      for (const packed of ready) {
        packed.stats.records = maker.records;
        packed.stats.withoutKey = maker.withoutKey;
        while (credit <= 0) await new Promise<void>((resolve) => (more = resolve));
        credit--;
        port.postMessage(packed, [packed.values, packed.keys, packed.ints.buffer, packed.numbers.buffer]);
      }
      ready.length = 0;
    }
    port.postMessage({ type: 'end', stats } satisfies WorkerMessage);
  } catch (error) {
    port.postMessage({ type: 'error', error } satisfies WorkerMessage);
  }
  port.removeAllListeners();
}

/** Counts the non-blank lines of a file, from byte `from` (where a streamed read stopped). */
export async function countRecords(path: string, from = 0): Promise<number> {
  let records = 0;
  for await (const { buffer, start, end, last } of chunksOfLines(path, from)) {
    forEachLine(buffer, start, end, last, (lineStart, lineEnd) => {
      if (!isBlank(buffer, lineStart, lineEnd)) records++;
    });
  }
  return records;
}

/**
 * The file in chunks of whole lines: `buffer[start, end)`, whether it is the last (whose last line
 * may lack its newline), and the file position after the chunk's last line. The buffer is reused:
 * use each chunk before asking for the next.
 */
async function* chunksOfLines(
  path: string,
  from = 0,
): AsyncGenerator<{ buffer: Buffer; start: number; end: number; last: boolean; consumed: number }> {
  const handle = await open(path, 'r');
  try {
    let buffer = Buffer.allocUnsafe(CHUNK_BYTES);
    let filled = 0;
    let position = from;
    // Bytes to skip at the front: a byte order mark at the start of the file, once known.
    let skip = from === 0 ? undefined : 0;
    for (;;) {
      if (filled === buffer.length) {
        // A line longer than the buffer: grow it.
        const bigger = Buffer.allocUnsafe(buffer.length * 2);
        buffer.copy(bigger, 0, 0, filled);
        buffer = bigger;
      }
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, position);
      position += bytesRead;
      filled += bytesRead;
      const last = bytesRead === 0;
      if (skip === undefined) {
        if (filled < 3 && !last) continue;
        skip = filled >= 3 && hasByteOrderMark(buffer) ? 3 : 0;
      }
      if (last) {
        yield { buffer, start: skip, end: filled, last, consumed: position };
        return;
      }
      const end = buffer.lastIndexOf(NEWLINE, filled - 1) + 1;
      if (end > skip) {
        yield { buffer, start: skip, end, last, consumed: position - (filled - end) };
        buffer.copy(buffer, 0, end, filled);
        filled -= end;
        skip = 0;
      }
    }
  } finally {
    await handle.close();
  }
}

/** Calls `line(start, end)` for each line of `bytes[from, to)`, without its `\n` or `\r\n`. */
function forEachLine(
  bytes: Buffer,
  from: number,
  to: number,
  last: boolean,
  line: (start: number, end: number) => void,
): void {
  let start = from;
  while (start < to) {
    const newline = bytes.indexOf(NEWLINE, start);
    if (newline === -1 || newline >= to) {
      if (last) line(start, to > start && bytes[to - 1] === CARRIAGE_RETURN ? to - 1 : to);
      return;
    }
    line(start, newline > start && bytes[newline - 1] === CARRIAGE_RETURN ? newline - 1 : newline);
    start = newline + 1;
  }
}

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

function hasByteOrderMark(bytes: Uint8Array): boolean {
  return bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
}

/** Only spaces, tabs and carriage returns (JSON's whitespace besides the newline). */
function isBlank(bytes: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const byte = bytes[i]!;
    if (byte !== 0x20 && byte !== 0x09 && byte !== CARRIAGE_RETURN) return false;
  }
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

/** A field value as key text: strings as they are, numbers and booleans as String() writes them. */
function keyText(field: FieldValue): string | undefined {
  if (field.kind !== 'parsed') return field.text;
  const value = field.value;
  if (value === undefined || value === null) return undefined;
  // String() would make every object the same key, "[object Object]"; JSON keeps them apart.
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

function timestampOf(field: FieldValue): number | undefined {
  const value =
    field.kind === 'parsed' ? field.value : field.kind === 'integer' ? Number(field.text) : field.text;
  if (typeof value === 'number') return Number.isFinite(value) ? Math.floor(value) : undefined;
  if (typeof value === 'string') {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? undefined : ms;
  }
  return undefined;
}

function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}
