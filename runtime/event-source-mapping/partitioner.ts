/**
 * Kafka's default partitioner, so that local runs, tests and benchmarks put each record on the
 * partition a Java producer would have chosen for it.
 *
 * A keyed record goes to `toPositive(murmur2(keyBytes)) % numPartitions`, exactly as the Java
 * client's BuiltInPartitioner.partitionForKey does (librdkafka's `murmur2_random` and KafkaJS's
 * default partitioner agree). A record without a key (null or undefined, not the empty string,
 * which is a key of zero bytes) is spread round-robin. The Java client has used "sticky"
 * batches for keyless records since Kafka 2.4 (KIP-480, KIP-794), which only changes where
 * keyless records land, never the per-key placement that event-time results depend on.
 */
import { FloeConfigError } from '../errors.ts';

/** The seed of Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2). */
export const MURMUR2_SEED = 0x9747b28c;

// Mixing constants of MurmurHash2.
const M = 0x5bd1e995;
const R = 24;

const utf8 = new TextEncoder();

/** A record key as a producer hands it over: UTF-8 text or raw bytes. Absent means "no key". */
export type RecordKey = string | Uint8Array | null | undefined;

/**
 * The 32-bit MurmurHash2 of `data` as Kafka's Java `Utils.murmur2` computes it: a signed int32
 * (the same bits as the Java int). Text is hashed as its UTF-8 bytes, as Kafka's StringSerializer
 * writes it.
 */
export function murmur2(data: string | Uint8Array): number {
  const bytes = typeof data === 'string' ? utf8.encode(data) : data;
  return murmur2Of(bytes, 0, bytes.length);
}

/** {@link murmur2} of `bytes[start, end)`, without a view of them (a reader hashing keys where they lie). */
export function murmur2Of(bytes: Uint8Array, start: number, end: number): number {
  const length = end - start;
  let h = MURMUR2_SEED ^ length;
  const length4 = start + (length & ~3);
  for (let i = start; i < length4; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> R;
    k = Math.imul(k, M);
    h = Math.imul(h, M);
    h ^= k;
  }
  // The tail, falling through like the Java switch.
  switch (length & 3) {
    // biome-ignore lint/suspicious/noFallthroughSwitchClause: Kafka's murmur2 falls through.
    case 3:
      h ^= bytes[length4 + 2]! << 16;
    // biome-ignore lint/suspicious/noFallthroughSwitchClause: Kafka's murmur2 falls through.
    case 2:
      h ^= bytes[length4 + 1]! << 8;
    case 1:
      h ^= bytes[length4]!;
      h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/**
 * Kafka's `Utils.toPositive`: clears the sign bit. Not Math.abs, which would map a different
 * set of hashes onto each partition.
 */
export function toPositive(hash: number): number {
  return hash & 0x7fffffff;
}

/** The partition Kafka's default partitioner gives a keyed record. */
export function partitionForKey(key: string | Uint8Array, numPartitions: number): number {
  return toPositive(murmur2(key)) % requirePartitionCount(numPartitions);
}

/** Chooses a record's partition from its key. */
export type Partitioner = (key: RecordKey) => number;

/**
 * Kafka's default partitioner for a topic of `numPartitions` partitions: murmur2 of the key,
 * and round-robin (starting at partition 0) for records without a key. Each call of this
 * function starts its own round-robin sequence, so runs are reproducible.
 */
export function defaultPartitioner(numPartitions: number): Partitioner {
  requirePartitionCount(numPartitions);
  let next = 0;
  return (key) => {
    if (key === null || key === undefined) {
      const partition = next;
      next = (next + 1) % numPartitions;
      return partition;
    }
    return toPositive(murmur2(key)) % numPartitions;
  };
}

function requirePartitionCount(numPartitions: number): number {
  if (!Number.isSafeInteger(numPartitions) || numPartitions < 1) {
    throw new FloeConfigError(
      `numPartitions must be a whole number of at least 1, got ${String(numPartitions)}.`,
    );
  }
  return numPartitions;
}
