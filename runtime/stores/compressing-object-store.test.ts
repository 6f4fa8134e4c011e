import { gunzipSync, zstdDecompressSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { CheckpointStores } from './checkpoint-stores.ts';
import {
  CompressingObjectStore,
  compress,
  decompress,
  detectCompression,
  withCheckpointCompression,
} from './compressing-object-store.ts';
import type { ObjectStore } from './object-store.ts';

/** The bytes as stored, to look under the wrapper. */
function memoryStore(): ObjectStore & { readonly objects: Map<string, Uint8Array> } {
  const objects = new Map<string, Uint8Array>();
  return {
    objects,
    put: async (key, bytes) => {
      objects.set(key, bytes);
    },
    get: async (key) => objects.get(key),
    list: async (prefix) => [...objects.keys()].filter((k) => k.startsWith(prefix)).sort(),
    delete: async (key) => {
      objects.delete(key);
    },
    uri: (key) => `mem:///${key}`,
    keyOf: (uri) => (uri.startsWith('mem:///') ? uri.slice(7) : undefined),
  };
}

const manifest = new TextEncoder().encode(
  JSON.stringify({
    format: 1,
    partitions: Object.fromEntries(
      Array.from({ length: 200 }, (_, i) => [
        i,
        { offset: i * 1000, state: `job/g/state/${i}/000000000042-abc.json` },
      ]),
    ),
  }),
);

describe('CompressingObjectStore', () => {
  it.each(['gzip', 'zstd'] as const)(
    'writes %s that the codec itself reads, smaller, and reads it back',
    async (codec) => {
      const inner = memoryStore();
      const store = new CompressingObjectStore(inner, codec);

      await store.put('m.json', manifest);

      const stored = inner.objects.get('m.json')!;
      expect(detectCompression(stored)).toBe(codec);
      expect(stored.length).toBeLessThan(manifest.length / 4);
      const plain = codec === 'gzip' ? gunzipSync(stored) : zstdDecompressSync(stored);
      expect(new Uint8Array(plain)).toEqual(manifest);
      expect(await store.get('m.json')).toEqual(manifest);
    },
  );

  it('reads objects written without compression, and ones written with another codec', async () => {
    const inner = memoryStore();
    await inner.put('old.json', manifest);
    await new CompressingObjectStore(inner, 'gzip').put('gzip.json', manifest);
    const store = new CompressingObjectStore(inner, 'zstd');
    await store.put('zstd.json', manifest);

    for (const key of ['old.json', 'gzip.json', 'zstd.json']) expect(await store.get(key)).toEqual(manifest);
    expect(await new CompressingObjectStore(inner, 'none').get('zstd.json')).toEqual(manifest);
    expect(await store.get('missing')).toBeUndefined();
    expect(await store.list('')).toEqual(['gzip.json', 'old.json', 'zstd.json']);
  });

  it('keeps bytes that look compressed readable as they were, with codec none', async () => {
    const inner = memoryStore();
    const store = new CompressingObjectStore(inner, 'none');
    const lookalikes = [
      Uint8Array.of(0x1f, 0x8b, 1, 2, 3),
      Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 9),
      Uint8Array.of(0x1f),
      new Uint8Array(0),
    ];

    for (const [i, bytes] of lookalikes.entries()) {
      await store.put(`k${i}`, bytes);
      expect(await store.get(`k${i}`)).toEqual(bytes);
    }
    await store.put('plain', manifest);
    expect(inner.objects.get('plain')).toBe(manifest); // none stores JSON as it is
  });

  it('compresses deterministically, so a retried put writes the same bytes', async () => {
    for (const codec of ['gzip', 'zstd'] as const) {
      expect(await compress(manifest, codec)).toEqual(await compress(manifest, codec));
      expect(await decompress(await compress(manifest, codec))).toEqual(manifest);
    }
  });

  it('fails a damaged object with a StorageError naming the key', async () => {
    const inner = memoryStore();
    await inner.put('bad', Uint8Array.of(0x1f, 0x8b, 0x08, 0, 0));

    await expect(new CompressingObjectStore(inner, 'gzip').get('bad')).rejects.toThrow(/decompress bad/);
  });

  it('rejects an unknown codec, and wraps only the checkpoints store', () => {
    expect(() => new CompressingObjectStore(memoryStore(), 'lz4' as never)).toThrow(/none, gzip, zstd/);
    const stores = {
      heads: {},
      checkpoints: memoryStore(),
      warehouse: memoryStore(),
      catalog: {},
    } as unknown as CheckpointStores;
    const wrapped = withCheckpointCompression(stores, 'zstd');
    expect(wrapped.checkpoints).toBeInstanceOf(CompressingObjectStore);
    expect(wrapped.warehouse).toBe(stores.warehouse);
    expect(withCheckpointCompression(stores, 'none')).toBe(stores);
  });
});
