/**
 * Scenarios of partition logs (runtime/checkpoint/partition-log.ts; docs/design.md, "Partition
 * logs") over any stores: runtime/checkpoint/partition-logs.test.ts runs them on the local stores,
 * adapters/aws/partition-logs.test.ts on the AWS ones (DynamoDB and S3 servers).
 *
 * Each ends by comparing the tables with the brute-force reference (every bid that is not in the
 * late table counted once) and checking that no row is there twice.
 */
import { expect } from 'vitest';
import type { ExampleName } from '../../examples/index.ts';
import { ConsumerLease } from '../../runtime/checkpoint/consumer-lease.ts';
import { readOrCreateHead } from '../../runtime/checkpoint/head.ts';
import { headKey, logSegmentPrefix, safeName } from '../../runtime/checkpoint/layout.ts';
import { listLogHeads } from '../../runtime/checkpoint/partition-log.ts';
import { kafkaEvent } from '../../runtime/event-source-mapping/event-builder.ts';
import type { KafkaEvent, KafkaEventRecord } from '../../runtime/source/kafka-event.ts';
import type { CheckpointStores } from '../../runtime/stores/checkpoint-stores.ts';
import {
  duplicates,
  exampleJob,
  expectedRowsTable,
  processorFor,
  tableNamesOf,
  tablesOf,
  type Workload,
  workload,
} from './checkpoint-runs.ts';
import { faultyStores, type OpRecord } from './faulty-stores.ts';
import { barrier, stallAt } from './protocol-scenarios.ts';
import type { StoreFactory, StoreLocation } from './store-locations.ts';

export const LOGS = { partitionLogs: true } as const;

/** The job group's committed offsets, read from its head. */
export async function consumedOffsets(
  stores: CheckpointStores,
  name: ExampleName,
): Promise<Record<string, number>> {
  const item = await stores.heads.get(headKey(safeName(exampleJob(name).name), 'job'));
  const offsets =
    (item?.value as { offsets?: Record<string, [number, number | null]> } | undefined)?.offsets ?? {};
  return Object.fromEntries(Object.entries(offsets).map(([id, [offset]]) => [id, offset]));
}

/** The last offset of each partition in the workload. */
export function lastOffsets(w: Workload): Record<string, number> {
  const last: Record<string, number> = {};
  for (const event of w.events)
    for (const [id, records] of Object.entries(event.records)) last[id] = records[records.length - 1]!.offset;
  return last;
}

/** The tables must hold the reference rows, each once. */
export async function expectExactlyOnce(name: ExampleName, location: StoreLocation, w: Workload) {
  const tables = await tablesOf(location.open());
  expect(tables[tableNamesOf(name).rows]).toEqual(expectedRowsTable(name, w.bids, tables));
  for (const rows of Object.values(tables)) expect(duplicates(rows)).toEqual([]);
  return tables;
}

/** The workload's batches of one partition, in order, each as its own event (one invocation each). */
export function partitionEvents(w: Workload): KafkaEvent[][] {
  const byPartition = new Map<string, KafkaEvent[]>();
  for (const event of w.events) {
    for (const [id, records] of Object.entries(event.records)) {
      const list = byPartition.get(id) ?? [];
      list.push(kafkaEvent(records as KafkaEventRecord[]));
      byPartition.set(id, list);
    }
  }
  return [...byPartition.values()];
}

/**
 * One process per partition, all at once, each delivering its own partition's batches in order
 * (the event source mapping's one invocation per partition). No append fails its condition (no
 * partition waits for or redoes a batch because of another), and after a final drain the tables
 * are exact.
 */
export async function partitionsInParallel(name: ExampleName, factory: StoreFactory) {
  const w = workload({ count: 240, batchSize: 20, partitions: 4 });
  const location = await factory();
  let clock = 1_000;
  const runs = partitionEvents(w).map((events) => {
    const faulty = faultyStores(location.open());
    const processor = processorFor(name, faulty.stores, w, { ...LOGS, clock: () => clock });
    return { events, faulty, processor };
  });
  await Promise.all(
    runs.map(async ({ events, processor }) => {
      for (const event of events) {
        await processor.process(event);
        clock += 10;
      }
    }),
  );
  const logPuts = runs.flatMap(({ faulty }) =>
    faulty.log.filter((c) => c.store === 'heads' && c.op === 'put' && c.key.includes('/logs/')),
  );
  expect(logPuts.length).toBeGreaterThan(0);
  expect(logPuts.filter((c) => c.outcome === 'error')).toEqual([]);
  await processorFor(name, location.open(), w, LOGS).drain();
  await expectExactlyOnce(name, location, w);
  return { location, workload: w };
}

