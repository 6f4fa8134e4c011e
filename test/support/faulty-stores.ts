/**
 * Fault injection for the commit protocol: wraps the four CheckpointStores and numbers every I/O
 * call across all of them in one sequence (1, 2, ...), so that a test can make exactly one call
 * fail and check that the tables still come out right.
 *
 * Faults (at most one per wrapper; the numbering is the same as in a clean run as long as the
 * run does the same calls):
 * - `crashBefore: k`: call k throws a {@link SimulatedCrash} without doing anything, and so does
 *   every later call: the process is dead (crash, Lambda timeout, kill -9).
 * - `lostResponse: k`: call k is performed, then throws a SimulatedCrash; later calls throw too.
 *   The write landed but nobody saw the answer.
 * - `failOnce: k`: call k throws a {@link TransientStoreError} without doing anything; later
 *   calls work (a throttle or a 5xx).
 * - `lostOnce: k`: call k is performed, then throws a TransientStoreError; later calls work (a
 *   timeout whose request landed, the caller lives on and retries).
 *
 * Calls already in flight when the process dies still complete in the store (a request on the
 * wire may land), but their caller gets a SimulatedCrash instead of the answer. Await
 * {@link FaultyStores.settled} before "restarting", so the dead process's last writes have landed.
 *
 * `serial: true` performs one call at a time, in call order: parallel calls (a Promise.all of
 * puts, the publishes of three tables) then complete in a fixed order, so the call numbering
 * of a run is reproducible and call k is the same operation in every run.
 */

import type { Catalog } from '../../runtime/stores/catalog.ts';
import type { CheckpointStores } from '../../runtime/stores/checkpoint-stores.ts';
import type { ObjectStore, PutOptions } from '../../runtime/stores/object-store.ts';
import type { StateStore } from '../../runtime/stores/state-store.ts';

/** The process died: thrown by the call that killed it and by every call after it. */
export class SimulatedCrash extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimulatedCrash';
  }
}

/** A transient store failure (throttling, a 5xx, a timeout): the process lives on and may retry. */
export class TransientStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransientStoreError';
  }
}

export type Fault =
  | { readonly crashBefore: number }
  | { readonly lostResponse: number }
  | { readonly failOnce: number }
  | { readonly lostOnce: number };

type FaultKind = 'crashBefore' | 'lostResponse' | 'failOnce' | 'lostOnce';

export type StoreName = 'heads' | 'checkpoints' | 'warehouse' | 'catalog';

/** One I/O call, as the op log records it. */
export interface OpRecord {
  /** Its number in the sequence, from 1. */
  readonly n: number;
  readonly store: StoreName;
  readonly op: string;
  /** The key, prefix or table name the call is about. */
  readonly key: string;
  /** How it ended: undefined while in flight. `fault` marks the injected one. */
  outcome?: 'ok' | 'error' | 'fault' | 'dead';
}

export interface FaultyStoreOptions {
  readonly fault?: Fault;
  /** Perform one call at a time, in call order, for a reproducible numbering. @default false */
  readonly serial?: boolean;
  /**
   * Runs before each call is performed (after it is numbered and logged); may wait, e.g. to hold
   * a process at a chosen step while another one commits.
   */
  readonly beforeCall?: (call: OpRecord) => void | Promise<void>;
}

export interface FaultyStores {
  /** The wrapped stores, to give to a CheckpointedProcessor. */
  readonly stores: CheckpointStores;
  /** Every call so far, in call order. */
  readonly log: readonly OpRecord[];
  /** How many calls were made. */
  readonly calls: number;
  /** True once a crash or lost-response fault has killed the process. */
  readonly dead: boolean;
  /** True once the injected fault has happened. */
  readonly injected: boolean;
  /** Resolves when every call started so far has finished in the underlying store. */
  settled(): Promise<void>;
  /** The op log as text, one call per line, for failure messages. */
  describe(from?: number, to?: number): string;
}

