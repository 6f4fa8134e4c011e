/**
 * One ObjectStore over two: keys for which `routesToSecond(key)` holds live in `second`, all
 * others in `first`. A composition, so a store can keep different kinds of objects on different
 * backends (on AWS: checkpoint manifests in S3, small state objects as DynamoDB items) while the
 * commit protocol sees one store.
 */
import { deleteObjects, type ObjectStore, type PutOptions } from './object-store.ts';

export class SplitObjectStore implements ObjectStore {
  constructor(
    private readonly first: ObjectStore,
    private readonly second: ObjectStore,
    private readonly routesToSecond: (key: string) => boolean,
    /** Whether a list prefix can hold keys of each store, to skip a pointless listing. @default - both */
    private readonly prefixReaches: (prefix: string) => { first: boolean; second: boolean } = () => ({
      first: true,
      second: true,
    }),
  ) {}

  private storeOf(key: string): ObjectStore {
    return this.routesToSecond(key) ? this.second : this.first;
  }

  put(key: string, bytes: Uint8Array, options?: PutOptions): Promise<void> {
    return this.storeOf(key).put(key, bytes, options);
  }

  get(key: string): Promise<Uint8Array | undefined> {
    return this.storeOf(key).get(key);
  }

  async list(prefix: string): Promise<string[]> {
    const reach = this.prefixReaches(prefix);
    const [a, b] = await Promise.all([
      reach.first ? this.first.list(prefix) : [],
      reach.second ? this.second.list(prefix) : [],
    ]);
    // Each store answers only for its own keys, so a key is never listed twice.
    return [...a.filter((k) => !this.routesToSecond(k)), ...b.filter((k) => this.routesToSecond(k))].sort();
  }

  delete(key: string): Promise<void> {
    return this.storeOf(key).delete(key);
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    const second = keys.filter((k) => this.routesToSecond(k));
    const first = keys.filter((k) => !this.routesToSecond(k));
    await Promise.all([deleteObjects(this.first, first), deleteObjects(this.second, second)]);
  }

  uri(key: string): string {
    return this.storeOf(key).uri(key);
  }

  keyOf(uri: string): string | undefined {
    return this.first.keyOf(uri) ?? this.second.keyOf(uri);
  }

  toString(): string {
    return `SplitObjectStore(${this.first}, ${this.second})`;
  }
}
