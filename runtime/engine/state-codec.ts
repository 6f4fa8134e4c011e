import type { Key } from '../job/plan.ts';
import type { EngineState, PartitionState, SessionPartial } from './state.ts';

/**
 * Serialises engine state to JSON text and back. Maps become entry arrays; bigint and
 * non-finite numbers (watermarks start at -Infinity) are tagged, because JSON has neither.
 *
 * A partition encodes on its own too ({@link encodePartition}), because the commit protocol
 * stores each partition's state as its own object and rewrites only the partitions that changed.
 * Its text is assembled from one text per entry ({@link PartitionTexts}), the same texts a state
 * delta compares (runtime/checkpoint/state-delta.ts), so a commit that has diffed a partition
 * writes its base without stringifying the state a second time.
 */
export function encodeState(state: EngineState): string {
  const partitions = [...state.partitions.values()].map(toEncoded);
  // Straight to the replacer: a whole state always holds a null or an infinite watermark, so the
  // plain pass of stringifyTagged would only be thrown away.
  return JSON.stringify({ version: 1, jobWatermark: state.jobWatermark, partitions }, tagReplacer);
}

export function decodeState(text: string): EngineState {
  const decoded = parseTagged(text) as {
    version: number;
    jobWatermark: number;
    partitions: EncodedPartition[];
  };
  if (decoded.version !== 1)
    throw new Error(`Unsupported engine state version ${decoded.version}; expected 1.`);
  const partitions = new Map<string, PartitionState>();
  for (const e of decoded.partitions) {
    const p = fromEncoded(e);
    partitions.set(p.id, p);
  }
  return { partitions, jobWatermark: decoded.jobWatermark };
}

/** A partition's state as one text per entry: what its encoding is assembled from. */
export interface PartitionTexts {
  /** offset, maxTimestamp, watermark, lastActiveAt and idle, as one JSON object ({@link scalarsText}). */
  readonly scalars: string;
  /** Window end → key → the accumulator's text. */
  readonly windows: ReadonlyMap<number, ReadonlyMap<Key, string>>;
  /** Key → the sessions' text ({@link sessionsText}). */
  readonly sessions: ReadonlyMap<Key, string>;
  /** Id → the expiry's text. */
  readonly seenIds: ReadonlyMap<Key, string>;
}

/** One partition's state as JSON text. */
export function encodePartition(p: PartitionState): string {
  const windows = new Map<number, Map<Key, string>>();
  for (const [end, byKey] of p.windows) windows.set(end, textsOf(byKey, stringifyTagged));
  return assemblePartition(p, {
    scalars: scalarsText(p),
    windows,
    sessions: textsOf(p.sessions, sessionsText),
    seenIds: textsOf(p.seenIds, stringifyTagged),
  });
}

/**
 * The text {@link encodePartition} gives for a partition whose entries have these texts; the
 * partition's topic and number come from `p`.
 */
export function assemblePartition(
  p: Pick<PartitionState, 'topic' | 'partition'>,
  texts: PartitionTexts,
): string {
  const windows: string[] = [];
  for (const [end, byKey] of texts.windows) windows.push(`[${stringifyTagged(end)},[${entriesText(byKey)}]]`);
  return (
    `{"version":1,"partition":{"topic":${JSON.stringify(p.topic)},"partition":${stringifyTagged(p.partition)},` +
    `${texts.scalars.slice(1, -1)},"windows":[${windows.join(',')}],"sessions":[${entriesText(texts.sessions)}],` +
    `"seenIds":[${entriesText(texts.seenIds)}]}}`
  );
}

/** The scalar fields of a partition, in the encoding's order, as one JSON object. */
export function scalarsText(p: PartitionState): string {
  return (
    `{"offset":${stringifyTagged(p.offset)},"maxTimestamp":${stringifyTagged(p.maxTimestamp)},` +
    `"watermark":${stringifyTagged(p.watermark)},"lastActiveAt":${stringifyTagged(p.lastActiveAt)},` +
    `"idle":${stringifyTagged(p.idle)}}`
  );
}

/** A key's sessions as `[[start, end, acc], …]`. */
export function sessionsText(list: readonly SessionPartial[]): string {
  // One JSON.stringify for the whole list when it holds plain JSON (see stringifyTagged): V8's
  // serialiser beats joining a text per session by about a third.
  const rows = new Array<[number, number, unknown]>(list.length);
  for (let i = 0; i < list.length; i++) {
    const s = list[i]!;
    rows[i] = [s.start, s.end, s.acc];
  }
  const plain = plainJson(rows);
  if (plain !== undefined) return plain;
  let text = '[';
  for (let i = 0; i < list.length; i++) {
    const s = list[i]!;
    if (i > 0) text += ',';
    text += `[${stringifyTagged(s.start)},${stringifyTagged(s.end)},${stringifyTagged(s.acc)}]`;
  }
  return `${text}]`;
}