/** The same event delivered twice: the second append skips every record, and nothing changes. */
export async function redeliveredToLogs(name: ExampleName, factory: StoreFactory) {
  const w = workload();
  const location = await factory();
  const processor = processorFor(name, location.open(), w, LOGS);
  for (const event of w.events.slice(0, 3)) await processor.process(event);
  const again = await processorFor(name, location.open(), w, LOGS).process(w.events[2]!);
  const records = Object.values(w.events[2]!.records).flat().length;
  expect(again.metrics.redelivered).toBe(records);
  expect(again.commits).toEqual([]);
  for (const event of w.events.slice(3)) await processor.process(event);
  await processor.drain();
  await expectExactlyOnce(name, location, w);
  return { location, workload: w };
}

/**
 * Two consumers at once: both have read the logs and both write the job group's head on the same
 * version. One commit lands; the other fails its condition, reloads, and finds the records
 * consumed. The rows are in the tables once.
 */
export async function consumersRacing(name: ExampleName, factory: StoreFactory) {
  const w = workload();
  const location = await factory();
  // Partitions append without consuming: a lease held by a third party for the whole append phase.
  const blocker = await new ConsumerLease(
    location.open().heads,
    safeName(exampleJob(name).name),
    60_000,
    () => 1_000,
  ).acquire();
  expect(blocker).toBeDefined();
  const appender = processorFor(name, location.open(), w, LOGS);
  for (const event of w.events) await appender.process(event);
  expect(await consumedOffsets(location.open(), name)).toEqual({});
  // The job group's head exists, so that the first write of each consumer is its commit.
  await readOrCreateHead(location.open().heads, safeName(exampleJob(name).name), 'job');

  const meet = barrier(2);
  let racing = true;
  const holdJobHead = async (call: OpRecord) => {
    if (racing && call.store === 'heads' && call.op === 'put' && call.key.endsWith('/heads/job'))
      await meet();
  };
  const one = faultyStores(location.open(), { beforeCall: holdJobHead });
  const two = faultyStores(location.open(), { beforeCall: holdJobHead });
  // A drain consumes whoever holds the lease (it must reach the end of the input).
  const [a, b] = await Promise.all([
    processorFor(name, one.stores, w, LOGS).drain(),
    processorFor(name, two.stores, w, LOGS).drain(),
  ]);
  racing = false;
  const failed = [...one.log, ...two.log].filter(
    (c) => c.store === 'heads' && c.op === 'put' && c.key.endsWith('/heads/job') && c.outcome === 'error',
  );
  expect(failed.length).toBeGreaterThan(0);
  expect(a.rows.length + b.rows.length).toBeGreaterThan(0);
  expect(await consumedOffsets(location.open(), name)).toEqual(lastOffsets(w));
  await expectExactlyOnce(name, location, w);
  return { location, workload: w };
}

/**
 * A partition appends while another process is consuming (between its read of the logs and its
 * commit). The consumer's commit does not include those records; the consumer, having given the
 * lease up, finds them pending and consumes them before it returns.
 */
export async function appendDuringConsume(name: ExampleName, factory: StoreFactory) {
  const w = workload();
  const location = await factory();
  const slow = stallAt(
    location.open(),
    (call) => call.store === 'heads' && call.op === 'put' && call.key.endsWith('/heads/job'),
    { armed: false },
  );
  const consumer = processorFor(name, slow.stores, w, LOGS);
  const counted = faultyStores(location.open());
  const other = processorFor(name, counted.stores, w, LOGS);
  const half = Math.floor(w.events.length / 2);
  for (const event of w.events.slice(0, half - 1)) await consumer.process(event);
  slow.arm();
  const pending = consumer.process(w.events[half - 1]!);
  await slow.held;
  // The consumer holds the lease: this append skips consuming.
  const appended = await other.process(w.events[half]!);
  expect(appended.commits.every((c) => c.group.startsWith('log:'))).toBe(true);
  // The job group's head is read with each lease attempt (before the append and after it), and
  // the append takes the consumed offsets from the first instead of reading the head again.
  const jobHead = headKey(safeName(exampleJob(name).name), 'job');
  expect(counted.log.filter((c) => c.op === 'get' && c.key === jobHead)).toHaveLength(2);
  slow.release();
  await pending;
  const consumed = await consumedOffsets(location.open(), name);
  for (const [id, records] of Object.entries(w.events[half]!.records))
    expect(consumed[id]).toBe(records[records.length - 1]!.offset);
  for (const event of w.events.slice(half + 1)) await other.process(event);
  await other.drain();
  await expectExactlyOnce(name, location, w);
  return { location, workload: w };
}

