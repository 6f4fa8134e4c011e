import type { PartitionState } from '../../runtime/engine/state.ts';

/**
 * A partition's state text as the codec first defined it: the whole encoded object through
 * `JSON.stringify` with the tagging replacer (bigint as `{"$bigint": "…"}`, non-finite numbers as
 * `{"$number": "…"}`). The codec's fast paths (entry texts assembled, no replacer where JSON holds
 * the value) must give exactly this, so that stored state keeps its format. Written out here, not
 * shared with runtime/engine/state-codec.ts, so that a change there cannot move both sides.
 */
export function referenceEncoding(p: PartitionState): string {
  const encoded = {
    version: 1,
    partition: {
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
    },
  };
  return JSON.stringify(encoded, (_key, v: unknown) => {
    if (typeof v === 'bigint') return { $bigint: v.toString() };
    if (typeof v === 'number' && !Number.isFinite(v)) return { $number: String(v) };
    return v;
  });
}