export function faultyStores(inner: CheckpointStores, options: FaultyStoreOptions = {}): FaultyStores {
  const { fault, beforeCall } = options;
  const log: OpRecord[] = [];
  const inFlight = new Set<Promise<unknown>>();
  let dead = false;
  let injected = false;
  let queue: Promise<unknown> = Promise.resolve();

  const [kind, at] = fault === undefined ? [] : (Object.entries(fault)[0] as [FaultKind, number]);

  async function call<T>(store: StoreName, op: string, key: string, perform: () => Promise<T>): Promise<T> {
    const record: OpRecord = { n: log.length + 1, store, op, key };
    log.push(record);
    const where = `call ${record.n} (${store}.${op} ${key})`;
    const die = (why: string): never => {
      record.outcome = record.outcome ?? 'dead';
      throw new SimulatedCrash(`${where}: ${why}`);
    };
    if (dead) return die('the process is dead');
    if (beforeCall !== undefined) await beforeCall(record);
    if (dead) return die('the process is dead');
    const hit = record.n === at;
    if (hit && kind === 'crashBefore') {
      dead = true;
      injected = true;
      record.outcome = 'fault';
      return die('simulated crash before the call');
    }
    if (hit && kind === 'failOnce') {
      injected = true;
      record.outcome = 'fault';
      throw new TransientStoreError(`${where}: simulated 503, nothing was done`);
    }
    const run = async (): Promise<T> => perform();
    let done: Promise<T>;
    if (options.serial) {
      done = queue.then(run, run);
      queue = done.catch(() => undefined);
    } else {
      done = run();
    }
    inFlight.add(done);
    let result: T;
    try {
      result = await done;
    } catch (error) {
      if (dead) return die(`the process died while the call was in flight (it failed: ${String(error)})`);
      record.outcome = 'error';
      throw error;
    } finally {
      inFlight.delete(done);
    }
    if (dead) return die('the process died while the call was in flight (it completed)');
    if (hit && kind === 'lostResponse') {
      dead = true;
      injected = true;
      record.outcome = 'fault';
      return die('simulated crash after the call was performed (response lost)');
    }
    if (hit && kind === 'lostOnce') {
      injected = true;
      record.outcome = 'fault';
      throw new TransientStoreError(`${where}: simulated timeout, but the call was performed`);
    }
    record.outcome = 'ok';
    return result;
  }

  const heads: StateStore = {
    get: (key) => call('heads', 'get', key, () => inner.heads.get(key)),
    put: (key, value, condition) => call('heads', 'put', key, () => inner.heads.put(key, value, condition)),
    delete: (key, condition) => call('heads', 'delete', key, () => inner.heads.delete(key, condition)),
    list: (prefix) => call('heads', 'list', prefix, () => inner.heads.list(prefix)),
  };
  const objects = (name: 'checkpoints' | 'warehouse', store: ObjectStore): ObjectStore => {
    const wrapped = {
      put: (key: string, bytes: Uint8Array, putOptions?: PutOptions) =>
        call(name, 'put', key, () => store.put(key, bytes, putOptions)),
      get: (key: string) => call(name, 'get', key, () => store.get(key)),
      list: (prefix: string) => call(name, 'list', prefix, () => store.list(prefix)),
      delete: (key: string) => call(name, 'delete', key, () => store.delete(key)),
      // Not I/O: names only.
      uri: (key: string) => store.uri(key),
      keyOf: (uri: string) => store.keyOf(uri),
      toString: () => `Faulty(${String(store)})`,
    };
    return wrapped;
  };
  const catalog: Catalog = {
    currentMetadataLocation: (name) =>
      call('catalog', 'current', name, () => inner.catalog.currentMetadataLocation(name)),
    compareAndSwap: (name, expected, next) =>
      call('catalog', 'swap', name, () => inner.catalog.compareAndSwap(name, expected, next)),
    listTables: () => call('catalog', 'listTables', '', () => inner.catalog.listTables()),
  };

  return {
    stores: {
      heads,
      checkpoints: objects('checkpoints', inner.checkpoints),
      warehouse: objects('warehouse', inner.warehouse),
      catalog,
    },
    log,
    get calls() {
      return log.length;
    },
    get dead() {
      return dead;
    },
    get injected() {
      return injected;
    },
    async settled() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
    describe(from = 1, to = log.length) {
      return log
        .slice(Math.max(0, from - 1), to)
        .map((r) => `${r.n} ${r.store}.${r.op} ${r.key} ${r.outcome ?? 'in flight'}`)
        .join('\n');
    },
  };
}