/**
 * The consumer crashed holding the lease: appends go on, nothing is consumed while the lease
 * runs, and once it lapses the next invocation consumes everything appended meanwhile.
 */
export async function crashedConsumerLeaseLapses(name: ExampleName, factory: StoreFactory) {
  const w = workload();
  const location = await factory();
  let clock = 1_000;
  const crashed = await new ConsumerLease(
    location.open().heads,
    safeName(exampleJob(name).name),
    20_000,
    () => clock,
  ).acquire();
  expect(crashed).toBeDefined();
  const processor = processorFor(name, location.open(), w, { ...LOGS, clock: () => clock });
  const half = Math.floor(w.events.length / 2);
  for (const event of w.events.slice(0, half)) {
    await processor.process(event);
    clock += 100;
  }
  expect(await consumedOffsets(location.open(), name)).toEqual({});
  clock += 20_000;
  for (const event of w.events.slice(half)) await processor.process(event);
  expect(await consumedOffsets(location.open(), name)).toEqual(lastOffsets(w));
  await processor.drain();
  await expectExactlyOnce(name, location, w);
  return { location, workload: w };
}

/**
 * Cleanup deletes the segments the job group consumed and keeps those it has not. A segment no
 * head lists (an append whose head write failed, or has not landed yet) goes only once its
 * partition's log head has moved past it, whatever its age.
 */
export async function logCleanup(name: ExampleName, factory: StoreFactory) {
  const w = workload();
  const location = await factory();
  const stores = location.open();
  const jobId = safeName(exampleJob(name).name);
  const processor = processorFor(name, stores, w, LOGS);
  for (const event of w.events) await processor.process(event);
  // Pending segments: appended while a lease held elsewhere keeps them from being consumed.
  const blocker = await new ConsumerLease(stores.heads, jobId, 60_000, () => 1_000).acquire();
  expect(blocker).toBeDefined();
  const extra = workload({ seed: 7 });
  const lastOffset = Math.max(...Object.values(lastOffsets(w)));
  const shifted = kafkaEvent(
    Object.values(extra.events[0]!.records)
      .flat()
      .map((r) => ({ ...r, offset: r.offset + lastOffset + 1 })),
  );
  await processor.process(shifted);
  const heads = await listLogHeads(stores.heads, jobId);
  const pending = heads.flatMap((h) =>
    h.value.segments.filter((s) => s.first > lastOffset).map((s) => s.key),
  );
  expect(pending.length).toBeGreaterThan(0);
  // Two unlisted segments of a partition: one the log head has passed (its append can no longer
  // commit), one beyond it (an append that may still be running).
  const head = heads.find((h) => h.value.offset > lastOffset)!;
  const partition = head.key.slice(head.key.lastIndexOf('/') + 1);
  const attempt = `${(1_000).toString(36).padStart(8, '0')}00000000`;
  const passed = `${logSegmentPrefix(jobId, partition)}${head.value.offset}-${head.value.offset}-${attempt}.json`;
  const ahead = `${logSegmentPrefix(jobId, partition)}999990-999999-${attempt}.json`;
  for (const key of [passed, ahead]) await stores.checkpoints.put(key, new TextEncoder().encode('{}'));

  await processor.cleanup();
  const left = await stores.checkpoints.list(logSegmentPrefix(jobId));
  expect(left.sort()).toEqual([...pending, ahead].sort());
  return { location, workload: w };
}

/**
 * With a consume interval, an invocation consumes only if no consume started within it: batches
 * wait in their logs meanwhile, and the tick after the traffic consumes what is left. Fewer job
 * group commits than batches; the same tables.
 */
