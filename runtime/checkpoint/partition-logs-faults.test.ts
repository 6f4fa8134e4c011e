/**
 * Partition logs under the faults a review found holes for (docs/design.md, "Partition logs"):
 * a stalled append racing cleanup, a consumer that dies holding the lease before the topic goes
 * quiet, appends that keep coming while a process consumes, a switch to committing without logs
 * while records wait in them, a restore into stores that still hold log heads, and a consumer
 * that stalls while another consumes and cleans up.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalObjectStore } from '../../adapters/local/local-object-store.ts';
import { exampleJob, processorFor, workload } from '../../test/support/checkpoint-runs.ts';
import { faultyStores, SimulatedCrash } from '../../test/support/faulty-stores.ts';
import {
  consumedOffsets,
  expectExactlyOnce,
  LOGS,
  lastOffsets,
  partitionEvents,
} from '../../test/support/log-scenarios.ts';
import { stallAt } from '../../test/support/protocol-scenarios.ts';
import { scratchDir } from '../../test/support/scratch.ts';
import { localStoreFactory } from '../../test/support/store-locations.ts';
import { ConsumerLease } from './consumer-lease.ts';
import { headPrefix, safeName } from './layout.ts';
import { listLogHeads } from './partition-log.ts';
import { createSavepoint, restoreSavepoint } from './savepoint.ts';

const NAME = 'max-price' as const;
const jobId = safeName(exampleJob(NAME).name);

describe('partition logs under faults', () => {
  it('an append that stalls between its segment and its head write, while cleanup runs: nothing lost', async () => {
    const w = workload();
    const location = await localStoreFactory();
    let clock = 1_000;
    const opts = { ...LOGS, clock: () => clock, orphanGraceMs: 60_000, maxAttempts: 2 };
    const p0 = partitionEvents(w)[0]!;
    const main = processorFor(NAME, location.open(), w, opts);
    for (const e of p0.slice(0, 2)) await main.process(e);
    // A zombie appender of the same partition: writes its segment, then stalls (Ctrl-Z, a pause,
    // a clock behind the others) before its log head write.
    const zombieStores = stallAt(
      location.open(),
      (call) => call.store === 'heads' && call.op === 'put' && call.key.includes('/logs/'),
    );
    // Another process is consuming (it holds the lease), so the zombie appends its batch rather
    // than consuming it directly.
    await new ConsumerLease(location.open().heads, jobId, 60_000, () => clock).acquire();
    const zombie = processorFor(NAME, zombieStores.stores, w, opts).process(p0[2]!);
    await zombieStores.held;
    clock += 120_000; // far older than any grace period
    await main.cleanup();
    zombieStores.release();
    await zombie;
    // The event source mapping may redeliver the batch anyway; then the rest of the topic.
    await processorFor(NAME, location.open(), w, opts).process(p0[2]!);
    const rest = processorFor(NAME, location.open(), w, opts);
    for (const [i, events] of partitionEvents(w).entries())
      for (const e of i === 0 ? events.slice(3) : events) await rest.process(e);
    await processorFor(NAME, location.open(), w, opts).drain();
    await expectExactlyOnce(NAME, location, w);
  });

  it('a consumer that dies holding the lease, then a quiet topic: the redelivery is logged, the next ticks consume it', async () => {
    const w = workload();
    const location = await localStoreFactory();
    let clock = 1_000;
    const opts = { ...LOGS, clock: () => clock, maxAttempts: 1 };
    const first = processorFor(NAME, location.open(), w, opts);
    const last = w.events.length - 1;
    for (const e of w.events.slice(0, last)) await first.process(e);
    // The last invocation dies inside its consume, after taking the lease (a Lambda timeout).
    let dead = false;
    const dying = faultyStores(location.open(), {
      beforeCall: (call) => {
        if (dead) throw new SimulatedCrash('dead');
        if (call.store === 'heads' && call.op === 'put' && call.key.endsWith('/heads/job')) {
          dead = true;
          throw new SimulatedCrash('Lambda timeout');
        }
      },
    });
    // It took the free lease to consume its batch directly, in no log, and died: the invocation
    // fails (its fallback to the log dies too), and the event source mapping redelivers the batch.
    await expect(processorFor(NAME, dying.stores, w, opts).process(w.events[last]!)).rejects.toBeInstanceOf(
      SimulatedCrash,
    );
    expect(dead).toBe(true);
    // Redelivered to a new container: the lease is still held by the dead one, so it appends.
    clock += 1_000;
    await processorFor(NAME, location.open(), w, opts).process(w.events[last]!);
    expect(await consumedOffsets(location.open(), NAME)).not.toEqual(lastOffsets(w));
    // No more traffic: ticks run, and once the lease lapses one consumes.
    const ticker = processorFor(NAME, location.open(), w, opts);
    expect(ticker.ticksMatter()).toBe(true);
    for (let i = 0; i < 3; i++) {
      clock += 15_000;
      await ticker.emitPeriodicWatermarks();
    }
    expect(await consumedOffsets(location.open(), NAME)).toEqual(lastOffsets(w));
  });

  it('a direct consume that runs out of tries logs the batch and succeeds: nothing lost', async () => {
    const w = workload();
    const location = await localStoreFactory();
    const [p0, ...others] = partitionEvents(w);
    // The job group's head cannot be written: every try of the direct consume fails.
    const failing = faultyStores(location.open(), {
      beforeCall: (call) => {
        if (call.store === 'heads' && call.op === 'put' && call.key.endsWith('/heads/job'))
          throw new Error('503 Service Unavailable');
      },
    });
    const outcome = await processorFor(NAME, failing.stores, w, { ...LOGS, maxAttempts: 2 }).process(p0![0]!);
    const [id, records] = Object.entries(p0![0]!.records)[0]!;
    expect(outcome.metrics.records).toBe(records.length);
    const logged = (await listLogHeads(location.open().heads, jobId)).flatMap((l) => l.value.segments);
    expect(logged.map((s) => [s.first, s.last])).toEqual([[records[0]!.offset, records.at(-1)!.offset]]);
    expect((await consumedOffsets(location.open(), NAME))[id]).toBeUndefined();

    const rest = processorFor(NAME, location.open(), w, LOGS);
    for (const event of p0!.slice(1)) await rest.process(event);
    for (const events of others) for (const event of events) await rest.process(event);
    await rest.drain();
    await expectExactlyOnce(NAME, location, w);
  });

  it('appends that keep coming while a process consumes are consumed before it returns', async () => {
    const w = workload();
    const location = await localStoreFactory();
    const other = processorFor(NAME, location.open(), w, LOGS);
    let next = 2;
    let hooks = 0;
    const consumerStores = faultyStores(location.open(), {
      beforeCall: async (call) => {
        if (hooks > 0 && call.store === 'heads' && call.op === 'put' && call.key.endsWith('/heads/job')) {
          hooks--;
          // Another partition's invocation appends while this process holds the lease.
          const outcome = await other.process(w.events[next++]!);
          expect(outcome.commits.every((c) => c.group.startsWith('log:'))).toBe(true);
        }
      },
    });
    const consumer = processorFor(NAME, consumerStores.stores, w, LOGS);
    await consumer.process(w.events[0]!);
    hooks = 5;
    await consumer.process(w.events[1]!);
    expect(next).toBe(7);
    const logs = await listLogHeads(location.open().heads, jobId);
    const consumed = await consumedOffsets(location.open(), NAME);
    const pending = logs.flatMap((h) =>
      h.value.segments.filter((s) => s.last > (consumed[h.key.slice(h.key.lastIndexOf('/') + 1)] ?? -1)),
    );
    expect(pending).toEqual([]);
  });

  it('a process that does not append to logs first consumes what others left there', async () => {
    const w = workload();
    const location = await localStoreFactory();
    // Batches left in the logs (a consume interval, a lease held elsewhere, a crashed consumer).
    const blocker = await new ConsumerLease(location.open().heads, jobId, 60_000, () => 1_000).acquire();
    expect(blocker).toBeDefined();
    const half = Math.floor(w.events.length / 2);
    const on = processorFor(NAME, location.open(), w, LOGS);
    for (const e of w.events.slice(0, half)) await on.process(e);
    expect(await consumedOffsets(location.open(), NAME)).toEqual({});
    // Redeployed with FLOE_PARTITION_LOGS=off.
    const off = processorFor(NAME, location.open(), w, { partitionLogs: false });
    for (const e of w.events.slice(half)) await off.process(e);
    await off.drain();
    await expectExactlyOnce(NAME, location, w);
  });

  it('a consumer that stalls after reading the logs while another consumes and cleans up: nothing lost', async () => {
    const w = workload();
    const location = await localStoreFactory();
    const opts = { ...LOGS, cleanupEvery: 1 };
    const blocker = await new ConsumerLease(location.open().heads, jobId, 60_000, () => 1_000).acquire();
    expect(blocker).toBeDefined();
    const appender = processorFor(NAME, location.open(), w, opts);
    const half = Math.floor(w.events.length / 2);
    for (const e of w.events.slice(0, half)) await appender.process(e);
    const slow = stallAt(
      location.open(),
      (call) => call.store === 'checkpoints' && call.op === 'get' && call.key.includes('/partition-logs/'),
    );
    const stalled = processorFor(NAME, slow.stores, w, opts).drain();
    await slow.held;
    await processorFor(NAME, location.open(), w, opts).drain();
    slow.release();
    await stalled;
    for (const e of w.events.slice(half)) await appender.process(e);
    await processorFor(NAME, location.open(), w, opts).drain();
    await expectExactlyOnce(NAME, location, w);
  });

  it('a restore refuses stores that still hold the job’s partition logs', async () => {
    const w = workload();
    const location = await localStoreFactory();
    const half = Math.floor(w.events.length / 2);
    const p = processorFor(NAME, location.open(), w, LOGS);
    for (const e of w.events.slice(0, half)) await p.process(e);
    const target = new LocalObjectStore(scratchDir('floe-savepoint-'));
    const entry = await createSavepoint(location.open(), exampleJob(NAME), target, {
      definition: 'test',
      floeVersion: 'test',
    });
    for (const e of w.events.slice(half)) await p.process(e);
    // The job's heads and checkpoint objects emptied, its log heads left behind.
    const stores = location.open();
    for (const h of await stores.heads.list(headPrefix(jobId))) await stores.heads.delete(h.key);
    for (const k of await stores.checkpoints.list(`${jobId}/`)) await stores.checkpoints.delete(k);
    await expect(
      restoreSavepoint(new LocalObjectStore(join(target.root, entry.path)), exampleJob(NAME), stores),
    ).rejects.toThrow(/already hold state of job max-price/);
  });
});
