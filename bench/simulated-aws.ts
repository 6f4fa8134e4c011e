/**
 * Simulated AWS stores for the scale and cost benchmarks (bench/scale.ts, bench/cost.ts) and their
 * test: in-memory implementations of the StateStore (DynamoDB), ObjectStore (S3) and Catalog
 * contracts behind a latency model, shared by every simulated Lambda container of a run.
 *
 * - **Latency**: each request waits its operation's mean latency ±`jitter` (uniform, from a seeded
 *   mulberry32), as real `setTimeout` waits scaled by `timeScale` (0.1 makes a 20 ms S3 PUT a 2 ms
 *   wait). Model time is wall time ÷ timeScale. No virtual clock: the processor, its retries and
 *   its backoff run as they do in Lambda. Timers fire in whole milliseconds, so every connection
 *   carries the rounding error of its last waits into its next one (a 0.4 ms wait costs 0 or 1 ms,
 *   about 0.4 ms on average) rather than rounding each wait up.
 * - **Atomicity**: a request takes effect at one instant in the middle of its latency (half the
 *   wait before, half after), synchronously on the shared maps: conditional writes and catalog
 *   swaps are linearizable, as DynamoDB's and S3's are.
 * - **DynamoDB's per-key write limit**: each item key has a token bucket of `writeUnitsPerKeyPerSec`
 *   write units (DynamoDB: 1,000 WCU/s per partition, and an item never spans partitions) that
 *   refills in model time; a write that finds too few tokens fails with a retryable
 *   {@link SimulatedThrottlingError} after its latency, as ProvisionedThroughputExceeded does.
 *   Conditional writes that fail consume their write units too, as in DynamoDB.
 * - **Usage**: write units (ceil(item bytes / 1 KB) per write), read units (ceil(bytes / 4 KB) per
 *   strongly consistent read), throttles and bytes stored, for the cost model. Requests and bytes
 *   per operation come from runtime/stores/request-meter.ts around each container's stores.
 *
 * Not modelled: S3's per-prefix request rates (3,500 PUT/s, 5,500 GET/s), DynamoDB's adaptive
 * capacity and on-demand table ramp-up, network bandwidth, request failures other than throttles.
 */
import { checkpointPrefixReach, isStateObjectKey } from '../runtime/checkpoint/layout.ts';
import { mulberry32 } from '../runtime/seeded-random.ts';
import type { Catalog, CatalogTable } from '../runtime/stores/catalog.ts';
import type { CheckpointStores } from '../runtime/stores/checkpoint-stores.ts';
import { CompressingObjectStore } from '../runtime/stores/compressing-object-store.ts';
import {
  assertValidKey,
  type ObjectStore,
  PreconditionFailedError,
  type PutOptions,
  StorageError,
} from '../runtime/stores/object-store.ts';
import { SplitObjectStore } from '../runtime/stores/split-object-store.ts';
import {
  ConditionFailedError,
  type DeleteCondition,
  type JsonValue,
  type PutCondition,
  type StateStore,
  type VersionedItem,
} from '../runtime/stores/state-store.ts';

/** Mean latency of each request type, in model milliseconds. */
export interface LatencyModel {
  readonly dynamoGet: number;
  /** Conditional or unconditional PutItem, and DeleteItem. */
  readonly dynamoPut: number;
  readonly dynamoQuery: number;
  readonly s3Put: number;
  readonly s3Get: number;
  readonly s3List: number;
  /** DeleteObject and DeleteObjects. */
  readonly s3Delete: number;
  readonly catalogGet: number;
  readonly catalogCas: number;
  readonly catalogList: number;
}

export interface SimulatedAwsConfig {
  /** Wall milliseconds per model millisecond: 1 waits the modelled latencies, 0.1 a tenth of them. */
  readonly timeScale: number;
  /** Seeds the latency jitter. */
  readonly seed: number;
  /** Each latency is drawn uniformly from mean × (1 ± jitter). */
  readonly jitter: number;
  readonly latencyMs: LatencyModel;
  readonly dynamo: {
    /** Write units per second one item key sustains (DynamoDB: 1,000 WCU/s per partition). */
    readonly writeUnitsPerKeyPerSec: number;
    /** Read units per second one item key sustains (DynamoDB: 3,000 RCU/s per partition). */
    readonly readUnitsPerKeyPerSec: number;
    /** Seconds of unused capacity a key may save up (a token bucket's depth). */
    readonly burstSeconds: number;
    /** Bytes per write unit (DynamoDB: 1 KB). */
    readonly writeUnitBytes: number;
    /** Bytes per strongly consistent read unit (DynamoDB: 4 KB). */
    readonly readUnitBytes: number;
  };
  /** The bucket named in object URIs. */
  readonly bucket: string;
}

