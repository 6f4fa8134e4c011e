/** A catalog for tests of lost catalog races. */
import type { Catalog } from '../../runtime/stores/catalog.ts';

/** A catalog whose next swap first lets `interfere` commit, so that the swap loses the race. */
export class InterferingCatalog implements Catalog {
  interfere: (() => Promise<void>) | undefined;
  swaps = 0;

  constructor(private readonly inner: Catalog) {}

  currentMetadataLocation(name: string) {
    return this.inner.currentMetadataLocation(name);
  }

  async compareAndSwap(name: string, expected: string | undefined, next: string) {
    this.swaps++;
    const interfere = this.interfere;
    this.interfere = undefined;
    await interfere?.();
    return this.inner.compareAndSwap(name, expected, next);
  }

  listTables() {
    return this.inner.listTables();
  }
}