export async function consumeInterval(name: ExampleName, factory: StoreFactory) {
  const w = workload();
  const location = await factory();
  let clock = 1_000;
  const processor = processorFor(name, location.open(), w, {
    ...LOGS,
    clock: () => clock,
    consumeIntervalMs: 5_000,
  });
  expect(processor.ticksMatter()).toBe(true);
  let consumes = 0;
  for (const event of w.events) {
    const outcome = await processor.process(event);
    if (outcome.commits.some((c) => c.group === 'job')) consumes++;
    clock += 1_000;
  }
  // One consume per 5 s of the 1 s deliveries, give or take the first.
  expect(consumes).toBeLessThanOrEqual(Math.ceil(w.events.length / 5) + 1);
  expect(consumes).toBeGreaterThan(0);
  expect(await consumedOffsets(location.open(), name)).not.toEqual(lastOffsets(w));
  // The ticker's next run, right after the traffic: it consumes whatever the interval says.
  await processor.emitPeriodicWatermarks();
  expect(await consumedOffsets(location.open(), name)).toEqual(lastOffsets(w));
  await processor.drain();
  await expectExactlyOnce(name, location, w);
  return { location, workload: w };
}

/** Writes to the partition logs (segments or log heads) in a store log. */
function logWrites(log: readonly OpRecord[]): OpRecord[] {
  return log.filter(
    (c) => c.op === 'put' && (c.key.includes('/logs/') || c.key.includes('/partition-logs/')),
  );
}

/**
 * The direct path: a process that finds the consumer lease free consumes its own batch in the job
 * group's commit and writes nothing to a log (no segment, no log head); its commit ends the lease
 * (no release). Processes taking turns each find it ended, so no log is ever written, and the
 * rows are exact.
 */
export async function directConsume(name: ExampleName, factory: StoreFactory) {
  const w = workload();
  const location = await factory();
  const faulty = faultyStores(location.open());
  // Two processes in turn (two containers): each finds the lease the other took ended by its
  // commit, with no release written.
  const processors = [processorFor(name, faulty.stores, w, LOGS), processorFor(name, faulty.stores, w, LOGS)];
  for (const [i, event] of w.events.entries()) {
    const outcome = await processors[i % 2]!.process(event);
    expect(outcome.commits.map((c) => c.group)).toEqual(['job']);
  }
  expect(logWrites(faulty.log)).toEqual([]);
  // One lease write a consume: taking it.
  const leaseWrites = faulty.log.filter((c) => c.op === 'put' && c.key.includes('/leases/'));
  expect(leaseWrites).toHaveLength(w.events.length);
  // One read of the job group's head a consume, beside the lease's: the round starts from it,
  // and the last look at the logs takes the offsets the commit left.
  const jobHead = headKey(safeName(exampleJob(name).name), 'job');
  const headReads = faulty.log.filter((c) => c.op === 'get' && c.key === jobHead);
  // (The first consume also reads the head that did not exist yet when it took the lease.)
  expect(headReads.length).toBeLessThanOrEqual(w.events.length + 1);
  expect(await consumedOffsets(location.open(), name)).toEqual(lastOffsets(w));
  await processors[0]!.drain();
  await expectExactlyOnce(name, location, w);
  return { location, workload: w };
}

/**
 * A direct consume whose first round cannot take all the logs hold (`maxRecordsPerRound`): the
 * batch must not skip over what the round left, so it goes to its log after all, and the next
 * rounds of the same consume apply everything in offset order.
 */
export async function directConsumeCutShort(name: ExampleName, factory: StoreFactory) {
  const w = workload({ batchSize: 20 });
  const location = await factory();
  const jobId = safeName(exampleJob(name).name);
  // A third party holds the lease: partition 0's first batches go to its log.
  const blocker = await new ConsumerLease(location.open().heads, jobId, 60_000, () => 1_000).acquire();
  expect(blocker).toBeDefined();
  const [p0, ...others] = partitionEvents(w);
  const appender = processorFor(name, location.open(), w, LOGS);
  for (const event of p0!.slice(0, 3)) await appender.process(event);
  await blocker!.release();

  const faulty = faultyStores(location.open());
  // Rounds of one segment each: the first round leaves two of the three.
  const consumer = processorFor(name, faulty.stores, w, { ...LOGS, maxRecordsPerRound: 1 });
  const batch = p0![3]!;
  const [id, records] = Object.entries(batch.records)[0]!;
  await consumer.process(batch);
  expect(logWrites(faulty.log).some((c) => c.key.includes('/partition-logs/'))).toBe(true);
  expect((await consumedOffsets(location.open(), name))[id]).toBe(records[records.length - 1]!.offset);

  for (const event of p0!.slice(4)) await consumer.process(event);
  for (const events of others) for (const event of events) await consumer.process(event);
  await consumer.drain();
  await expectExactlyOnce(name, location, w);
  return { location, workload: w };
}
