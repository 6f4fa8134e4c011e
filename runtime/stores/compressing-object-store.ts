/**
 * CompressingObjectStore compresses what it writes to another ObjectStore and decompresses what it
 * reads, like Flink's checkpoint compression (`execution.checkpointing.snapshot-compression`).
 * Floe uses it for the checkpoints store only: manifests and state objects are JSON, which gzip
 * or zstd shrink several times over, while the warehouse's Parquet files are compressed already
 * and must stay readable by other engines.
 *
 * Format: a compressed object is a plain gzip member or zstd frame, recognised on read by its own
 * magic number (gzip `1f 8b`, zstd `28 b5 2f fd`), so `zcat` or `zstd -d` open it as it is, the
 * codec can change between runs, and objects written without compression (or before it was
 * turned on) stay readable: they are JSON and start with `{`. Bytes that would be mistaken for a
 * compressed object (they start with one of the magics) are always written gzip-compressed, so
 * every object reads back exactly as it was put, whatever its content and whatever the codec.
 *
 * Compression is deterministic for one input and codec, so a retried put writes the same bytes
 * (the S3 store and `writeDataFile` compare them after a lost response).
 */
import { promisify } from 'node:util';
import { gunzip, gzip, zstdCompress, zstdDecompress } from 'node:zlib';
import { FloeConfigError } from '../errors.ts';
import type { CheckpointStores } from './checkpoint-stores.ts';
import { deleteObjects, type ObjectStore, type PutOptions, StorageError } from './object-store.ts';

/** How checkpoint objects are compressed. `zstd` compresses about as well as gzip at a fraction of the CPU. */
export type CheckpointCompression = 'none' | 'gzip' | 'zstd';

export const CHECKPOINT_COMPRESSIONS: readonly CheckpointCompression[] = ['none', 'gzip', 'zstd'];

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);
const zstdCompressAsync = promisify(zstdCompress);
const zstdDecompressAsync = promisify(zstdDecompress);

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

/** The codec an object was written with, from its first bytes. */
export function detectCompression(bytes: Uint8Array): CheckpointCompression {
  if (startsWith(bytes, GZIP_MAGIC)) return 'gzip';
  if (startsWith(bytes, ZSTD_MAGIC)) return 'zstd';
  return 'none';
}

/** `bytes` as the codec writes them (see the module comment for bytes that look compressed already). */
export async function compress(bytes: Uint8Array, codec: CheckpointCompression): Promise<Uint8Array> {
  if (codec === 'zstd') return toUint8Array(await zstdCompressAsync(bytes));
  if (codec === 'gzip' || detectCompression(bytes) !== 'none') return toUint8Array(await gzipAsync(bytes));
  return bytes;
}

/** The original bytes of an object written by {@link compress} with any codec, or of an uncompressed one. */
export async function decompress(bytes: Uint8Array): Promise<Uint8Array> {
  switch (detectCompression(bytes)) {
    case 'gzip':
      return toUint8Array(await gunzipAsync(bytes));
    case 'zstd':
      return toUint8Array(await zstdDecompressAsync(bytes));
    default:
      return bytes;
  }
}

export class CompressingObjectStore implements ObjectStore {
  constructor(
    readonly inner: ObjectStore,
    readonly codec: CheckpointCompression,
  ) {
    if (!CHECKPOINT_COMPRESSIONS.includes(codec)) {
      throw new FloeConfigError(
        `Unknown checkpoint compression "${String(codec)}". Use one of ${CHECKPOINT_COMPRESSIONS.join(', ')}.`,
      );
    }
  }

  async put(key: string, bytes: Uint8Array, options?: PutOptions): Promise<void> {
    await this.inner.put(key, await compress(bytes, this.codec), options);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const bytes = await this.inner.get(key);
    if (bytes === undefined) return undefined;
    try {
      return await decompress(bytes);
    } catch (error) {
      throw new StorageError(
        `Could not decompress ${key} in ${this}: ${error instanceof Error ? error.message : String(error)}. The object is damaged or was not written by Floe.`,
        { cause: error },
      );
    }
  }

  list(prefix: string): Promise<string[]> {
    return this.inner.list(prefix);
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }

  deleteMany(keys: readonly string[]): Promise<void> {
    return deleteObjects(this.inner, keys);
  }

  uri(key: string): string {
    return this.inner.uri(key);
  }

  keyOf(uri: string): string | undefined {
    return this.inner.keyOf(uri);
  }

  toString(): string {
    return `Compressing(${this.codec}, ${String(this.inner)})`;
  }
}

/** `stores` with the checkpoints store compressed by `codec` (the other stores unchanged). */
export function withCheckpointCompression(
  stores: CheckpointStores,
  codec: CheckpointCompression,
): CheckpointStores {
  if (codec === 'none') return stores;
  return { ...stores, checkpoints: new CompressingObjectStore(stores.checkpoints, codec) };
}

function startsWith(bytes: Uint8Array, magic: readonly number[]): boolean {
  return bytes.length >= magic.length && magic.every((byte, i) => bytes[i] === byte);
}

function toUint8Array(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}
