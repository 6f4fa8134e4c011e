/**
 * Request accounting: what a run costs in store requests. Wraps the four stores of the commit
 * protocol and counts, per store and operation, the requests, the bytes sent and received, and
 * the sequential round trips (how many times the protocol waited on the stores with nothing else
 * in flight: parallel requests share one round trip). Requests are what a user pays for on AWS,
 * and round trips are what an invocation waits for.
 */
import type { CheckpointStores } from './checkpoint-stores.ts';

export type StoreRole = keyof CheckpointStores;

/** Counts of one store operation, e.g. `checkpoints.put`. */
export interface OperationCounts {
  requests: number;
  /** Bytes sent: object bodies and state item values. */
  bytesOut: number;
  /** Bytes received: object bodies and state item values. */
  bytesIn: number;
  /** Requests that threw (conditions that failed included). */
  errors: number;
}

export interface RequestCounts {
  /** `<store>.<operation>` → counts, e.g. `heads.put`, `warehouse.get`. */
  readonly operations: Record<string, OperationCounts>;
  readonly requests: number;
  readonly bytesOut: number;
  readonly bytesIn: number;
  /** Sequential round trips: the waits with no other request in flight. */
  readonly roundTrips: number;
}

export interface RequestMeter {
  /** The metered stores: give these to the processor. */
  readonly stores: CheckpointStores;
  /** Counts since the meter was made or last taken. */
  peek(): RequestCounts;
  /** Counts since the meter was made or last taken, and starts counting afresh. */
  take(): RequestCounts;
}

/** The methods of the store contracts that make a request; anything else (uri, keyOf, toString) is local. */
const REQUEST_METHODS = new Set<PropertyKey>([
  'get',
  'put',
  'delete',
  'deleteMany',
  'list',
  'currentMetadataLocation',
  'compareAndSwap',
  'listTables',
]);

export interface MeterOptions {
  /**
   * Measure bytes sent and received. A state value's size is its JSON text, which costs a
   * serialization per request: the Lambda handler, which reports requests and round trips only,
   * turns it off. @default true
   */
  readonly bytes?: boolean;
}

export function meterRequests(stores: CheckpointStores, options: MeterOptions = {}): RequestMeter {
  const bytes = options.bytes ?? true;
  let operations: Record<string, OperationCounts> = {};
  let roundTrips = 0;
  let inFlight = 0;

  const count = (name: string): OperationCounts => {
    let counts = operations[name];
    if (counts === undefined) {
      counts = { requests: 0, bytesOut: 0, bytesIn: 0, errors: 0 };
      operations[name] = counts;
    }
    return counts;
  };

  const wrap = <T extends object>(role: StoreRole, store: T): T =>
    new Proxy(store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== 'function' || !REQUEST_METHODS.has(property)) {
          return typeof value === 'function' ? value.bind(target) : value;
        }
        const name = `${role}.${String(property)}`;
        return async (...args: unknown[]) => {
          const counts = count(name);
          counts.requests++;
          if (bytes) counts.bytesOut += sizeOf(args[1]);
          if (inFlight++ === 0) roundTrips++;
          try {
            const result: unknown = await value.apply(target, args);
            if (bytes) counts.bytesIn += sizeOf(result);
            return result;
          } catch (error) {
            counts.errors++;
            throw error;
          } finally {
            inFlight--;
          }
        };
      },
    });

  const snapshot = (): RequestCounts => {
    let requests = 0;
    let bytesOut = 0;
    let bytesIn = 0;
    const copy: Record<string, OperationCounts> = {};
    for (const name of Object.keys(operations).sort()) {
      const c = operations[name]!;
      copy[name] = { ...c };
      requests += c.requests;
      bytesOut += c.bytesOut;
      bytesIn += c.bytesIn;
    }
    return { operations: copy, requests, bytesOut, bytesIn, roundTrips };
  };

  return {
    stores: {
      heads: wrap('heads', stores.heads),
      checkpoints: wrap('checkpoints', stores.checkpoints),
      warehouse: wrap('warehouse', stores.warehouse),
      catalog: wrap('catalog', stores.catalog),
    },
    peek: snapshot,
    take() {
      const counts = snapshot();
      operations = {};
      roundTrips = 0;
      return counts;
    },
  };
}

/** Adds counts up, e.g. over the invocations of a run. */
export function addRequestCounts(a: RequestCounts, b: RequestCounts): RequestCounts {
  const operations: Record<string, OperationCounts> = {};
  for (const source of [a.operations, b.operations]) {
    for (const [name, c] of Object.entries(source)) {
      const into = operations[name] ?? { requests: 0, bytesOut: 0, bytesIn: 0, errors: 0 };
      into.requests += c.requests;
      into.bytesOut += c.bytesOut;
      into.bytesIn += c.bytesIn;
      into.errors += c.errors;
      operations[name] = into;
    }
  }
  return {
    operations,
    requests: a.requests + b.requests,
    bytesOut: a.bytesOut + b.bytesOut,
    bytesIn: a.bytesIn + b.bytesIn,
    roundTrips: a.roundTrips + b.roundTrips,
  };
}

export const NO_REQUESTS: RequestCounts = {
  operations: {},
  requests: 0,
  bytesOut: 0,
  bytesIn: 0,
  roundTrips: 0,
};

/** The payload size of an argument or a result: object bytes, or a state item's JSON value. */
function sizeOf(value: unknown): number {
  if (value instanceof Uint8Array) return value.byteLength;
  if (value === undefined || value === null || typeof value === 'boolean') return 0;
  if (typeof value === 'string') return value.length;
  if (typeof value === 'object' && 'value' in value && 'version' in value) {
    return JSON.stringify((value as { value: unknown }).value).length;
  }
  if (Array.isArray(value)) return 0;
  if (typeof value === 'object') return JSON.stringify(value).length;
  return 0;
}
