/**
 * The scale benchmark's simulation, tested: the simulated AWS stores keep the store contracts
 * (the ObjectStore contract suite, linearizable conditional writes and catalog swaps, the per-key
 * write limit), and a fleet of 4 simulated Lambda containers sharing them writes exactly the
 * tables the brute-force reference gives, for a partition-scope and a job-scope example.
 */
import { describe, expect, it } from 'vitest';
import { runFleet } from '../../bench/fleet.ts';
import { SimulatedAws, SimulatedThrottlingError } from '../../bench/simulated-aws.ts';
import {
  committerKey,
  consumerLeaseKey,
  headKey,
  logHeadKey,
  logHeadPrefix,
} from '../../runtime/checkpoint/layout.ts';
import { mulberry32 } from '../../runtime/seeded-random.ts';
import { ConditionFailedError } from '../../runtime/stores/state-store.ts';
import { objectStoreContract } from '../contracts/object-store.contract.ts';

objectStoreContract('SimulatedS3 (bench/simulated-aws.ts)', async () => ({
  store: new SimulatedAws({ timeScale: 0.01 }).connect().stores.warehouse,
}));

describe('SimulatedAws', () => {
  it('lets exactly one of many racing conditional head writes win, and versions count up', async () => {
    const sim = new SimulatedAws({ timeScale: 0.05 });
    const racers = Array.from({ length: 20 }, () => sim.connect().stores.heads);
    const created = await Promise.allSettled(racers.map((heads, i) => heads.put('h', i, { absent: true })));
    expect(created.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of created) {
      if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConditionFailedError);
    }
    const updated = await Promise.allSettled(
      racers.map((heads, i) => heads.put('h', i, { expectedVersion: 1 })),
    );
    expect(updated.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((await racers[0]!.get('h'))?.version).toBe(2);
  });

  it('lets exactly one of many racing catalog swaps from the same pointer win', async () => {
    const sim = new SimulatedAws({ timeScale: 0.05 });
    const catalogs = Array.from({ length: 10 }, () => sim.connect().stores.catalog);
    expect(await catalogs[0]!.compareAndSwap('ns.t', undefined, 'm0')).toBe(true);
    const swaps = await Promise.all(catalogs.map((c, i) => c.compareAndSwap('ns.t', 'm0', `m${i + 1}`)));
    expect(swaps.filter(Boolean)).toHaveLength(1);
    expect(await catalogs[0]!.listTables()).toEqual([
      { name: 'ns.t', metadataLocation: `m${swaps.indexOf(true) + 1}` },
    ]);
  });

  it('throttles writes to one key beyond its write units per second, and counts write units', async () => {
    const sim = new SimulatedAws({
      timeScale: 1,
      latencyMs: { ...new SimulatedAws().config.latencyMs, dynamoPut: 0 },
      dynamo: { ...new SimulatedAws().config.dynamo, writeUnitsPerKeyPerSec: 10, burstSeconds: 1 },
    });
    const { heads } = sim.connect().stores;
    const big = 'x'.repeat(1500); // 2 write units
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => heads.put(`k`, `${big}${i}`, undefined)),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    const rejected = results.find((r) => r.status === 'rejected');
    expect((rejected as PromiseRejectedResult).reason).toBeInstanceOf(SimulatedThrottlingError);
    expect(sim.usage.dynamoWriteUnits).toBe(10);
    expect(sim.usage.dynamoThrottles).toBe(3);
    await heads.put('other', big, undefined); // another key has its own capacity
  });

  it('keeps small state objects and log segments as items and manifests in S3, as the AWS stores do', async () => {
    const sim = new SimulatedAws({ timeScale: 0.01 });
    const { checkpoints } = sim.connect().stores;
    const attempt = '0000000a0123abcd';
    const small = new TextEncoder().encode('{"offset":1}');
    await checkpoints.put(`max-price/job/state/bids-0/000000000001-${attempt}.delta.json`, small);
    await checkpoints.put(`max-price/partition-logs/bids-0/0-9-${attempt}.json`, small);
    expect(sim.usage.s3PutRequests).toBe(0);
    expect(sim.usage.dynamoWriteUnits).toBe(2);
    expect(sim.usage.dynamoUnitsByKind.state.write).toBe(1);
    expect(sim.usage.dynamoUnitsByKind.segment.write).toBe(1);
    await checkpoints.put(`max-price/job/manifests/000000000001-${attempt}.json`, small);
    expect(sim.usage.s3PutRequests).toBe(1);
    // Over 5 KB even compressed: the object goes to S3, an item names it.
    const random = mulberry32(7);
    const noise = new Uint8Array(20_000).map(() => Math.floor(random() * 256));
    const big = `max-price/job/state/bids-0/000000000002-${attempt}.json`;
    await checkpoints.put(big, noise);
    expect(sim.usage.s3PutRequests).toBe(2);
    expect(await checkpoints.get(big)).toEqual(noise);
    expect(await checkpoints.list('max-price/partition-logs/')).toEqual([
      `max-price/partition-logs/bids-0/0-9-${attempt}.json`,
    ]);
  });

  it('names what each item of the commit protocol holds, so the bill can be split by it', async () => {
    const sim = new SimulatedAws({ timeScale: 0.01 });
    const { heads } = sim.connect().stores;
    const kb = 'x'.repeat(1500); // 2 write units, 1 read unit
    await heads.put(headKey('max-price', 'job'), kb, undefined);
    await heads.put(logHeadKey('max-price', 'bids-3'), kb, undefined);
    await heads.put(consumerLeaseKey('max-price'), 'held', undefined);
    await heads.put(committerKey('max-price'), 'round', undefined);
    await heads.get(headKey('max-price', 'job'));
    await heads.list(logHeadPrefix('max-price'));
    expect(sim.usage.dynamoUnitsByKind).toMatchObject({
      head: { write: 2, read: 1 },
      logHead: { write: 2, read: 1 },
      lease: { write: 1, read: 0 },
      committer: { write: 1, read: 0 },
      other: { write: 0, read: 0 },
    });
    expect(sim.usage.dynamoWriteUnits).toBe(6);
    expect(sim.usage.dynamoReadUnits).toBe(2);
  });

  it('waits the modelled latency, scaled', async () => {
    const sim = new SimulatedAws({ timeScale: 0.5, jitter: 0 });
    const connection = sim.connect();
    const start = performance.now();
    for (let i = 0; i < 5; i++) await connection.stores.checkpoints.put(`o/${i}`, new Uint8Array(1));
    const wall = performance.now() - start;
    // 5 PUTs of 20 model ms = 100 model ms = 50 wall ms.
    expect(wall).toBeGreaterThanOrEqual(40);
    expect(wall).toBeLessThan(200);
    expect(connection.ioModelMs).toBeGreaterThanOrEqual(80);
  });
});