export const DEFAULT_LATENCY_MS: LatencyModel = {
  dynamoGet: 4,
  dynamoPut: 6,
  dynamoQuery: 6,
  s3Put: 20,
  s3Get: 10,
  s3List: 15,
  s3Delete: 15,
  catalogGet: 10,
  catalogCas: 15,
  catalogList: 15,
};

export const DEFAULT_SIMULATED_AWS: SimulatedAwsConfig = {
  timeScale: 1,
  seed: 1,
  jitter: 0.3,
  latencyMs: DEFAULT_LATENCY_MS,
  dynamo: {
    writeUnitsPerKeyPerSec: 1_000,
    readUnitsPerKeyPerSec: 3_000,
    burstSeconds: 1,
    writeUnitBytes: 1024,
    readUnitBytes: 4096,
  },
  bucket: 'floe-sim',
};

/** A request DynamoDB refused for lack of capacity (ProvisionedThroughputExceeded): retry it. */
export class SimulatedThrottlingError extends StorageError {
  constructor(readonly key: string) {
    super(`Simulated DynamoDB throttled item "${key}": its partition's write capacity is used up; retry.`);
    this.name = 'SimulatedThrottlingError';
  }
}

/**
 * What a DynamoDB item of the commit protocol holds (runtime/checkpoint/layout.ts): a group's
 * head, a partition's log head, the consumer lease, the table committer's item, a partition log
 * segment or an engine state object kept as an item, or anything else.
 */
export const ITEM_KINDS = ['head', 'logHead', 'lease', 'committer', 'segment', 'state', 'other'] as const;

export type ItemKind = (typeof ITEM_KINDS)[number];

/** The kind of item a key (or a list prefix) names: what the bill's write and read units buy. */
export function itemKind(key: string): ItemKind {
  const parts = key.split('/');
  // Checkpoint objects kept as items: `<job>/partition-logs/…` and `<job>/<group>/state/…`.
  if (parts[1] === 'partition-logs') return 'segment';
  if (parts[2] === 'state') return 'state';
  if (parts[0] !== 'floe') return 'other';
  // State store items: `floe/<job>/heads/<group>`, `…/logs/<partition>`, `…/leases/…`, `…/committer`.
  switch (parts[2]) {
    case 'heads':
      return 'head';
    case 'logs':
      return 'logHead';
    case 'leases':
      return 'lease';
    case 'committer':
      return 'committer';
    default:
      return 'other';
  }
}

/** DynamoDB units by item kind. */
export type UnitsByKind = Record<ItemKind, { write: number; read: number }>;

/** What the simulated services were asked to do, for the cost model. */
export interface SimulatedUsage {
  dynamoWriteUnits: number;
  dynamoReadUnits: number;
  /** The same units, by what the item holds. */
  readonly dynamoUnitsByKind: UnitsByKind;
  dynamoThrottles: number;
  /** S3 PUT-class requests (PUT, LIST), which S3 bills at the PUT price. */
  s3PutRequests: number;
  /** S3 GET-class requests. */
  s3GetRequests: number;
}

/** One container's view of the services: its stores and how long it waited on them. */
export interface SimulatedConnection {
  readonly stores: CheckpointStores;
  /**
   * Model ms during which at least one request of this connection was in flight: per busy period
   * its wall time ÷ timeScale, clamped between the longest and the sum of its drawn latencies.
   */
  readonly ioModelMs: number;
  /** Wall ms during which at least one request of this connection was in flight. */
  readonly ioWallMs: number;
}

/** Stores name themselves in error messages. */
interface Named {
  toString(): string;
}

interface StoredItem {
  version: number;
  value: JsonValue;
  bytes: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** The shared state of the simulated services, and a factory of connections to them. */
export class SimulatedAws {
  readonly config: SimulatedAwsConfig;
  readonly usage: SimulatedUsage = {
    dynamoWriteUnits: 0,
    dynamoReadUnits: 0,
    dynamoUnitsByKind: Object.fromEntries(
      ITEM_KINDS.map((kind) => [kind, { write: 0, read: 0 }]),
    ) as UnitsByKind,
    dynamoThrottles: 0,
    s3PutRequests: 0,
    s3GetRequests: 0,
  };
  private readonly items = new Map<string, StoredItem>();
  /** Small checkpoint objects kept as items (as aws-stores.ts's TieredObjectStore does), by key. */
  private readonly objectItems = new Map<string, { bytes: Uint8Array | undefined; itemBytes: number }>();
  private readonly objects = {
    checkpoints: new Map<string, Uint8Array>(),
    warehouse: new Map<string, Uint8Array>(),
  };
  private readonly pointers = new Map<string, string>();
  private readonly writeBuckets = new Map<string, Bucket>();
  private readonly readBuckets = new Map<string, Bucket>();
  private readonly random: () => number;
  private readonly origin = performance.now();

