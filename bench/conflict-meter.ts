/**
 * Counts the races of the commit protocol, as runtime/stores/request-meter.ts counts requests: a
 * wrapper around the four stores that sees each conditional write's outcome.
 *
 * - head conflicts: a head write conditional on a version (the commit point, or cleanup's fence)
 *   that found another version: another writer committed first, and the batch is redone;
 * - head creation races: two first invocations of a group both tried to create its head;
 * - catalog conflicts: a table pointer swap that found another pointer (an Iceberg commit lost the
 *   race and is rebased);
 * - throttles: requests the store refused for lack of capacity (any error named *Throttl*).
 */
import type { CheckpointStores } from '../runtime/stores/checkpoint-stores.ts';
import { ConditionFailedError, type StateStore } from '../runtime/stores/state-store.ts';

export interface ConflictCounts {
  headConflicts: number;
  /** Partition log heads (partition logs): an append that lost a race with another of its partition. */
  logConflicts: number;
  /** The log consumer's lease: a take that found it taken meanwhile (skipped, nothing redone). */
  leaseRaces: number;
  headCreateRaces: number;
  catalogConflicts: number;
  throttles: number;
}

export const NO_CONFLICTS: ConflictCounts = {
  headConflicts: 0,
  logConflicts: 0,
  leaseRaces: 0,
  headCreateRaces: 0,
  catalogConflicts: 0,
  throttles: 0,
};

export function addConflicts(a: ConflictCounts, b: ConflictCounts): ConflictCounts {
  return {
    headConflicts: a.headConflicts + b.headConflicts,
    logConflicts: a.logConflicts + b.logConflicts,
    leaseRaces: a.leaseRaces + b.leaseRaces,
    headCreateRaces: a.headCreateRaces + b.headCreateRaces,
    catalogConflicts: a.catalogConflicts + b.catalogConflicts,
    throttles: a.throttles + b.throttles,
  };
}

export interface ConflictMeter {
  readonly stores: CheckpointStores;
  readonly counts: Readonly<ConflictCounts>;
}

export function meterConflicts(stores: CheckpointStores): ConflictMeter {
  const counts: ConflictCounts = { ...NO_CONFLICTS };
  const throttled = (error: unknown) => {
    if (error instanceof Error && /throttl/i.test(error.name)) counts.throttles++;
  };
  const watch = async <T>(call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (error) {
      throttled(error);
      throw error;
    }
  };
  const heads: StateStore = {
    get: (key) => watch(() => stores.heads.get(key)),
    list: (prefix) => watch(() => stores.heads.list(prefix)),
    delete: (key, condition) => watch(() => stores.heads.delete(key, condition)),
    put: async (key, value, condition) => {
      try {
        return await stores.heads.put(key, value, condition);
      } catch (error) {
        if (error instanceof ConditionFailedError) {
          if (key.includes('/leases/')) counts.leaseRaces++;
          else if (key.includes('/logs/')) counts.logConflicts++;
          else if (condition !== undefined && 'expectedVersion' in condition) counts.headConflicts++;
          else counts.headCreateRaces++;
        }
        throttled(error);
        throw error;
      }
    },
  };
  return {
    stores: {
      ...stores,
      heads,
      catalog: {
        currentMetadataLocation: (name) => watch(() => stores.catalog.currentMetadataLocation(name)),
        listTables: () => watch(() => stores.catalog.listTables()),
        compareAndSwap: async (name, expected, next) => {
          const swapped = await watch(() => stores.catalog.compareAndSwap(name, expected, next));
          if (!swapped) counts.catalogConflicts++;
          return swapped;
        },
      },
    },
    counts,
  };
}
