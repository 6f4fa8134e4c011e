import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { localCheckpointStores } from '../../adapters/local/run-directory.ts';
import { addRequestCounts, meterRequests, NO_REQUESTS } from './request-meter.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'floe-meter-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('meterRequests', () => {
  it('counts requests and bytes per store and operation', async () => {
    const meter = meterRequests(localCheckpointStores(dir));
    const { checkpoints, heads } = meter.stores;
    await checkpoints.put('a/1', new Uint8Array(100));
    expect((await checkpoints.get('a/1'))?.byteLength).toBe(100);
    expect(await checkpoints.get('a/missing')).toBeUndefined();
    await heads.put('h', { epoch: 1 }, { absent: true });

    const counts = meter.take();
    expect(counts.operations['checkpoints.put']).toEqual({
      requests: 1,
      bytesOut: 100,
      bytesIn: 0,
      errors: 0,
    });
    expect(counts.operations['checkpoints.get']).toEqual({
      requests: 2,
      bytesOut: 0,
      bytesIn: 100,
      errors: 0,
    });
    expect(counts.operations['heads.put']?.bytesOut).toBe(JSON.stringify({ epoch: 1 }).length);
    expect(counts.requests).toBe(4);
    expect(meter.take()).toEqual(NO_REQUESTS);
  });

  it('counts parallel requests as one round trip and sequential ones as one each', async () => {
    const meter = meterRequests(localCheckpointStores(dir));
    const { checkpoints } = meter.stores;
    await Promise.all([1, 2, 3, 4].map((i) => checkpoints.put(`p/${i}`, new Uint8Array(1))));
    expect(meter.peek().roundTrips).toBe(1);
    await checkpoints.get('p/1');
    await checkpoints.get('p/2');
    const counts = meter.take();
    expect(counts.roundTrips).toBe(3);
    expect(counts.requests).toBe(6);
  });

  it('counts failed requests, such as a failed condition, as errors', async () => {
    const meter = meterRequests(localCheckpointStores(dir));
    await meter.stores.heads.put('h', 1, { absent: true });
    await expect(meter.stores.heads.put('h', 2, { absent: true })).rejects.toThrow(/Conditional write/);
    expect(meter.take().operations['heads.put']).toMatchObject({ requests: 2, errors: 1 });
  });

  it('leaves uri and keyOf as local calls that make no request', async () => {
    const meter = meterRequests(localCheckpointStores(dir));
    const uri = meter.stores.warehouse.uri('ns/t/data/x.parquet');
    expect(meter.stores.warehouse.keyOf(uri)).toBe('ns/t/data/x.parquet');
    expect(String(meter.stores.warehouse)).toBe(String(localCheckpointStores(dir).warehouse));
    expect(meter.take().requests).toBe(0);
  });

  it('adds counts of several invocations', () => {
    const one = {
      operations: { 'heads.put': { requests: 1, bytesOut: 10, bytesIn: 0, errors: 0 } },
      requests: 1,
      bytesOut: 10,
      bytesIn: 0,
      roundTrips: 1,
    };
    const sum = addRequestCounts(addRequestCounts(NO_REQUESTS, one), one);
    expect(sum.operations['heads.put']).toEqual({ requests: 2, bytesOut: 20, bytesIn: 0, errors: 0 });
    expect(sum.roundTrips).toBe(2);
  });
});