  constructor(config: Partial<SimulatedAwsConfig> = {}) {
    this.config = { ...DEFAULT_SIMULATED_AWS, ...config };
    if (!(this.config.timeScale > 0))
      throw new RangeError(`timeScale must be > 0, got ${this.config.timeScale}.`);
    this.random = mulberry32(this.config.seed);
  }

  /** Model milliseconds since the services started. */
  now(): number {
    return (performance.now() - this.origin) / this.config.timeScale;
  }

  /** Waits `modelMs` of model time (a pacing wait of the driver, not a request). */
  sleep(modelMs: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, Math.max(0, modelMs * this.config.timeScale)));
  }

  /** Bytes currently stored in a bucket (checkpoints or warehouse). */
  storedBytes(store: 'checkpoints' | 'warehouse'): number {
    let bytes = 0;
    for (const object of this.objects[store].values()) bytes += object.byteLength;
    return bytes;
  }

  /**
   * The stores without latency, limits or accounting: for reading the final tables and checking
   * them, never for the run being measured.
   */
  direct(): CheckpointStores {
    return this.makeStores(async (_op, apply) => apply());
  }

  /** A new connection: what one Lambda container uses. */
  connect(): SimulatedConnection {
    let inFlight = 0;
    let since = 0;
    let ioWallMs = 0;
    let ioModelMs = 0;
    // The latencies drawn in the current busy period (some request in flight): its model time is
    // its wall time ÷ timeScale, but at least the longest and at most the sum of those latencies,
    // so that time the event loop spent on other containers' CPU work is not counted as waiting.
    let longest = 0;
    let sum = 0;
    let carry = 0;
    const wait = async (modelMs: number): Promise<void> => {
      const target = modelMs * this.config.timeScale + carry;
      const start = performance.now();
      if (target >= 0.5) await new Promise((resolve) => setTimeout(resolve, Math.round(target)));
      else await new Promise((resolve) => setImmediate(resolve));
      // What this wait owes or overpaid goes into the next one; a long stall (a busy event loop)
      // is not paid back, only timer rounding.
      carry = Math.max(-2, Math.min(2, target - (performance.now() - start)));
    };
    const timed = async <T>(op: keyof LatencyModel, apply: () => T): Promise<T> => {
      if (inFlight++ === 0) {
        since = performance.now();
        longest = 0;
        sum = 0;
      }
      try {
        const latency = this.config.latencyMs[op] * (1 + this.config.jitter * (2 * this.random() - 1));
        longest = Math.max(longest, latency);
        sum += latency;
        await wait(latency / 2);
        let result: T;
        try {
          result = apply();
        } finally {
          await wait(latency / 2);
        }
        return result;
      } finally {
        if (--inFlight === 0) {
          const wall = performance.now() - since;
          ioWallMs += wall;
          ioModelMs += Math.min(sum, Math.max(longest, wall / this.config.timeScale));
        }
      }
    };
    return {
      stores: this.makeStores(timed),
      get ioWallMs() {
        return ioWallMs;
      },
      get ioModelMs() {
        return ioModelMs;
      },
    };
  }

  /**
   * The stores as awsCheckpointStores composes them: checkpoints compressed (zstd), state objects
   * and partition log segments as DynamoDB items up to 5 KB (larger ones in S3 with an item naming
   * them), manifests in S3.
   */
  private makeStores(timed: <T>(op: keyof LatencyModel, apply: () => T) => Promise<T>): CheckpointStores {
    const checkpointObjects = this.objectStore('checkpoints', timed);
    const checkpoints = new SplitObjectStore(
      checkpointObjects,
      this.itemObjectStore(timed, checkpointObjects),
      isStateObjectKey,
      (prefix) => {
        const reach = checkpointPrefixReach(prefix);
        return { first: reach.other, second: reach.state };
      },
    );
    return {
      heads: this.stateStore(timed),
      checkpoints: new CompressingObjectStore(checkpoints, 'zstd'),
      warehouse: this.objectStore('warehouse', timed),
      catalog: this.catalog(timed),
    };
  }

  private writeUnits(key: string, bytes: number): void {
    const units = Math.max(1, Math.ceil(bytes / this.config.dynamo.writeUnitBytes));
    this.take(this.writeBuckets, key, units, this.config.dynamo.writeUnitsPerKeyPerSec);
    this.usage.dynamoWriteUnits += units;
    this.usage.dynamoUnitsByKind[itemKind(key)].write += units;
  }

  private readUnits(key: string, bytes: number): void {
    const units = Math.max(1, Math.ceil(bytes / this.config.dynamo.readUnitBytes));
    this.take(this.readBuckets, key, units, this.config.dynamo.readUnitsPerKeyPerSec);
    this.countRead(key, units);
  }

  /** Read units of a get (by its key) or a query (by its prefix). */
  private countRead(keyOrPrefix: string, units: number): void {
    this.usage.dynamoReadUnits += units;
    this.usage.dynamoUnitsByKind[itemKind(keyOrPrefix)].read += units;
  }

  /** Checkpoint objects as items, up to INLINE_OBJECT_BYTES inline, larger ones spilled to `large`. */
  private itemObjectStore(
    timed: <T>(op: keyof LatencyModel, apply: () => T) => Promise<T>,
    large: ObjectStore,
  ): ObjectStore {
    const objects = this.objectItems;
    const store: ObjectStore & Named = {
      put: async (key, bytes, options) => {
        assertValidKey(key);
        const inline = bytes.byteLength <= INLINE_OBJECT_BYTES;
        if (!inline) await large.put(key, bytes);
        const copy = inline ? new Uint8Array(bytes) : undefined;
        await timed('dynamoPut', () => {
          const itemSize = Buffer.byteLength(key) + (copy?.byteLength ?? 64) + 16;
          this.writeUnits(key, itemSize);
          if (options?.ifNoneMatch === '*' && objects.has(key)) throw new PreconditionFailedError(key);
          objects.set(key, { bytes: copy, itemBytes: itemSize });
        });
      },
      get: async (key) => {
        assertValidKey(key);
        const item = await timed('dynamoGet', () => {
          const found = objects.get(key);
          this.readUnits(key, found?.itemBytes ?? 0);
          return found;
        });
        if (item === undefined) return undefined;
        if (item.bytes !== undefined) return new Uint8Array(item.bytes);
        return large.get(key);
      },
      list: (prefix) =>
        timed('dynamoQuery', () => {
          const keys = [...objects.keys()].filter((key) => key.startsWith(prefix)).sort();
          this.countRead(
            prefix,
            Math.max(1, Math.ceil((keys.length * 100) / this.config.dynamo.readUnitBytes)),
          );
          return keys;
        }),
      delete: async (key) => {
        assertValidKey(key);
        const item = objects.get(key);
        await timed('dynamoPut', () => {
          this.writeUnits(key, item?.itemBytes ?? 0);
          objects.delete(key);
        });
        if (item !== undefined && item.bytes === undefined) await large.delete(key);
      },
      uri: (key) => large.uri(key),
      keyOf: (uri) => large.keyOf(uri),
      toString: () => 'SimulatedDynamoDBObjects',
    };
    return store;
  }

  private stateStore(timed: <T>(op: keyof LatencyModel, apply: () => T) => Promise<T>): StateStore {
    const { items } = this;
    const itemOf = (key: string, item: StoredItem): VersionedItem => ({
      key,
      version: item.version,
      value: structuredClone(item.value),
    });
    const write = (key: string, bytes: number): void => this.writeUnits(key, bytes);
    const read = (key: string, bytes: number): void => this.readUnits(key, bytes);
    const store: StateStore & Named = {
      get: (key) =>
        timed('dynamoGet', () => {
          const item = items.get(key);
          read(key, item?.bytes ?? 0);
          return item === undefined ? undefined : itemOf(key, item);
        }),
      put: (key, value, condition: PutCondition) =>
        timed('dynamoPut', () => {
          const text = JSON.stringify(value);
          const bytes = itemBytes(key, text);
          const current = items.get(key);
          // The larger of the old and new item, as DynamoDB bills a conditional write.
          write(key, Math.max(bytes, current?.bytes ?? 0));
          checkCondition(key, condition, current?.version);
          const next: StoredItem = { version: (current?.version ?? 0) + 1, value: JSON.parse(text), bytes };
          items.set(key, next);
          return itemOf(key, next);
        }),
      delete: (key, condition?: DeleteCondition) =>
        timed('dynamoPut', () => {
          const current = items.get(key);
          write(key, current?.bytes ?? 0);
          if (condition !== undefined) checkCondition(key, condition, current?.version);
          items.delete(key);
        }),
      list: (prefix) =>
        timed('dynamoQuery', () => {
          const found = [...items.entries()]
            .filter(([key]) => key.startsWith(prefix))
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
          this.countRead(
            prefix,
            Math.max(
              1,
              Math.ceil(
                found.reduce((sum, [, item]) => sum + item.bytes, 0) / this.config.dynamo.readUnitBytes,
              ),
            ),
          );
          return found.map(([key, item]) => itemOf(key, item));
        }),
      toString: () => 'SimulatedDynamoDB',
    };
    return store;
  }

  private objectStore(
    name: 'checkpoints' | 'warehouse',
    timed: <T>(op: keyof LatencyModel, apply: () => T) => Promise<T>,
  ): ObjectStore {
    const objects = this.objects[name];
    const prefix = `s3://${this.config.bucket}/${name}/`;
    const store: ObjectStore & Named = {
      put: async (key: string, bytes: Uint8Array, options?: PutOptions) => {
        assertValidKey(key);
        const copy = new Uint8Array(bytes);
        await timed('s3Put', () => {
          this.usage.s3PutRequests++;
          if (options?.ifNoneMatch === '*' && objects.has(key)) throw new PreconditionFailedError(key);
          objects.set(key, copy);
        });
      },
      get: async (key: string) => {
        assertValidKey(key);
        return timed('s3Get', () => {
          this.usage.s3GetRequests++;
          const object = objects.get(key);
          return object === undefined ? undefined : new Uint8Array(object);
        });
      },
      list: (listPrefix: string) =>
        timed('s3List', () => {
          this.usage.s3PutRequests++;
          return [...objects.keys()].filter((key) => key.startsWith(listPrefix)).sort();
        }),
      delete: async (key: string) => {
        assertValidKey(key);
        await timed('s3Delete', () => {
          objects.delete(key);
        });
      },
      deleteMany: async (keys: readonly string[]) => {
        for (const key of keys) assertValidKey(key);
        await timed('s3Delete', () => {
          for (const key of keys) objects.delete(key);
        });
      },
      uri: (key: string) => {
        assertValidKey(key);
        return `${prefix}${key}`;
      },
      keyOf: (uri: string) => (uri.startsWith(prefix) ? uri.slice(prefix.length) : undefined),
      toString: () => `SimulatedS3(${prefix})`,
    };
    return store;
  }

  private catalog(timed: <T>(op: keyof LatencyModel, apply: () => T) => Promise<T>): Catalog {
    const { pointers } = this;
    const catalog: Catalog & Named = {
      currentMetadataLocation: (name) => timed('catalogGet', () => pointers.get(name)),
      compareAndSwap: (name, expected, next) =>
        timed('catalogCas', () => {
          if (pointers.get(name) !== expected) return false;
          pointers.set(name, next);
          return true;
        }),
      listTables: () =>
        timed('catalogList', (): CatalogTable[] =>
          [...pointers.entries()]
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
            .map(([name, metadataLocation]) => ({ name, metadataLocation })),
        ),
      toString: () => 'SimulatedCatalog',
    };
    return catalog;
  }

  /** Takes `units` tokens from a key's bucket, refilled at `perSec` in model time, or throttles. */
  private take(buckets: Map<string, Bucket>, key: string, units: number, perSec: number): void {
    const now = this.now();
    const depth = perSec * this.config.dynamo.burstSeconds;
    const bucket = buckets.get(key) ?? { tokens: depth, at: now };
    bucket.tokens = Math.min(depth, bucket.tokens + ((now - bucket.at) / 1000) * perSec);
    bucket.at = now;
    buckets.set(key, bucket);
    if (bucket.tokens < units) {
      this.usage.dynamoThrottles++;
      throw new SimulatedThrottlingError(key);
    }
    bucket.tokens -= units;
  }
}

/** The largest checkpoint object kept inline in an item (aws-stores.ts: DEFAULT_INLINE_LIMIT). */
const INLINE_OBJECT_BYTES = 5 * 1024;

/** DynamoDB's item size: attribute names and values (pk, version, value), about as it bills them. */
function itemBytes(key: string, valueJson: string): number {
  return Buffer.byteLength(key) + Buffer.byteLength(valueJson) + 'pkversionvalue'.length + 8;
}

function checkCondition(
  key: string,
  condition: PutCondition | DeleteCondition,
  current: number | undefined,
): void {
  if (condition === undefined) return;
  if ('expectedVersion' in condition) {
    if (current !== condition.expectedVersion) {
      throw new ConditionFailedError(key, condition.expectedVersion, current);
    }
  } else if (current !== undefined) {
    throw new ConditionFailedError(key, undefined, current);
  }
}
