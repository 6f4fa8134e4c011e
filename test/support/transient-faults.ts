/**
 * Transient faults for the store contract suites: a wrapper that fails each distinct call once
 * (a throttle or a 5xx: nothing was done), and a retrying caller. Composed,
 * `retrying(failingOnce(store))` must still pass the contract: a call that failed before it did
 * anything is safe to repeat, whatever it was.
 *
 * Reads may also lose their response (`lostReads`: performed, then the caller sees an error): a
 * repeated read is harmless. Writes never do here: a write retried after a lost response may
 * report a failed condition although it landed, which is not contract behaviour but "outcome
 * unknown", and the commit protocol handles it by re-reading the head (docs/design.md). The
 * DynamoDB store's own answer to that case (the write token) is tested against the server in
 * adapters/aws/dynamodb-state-store.contract.test.ts.
 */
import type { Catalog } from '../../runtime/stores/catalog.ts';
import type { StateStore } from '../../runtime/stores/state-store.ts';
import { TransientStoreError } from './faulty-stores.ts';

export interface TransientFaultOptions {
  /** Reads are performed, then fail once (their response is lost). @default false: they fail before */
  readonly lostReads?: boolean;
  /** Called for each injected fault (tests check that faults happened). */
  readonly onFault?: () => void;
}

/** Fails the first call of each distinct (operation, arguments); the repeated call goes through. */
class OncePerCall {
  readonly failed = new Set<string>();

  constructor(private readonly onFault: () => void = () => undefined) {}

  async run<T>(op: string, args: unknown[], perform: () => Promise<T>, lost: boolean): Promise<T> {
    const signature = JSON.stringify([op, args]);
    if (this.failed.has(signature)) return perform();
    this.failed.add(signature);
    this.onFault();
    if (lost) {
      await perform();
      throw new TransientStoreError(
        `${op} ${JSON.stringify(args).slice(0, 80)}: simulated timeout after the call`,
      );
    }
    throw new TransientStoreError(`${op} ${JSON.stringify(args).slice(0, 80)}: simulated 503, nothing done`);
  }
}

export function failingOnceStateStore(inner: StateStore, options: TransientFaultOptions = {}): StateStore {
  const faults = new OncePerCall(options.onFault);
  const lost = options.lostReads === true;
  return {
    get: (key) => faults.run('get', [key], () => inner.get(key), lost),
    put: (key, value, condition) =>
      faults.run('put', [key, value, condition], () => inner.put(key, value, condition), false),
    delete: (key, condition) =>
      faults.run('delete', [key, condition], () => inner.delete(key, condition), false),
    list: (prefix) => faults.run('list', [prefix], () => inner.list(prefix), lost),
  };
}

export function failingOnceCatalog(inner: Catalog, options: TransientFaultOptions = {}): Catalog {
  const faults = new OncePerCall(options.onFault);
  const lost = options.lostReads === true;
  return {
    currentMetadataLocation: (name) =>
      faults.run('current', [name], () => inner.currentMetadataLocation(name), lost),
    compareAndSwap: (name, expected, next) =>
      faults.run(
        'swap',
        [name, expected ?? null, next],
        () => inner.compareAndSwap(name, expected, next),
        false,
      ),
    listTables: () => faults.run('listTables', [], () => inner.listTables(), lost),
  };
}

/** Repeats a call that failed with a TransientStoreError (up to `attempts` tries); any other error is the caller's. */
async function retried<T>(call: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof TransientStoreError) || attempt >= attempts) throw error;
    }
  }
}

export function retryingStateStore(inner: StateStore): StateStore {
  return {
    get: (key) => retried(() => inner.get(key)),
    put: (key, value, condition) => retried(() => inner.put(key, value, condition)),
    delete: (key, condition) => retried(() => inner.delete(key, condition)),
    list: (prefix) => retried(() => inner.list(prefix)),
  };
}

export function retryingCatalog(inner: Catalog): Catalog {
  return {
    currentMetadataLocation: (name) => retried(() => inner.currentMetadataLocation(name)),
    compareAndSwap: (name, expected, next) => retried(() => inner.compareAndSwap(name, expected, next)),
    listTables: () => retried(() => inner.listTables()),
  };
}

/** Counts injected faults; `check()` (a fixture's cleanup) fails a test in which none happened. */
export function faultCounter(): { onFault: () => void; check: () => Promise<void> } {
  let count = 0;
  return {
    onFault: () => {
      count++;
    },
    check: async () => {
      if (count === 0)
        throw new Error('The fault wrapper injected no fault: the retried variant tested nothing.');
    },
  };
}
