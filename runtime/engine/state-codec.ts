import type { Key } from '../job/plan.ts';
import type { EngineState, PartitionState, SessionPartial } from './state.ts';

/**
 * Serialises engine state to JSON text and back. Maps become entry arrays; bigint and
 * non-finite numbers (watermarks start at -Infinity) are tagged, because JSON has neither.
 *
 * A partition encodes on its own too ({@link encodePartition}), because the commit protocol
 * stores each partition's state as its own object and rewrites only the partitions that changed.
 */
export function encodeState(state: EngineState): string {
  const partitions = [...state.partitions.values()].map(toEncoded);
  return stringify({ version: 1, jobWatermark: state.jobWatermark, partitions });
}

export function decodeState(text: string): EngineState {
  const decoded = parse(text) as { version: number; jobWatermark: number; partitions: EncodedPartition[] };
  if (decoded.version !== 1)
    throw new Error(`Unsupported engine state version ${decoded.version}; expected 1.`);
  const partitions = new Map<string, PartitionState>();
  for (const e of decoded.partitions) {
    const p = fromEncoded(e);
    partitions.set(p.id, p);
  }
  return { partitions, jobWatermark: decoded.jobWatermark };
}

/** One partition's state as JSON text. */
export function encodePartition(p: PartitionState): string {
  return stringify({ version: 1, partition: toEncoded(p) });
}

export function decodePartition(text: string): PartitionState {
  const decoded = parse(text) as { version: number; partition: EncodedPartition };
  if (decoded.version !== 1)
    throw new Error(`Unsupported partition state version ${decoded.version}; expected 1.`);
  return fromEncoded(decoded.partition);
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

function stringify(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'bigint') return { $bigint: v.toString() };
    if (typeof v === 'number' && !Number.isFinite(v)) return { $number: String(v) };
    return v;
  });
}

function parse(text: string): unknown {
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