/** One session as `[start, end, acc]`: an element of {@link sessionsText}'s list. */
export function sessionText(s: SessionPartial): string {
  return (
    plainJson([s.start, s.end, s.acc]) ??
    `[${stringifyTagged(s.start)},${stringifyTagged(s.end)},${stringifyTagged(s.acc)}]`
  );
}

export function decodePartition(text: string): PartitionState {
  const decoded = parseTagged(text) as { version: number; partition: EncodedPartition };
  if (decoded.version !== 1)
    throw new Error(`Unsupported partition state version ${decoded.version}; expected 1.`);
  return fromEncoded(decoded.partition);
}

function textsOf<V>(map: ReadonlyMap<Key, V>, text: (value: V) => string): Map<Key, string> {
  const texts = new Map<Key, string>();
  for (const [key, value] of map) texts.set(key, text(value));
  return texts;
}

function entriesText(texts: ReadonlyMap<Key, string>): string {
  const entries: string[] = [];
  for (const [key, text] of texts) entries.push(`[${stringifyTagged(key)},${text}]`);
  return entries.join(',');
}

interface EncodedPartition {
  topic: string;
  partition: number;
  offset: number;
  maxTimestamp: number;
  watermark: number;
  lastActiveAt: number | null;
  idle: boolean;
  windows: [number, [Key, unknown][]][];
  sessions: [Key, [number, number, unknown][]][];
  seenIds: [Key, number][];
}

function toEncoded(p: PartitionState): EncodedPartition {
  return {
    topic: p.topic,
    partition: p.partition,
    offset: p.offset,
    maxTimestamp: p.maxTimestamp,
    watermark: p.watermark,
    lastActiveAt: p.lastActiveAt,
    idle: p.idle,
    windows: [...p.windows].map(([end, byKey]) => [end, [...byKey]]),
    sessions: [...p.sessions].map(([key, list]) => [key, list.map((s) => [s.start, s.end, s.acc])]),
    seenIds: [...p.seenIds],
  };
}

function fromEncoded(e: EncodedPartition): PartitionState {
  return {
    id: `${e.topic}-${e.partition}`,
    topic: e.topic,
    partition: e.partition,
    offset: e.offset,
    maxTimestamp: e.maxTimestamp,
    watermark: e.watermark,
    lastActiveAt: e.lastActiveAt,
    idle: e.idle,
    windows: new Map(e.windows.map(([end, entries]) => [end, new Map(entries)])),
    sessions: new Map(
      e.sessions.map(([key, list]) => [
        key,
        list.map(([start, end, acc]): SessionPartial => ({ start, end, acc })),
      ]),
    ),
    seenIds: new Map(e.seenIds),
  };
}

/**
 * A state value as tagged JSON text: the text `JSON.stringify` gives with {@link tagReplacer}
 * (`undefined` as `null`, as it is inside an entry array).
 *
 * Most values take a fast path: `JSON.stringify` without a replacer (about 2.5 times faster on
 * session lists of plain accumulators, in a micro-benchmark) gives exactly that text unless the
 * value holds a bigint (it throws) or a non-finite number (it writes `null`), so its text stands
 * whenever it contains no `null`. Others (nulls, tags) take the
 * replacer; an accumulator holding bigints pays for one caught exception per call on top.
 */
export function stringifyTagged(value: unknown): string {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? String(value) : `{"$number":"${String(value)}"}`;
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return `{"$bigint":"${value.toString()}"}`;
    case 'object': {
      if (value === null) return 'null';
      const plain = plainJson(value);
      if (plain !== undefined) return plain;
      break;
    }
  }
  return JSON.stringify(value, tagReplacer) ?? 'null';
}

/**
 * `JSON.stringify(value)` when that is the tagged text: it did not throw (a bigint inside) and
 * holds no `null` (a non-finite number inside, or a real null: either way the caller tags).
 */
function plainJson(value: object): string | undefined {
  let plain: string | undefined;
  try {
    plain = JSON.stringify(value);
  } catch {
    return undefined; // a bigint inside: the replacer handles it, or throws the real error
  }
  return plain !== undefined && !plain.includes('null') ? plain : undefined;
}

/** Tags what JSON cannot hold: bigint as `{"$bigint": "…"}`, non-finite numbers as `{"$number": "…"}`. */
function tagReplacer(_key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return { $bigint: v.toString() };
  if (typeof v === 'number' && !Number.isFinite(v)) return { $number: String(v) };
  return v;
}

/** Parses tagged JSON text ({@link stringifyTagged}), restoring bigints and non-finite numbers. */
export function parseTagged(text: string): unknown {
  return JSON.parse(text, (_key, value: unknown) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const tagged = value as { $bigint?: string; $number?: string };
      if (typeof tagged.$bigint === 'string' && Object.keys(value).length === 1)
        return BigInt(tagged.$bigint);
      if (typeof tagged.$number === 'string' && Object.keys(value).length === 1)
        return Number(tagged.$number);
    }
    return value;
  });
}