describe('a simulated fleet of 4 containers', () => {
  it.each([
    ['bids-per-auction', 'partition'],
    ['max-price', 'job'],
    ['bidder-sessions', 'job'],
  ] as const)('%s (%s scope) writes exactly the reference tables', async (example, scope) => {
    const result = await runFleet({
      example,
      partitions: 4,
      batchesPerPartition: 8,
      batchSize: 50,
      eventsPerSecond: 100,
      sim: { timeScale: 0.2 },
    });
    expect(result.scope).toBe(scope);
    expect(result.batches).toBe(32);
    expect(result.records).toBe(1_600);
    expect(result.commits).toBeGreaterThanOrEqual(32);
    expect(result.check).toMatchObject({ ok: true, missing: 0, extra: 0, deadLetters: 0 });
    expect(result.check!.expectedRows).toBeGreaterThan(0);
    if (scope === 'partition') {
      // One head per partition: nobody races for it.
      expect(result.conflicts.headConflicts).toBe(0);
      expect(result.redoneBatches).toBe(0);
    }
  });

  it.each([
    [0, 'every commit runs a round: the containers race their rounds on every table'],
    [300, 'a round every 300 model ms: containers contend for the lease'],
  ] as const)(
    'bids-per-auction, publishing every %i ms (%s), writes exactly the reference tables',
    async (publishIntervalMs, _why) => {
      const result = await runFleet({
        example: 'bids-per-auction',
        partitions: 4,
        batchesPerPartition: 8,
        batchSize: 50,
        eventsPerSecond: 100,
        sim: { timeScale: 0.2 },
        publishIntervalMs,
      });
      expect(result.check).toMatchObject({ ok: true, missing: 0, extra: 0, deadLetters: 0 });
      expect(result.rounds).toBeGreaterThan(publishIntervalMs === 0 ? 20 : 1);
      if (publishIntervalMs > 0) expect(result.rounds).toBeLessThan(result.commits);
    },
  );
});
