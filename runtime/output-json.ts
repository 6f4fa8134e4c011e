/**
 * JSON text for output meant for people and log tools: bigint as a decimal string and ±Infinity
 * (watermarks before the first record and after the end) as a string, so printing never throws.
 * Engine state uses its own lossless codec (engine/state-codec.ts).
 */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
    return v;
  });
}
