/**
 * TieredObjectStore against the local DynamoDB server (moto), with a LocalObjectStore as the large
 * tier: what is particular to the tiers. The object-store contract runs on it in
 * tiered-object-store.contract.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PreconditionFailedError } from '../../runtime/stores/object-store.ts';
import { localDynamoDbClient, uniqueTableName } from '../../test/support/local-dynamodb.ts';
import { LocalObjectStore } from '../local/local-object-store.ts';
import { deleteLocalTable, ensureStateTable } from './dynamodb-tables.ts';
import { TieredObjectStore } from './tiered-object-store.ts';

const client = localDynamoDbClient();
const table = uniqueTableName('floe-tiered');
const LIMIT = 100;

let dir: string;
let large: LocalObjectStore;
let store: TieredObjectStore;

beforeAll(async () => {
  await ensureStateTable(client, table, { create: true });
});
afterAll(async () => {
  await deleteLocalTable(client, table);
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'floe-tiered-'));
  large = new LocalObjectStore(dir);
  store = new TieredObjectStore({
    client,
    tableName: table,
    namespace: `checkpoints#${randomUUID()}`,
    large,
    inlineLimit: LIMIT,
    pageSize: 3,
  });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const bytesOf = (n: number, fill = 7) => new Uint8Array(n).fill(fill);

describe('TieredObjectStore', () => {
  it('keeps objects up to the limit inline and spills larger ones, reading both back exactly', async () => {
    await store.put('j/g/state/p0/small.json', bytesOf(LIMIT, 1));
    await store.put('j/g/state/p0/large.json', bytesOf(LIMIT + 1, 2));
    await store.put('j/g/state/p0/empty.json', new Uint8Array());
    expect(await store.get('j/g/state/p0/small.json')).toEqual(bytesOf(LIMIT, 1));
    expect(await store.get('j/g/state/p0/large.json')).toEqual(bytesOf(LIMIT + 1, 2));
    expect(await store.get('j/g/state/p0/empty.json')).toEqual(new Uint8Array());
    expect(await store.get('j/g/state/p0/missing.json')).toBeUndefined();
    const blobs = await large.list('');
    expect(blobs).toHaveLength(1);
    expect(blobs[0]).toMatch(/^j\/g\/state\/p0\/large\.json\.[0-9a-f-]{36}\.spill$/);
  });

  it('lists the keys of both tiers, sorted, by prefix, across pages', async () => {
    const keys = Array.from({ length: 8 }, (_, i) => `m/${i}.json`);
    await Promise.all(
      keys.map((key, i) => store.put(key, bytesOf(i % 2 === 0 ? 10 : 500), { ifNoneMatch: '*' })),
    );
    await store.put('n/other.json', bytesOf(1));
    expect(await store.list('m/')).toEqual(keys);
    expect(await store.list('')).toEqual([...keys, 'n/other.json']);
    expect(await store.list('zz')).toEqual([]);
  });

  it('has exactly one winner among racing conditional creates, inline and spilled alike', async () => {
    const sizes = [10, 500, 20, 600, 30, 700, 40, 800];
    const results = await Promise.allSettled(
      sizes.map((size, i) => store.put('race.json', bytesOf(size, i), { ifNoneMatch: '*' })),
    );
    const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    expect(winners).toHaveLength(1);
    for (const r of results)
      if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(PreconditionFailedError);
    const w = winners[0]!;
    expect(await store.get('race.json')).toEqual(bytesOf(sizes[w]!, w));
    // Losers took their blobs back: only the winner's (if it spilled) is left.
    expect(await large.list('')).toHaveLength(sizes[w]! > LIMIT ? 1 : 0);
  });

  it('refuses a conditional create of an existing key, whatever its tier', async () => {
    await store.put('a.json', bytesOf(500), { ifNoneMatch: '*' });
    await expect(store.put('a.json', bytesOf(5), { ifNoneMatch: '*' })).rejects.toThrow(
      PreconditionFailedError,
    );
    await store.put('b.json', bytesOf(5), { ifNoneMatch: '*' });
    await expect(store.put('b.json', bytesOf(500), { ifNoneMatch: '*' })).rejects.toThrow(
      /b\.json already exists/,
    );
    expect(await store.get('a.json')).toEqual(bytesOf(500));
    expect(await store.get('b.json')).toEqual(bytesOf(5));
    expect(await large.list('')).toHaveLength(1);
  });

  it('replaces across tiers and deletes the replaced blob; delete removes both item and blob', async () => {
    await store.put('r.json', bytesOf(500, 1));
    await store.put('r.json', bytesOf(600, 2));
    expect(await large.list('')).toHaveLength(1);
    await store.put('r.json', bytesOf(5, 3));
    expect(await large.list('')).toEqual([]);
    expect(await store.get('r.json')).toEqual(bytesOf(5, 3));
    await store.put('r.json', bytesOf(700, 4));
    await store.delete('r.json');
    expect(await store.get('r.json')).toBeUndefined();
    expect(await large.list('')).toEqual([]);
    await store.delete('r.json'); // missing: not an error
  });

  it('names the missing blob when an item points at one the large store lost', async () => {
    await store.put('lost.json', bytesOf(500));
    const [blob] = await large.list('');
    await large.delete(blob!);
    await expect(store.get('lost.json')).rejects.toThrow(
      /lost\.json names the spilled blob .* which is missing/,
    );
  });

  it('round-trips keys through uri and keyOf, and validates keys and the limit', async () => {
    const uri = store.uri('a/b.json');
    expect(uri).toMatch(/^dynamodb:\/\/floe-tiered-[^/]+\/checkpoints%23[0-9a-f-]+\/a\/b\.json$/);
    expect(store.keyOf(uri)).toBe('a/b.json');
    expect(store.keyOf('s3://elsewhere/a/b.json')).toBeUndefined();
    await expect(store.put('../x', bytesOf(1))).rejects.toThrow(TypeError);
    expect(
      () =>
        new TieredObjectStore({ client, tableName: table, namespace: 'n', large, inlineLimit: 400 * 1024 }),
    ).toThrow(/inlineLimit/);
  });
});
