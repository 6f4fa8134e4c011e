/**
 * The Catalog contract (runtime/stores/catalog.ts) as a vitest suite, run by every
 * implementation: `catalogContract('LocalCatalog', async () => ({ catalog }))`. The factory
 * returns a fresh, empty catalog and an optional cleanup.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Catalog } from '../../runtime/stores/catalog.ts';

export interface CatalogFixture {
  readonly catalog: Catalog;
  readonly cleanup?: () => Promise<void>;
}

export function catalogContract(name: string, factory: () => Promise<CatalogFixture>): void {
  describe(`Catalog contract: ${name}`, () => {
    let catalog: Catalog;
    let cleanup: (() => Promise<void>) | undefined;

    beforeEach(async () => {
      ({ catalog, cleanup } = await factory());
    });
    afterEach(async () => {
      await cleanup?.();
    });

    it('knows no table before the first swap', async () => {
      expect(await catalog.currentMetadataLocation('ns.t')).toBeUndefined();
      expect(await catalog.listTables()).toEqual([]);
    });

    it('creates a table with a swap from undefined, then moves the pointer', async () => {
      expect(await catalog.compareAndSwap('ns.t', undefined, 's3://w/ns/t/metadata/1.json')).toBe(true);
      expect(await catalog.currentMetadataLocation('ns.t')).toBe('s3://w/ns/t/metadata/1.json');
      expect(
        await catalog.compareAndSwap('ns.t', 's3://w/ns/t/metadata/1.json', 's3://w/ns/t/metadata/2.json'),
      ).toBe(true);
      expect(await catalog.currentMetadataLocation('ns.t')).toBe('s3://w/ns/t/metadata/2.json');
    });

    it('refuses a stale swap and a second create, changing nothing', async () => {
      await catalog.compareAndSwap('ns.t', undefined, 'm/1');
      await catalog.compareAndSwap('ns.t', 'm/1', 'm/2');
      expect(await catalog.compareAndSwap('ns.t', 'm/1', 'm/3')).toBe(false);
      expect(await catalog.compareAndSwap('ns.t', undefined, 'm/3')).toBe(false);
      expect(await catalog.currentMetadataLocation('ns.t')).toBe('m/2');
      // A swap of a table that does not exist fails and creates nothing.
      expect(await catalog.compareAndSwap('ns.none', 'm/1', 'm/2')).toBe(false);
      expect(await catalog.currentMetadataLocation('ns.none')).toBeUndefined();
    });

    it('lets exactly one of many concurrent swaps from one location win', async () => {
      await catalog.compareAndSwap('ns.t', undefined, 'm/base');
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) => catalog.compareAndSwap('ns.t', 'm/base', `m/${i}`)),
      );
      const winners = results.flatMap((won, i) => (won ? [i] : []));
      expect(winners).toHaveLength(1);
      expect(await catalog.currentMetadataLocation('ns.t')).toBe(`m/${winners[0]}`);
    });

    it('lets exactly one of many concurrent creates win', async () => {
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) => catalog.compareAndSwap('ns.new', undefined, `m/${i}`)),
      );
      const winners = results.flatMap((won, i) => (won ? [i] : []));
      expect(winners).toHaveLength(1);
      expect(await catalog.currentMetadataLocation('ns.new')).toBe(`m/${winners[0]}`);
    });

    it('keeps every won swap when writers race to extend one chain', async () => {
      await catalog.compareAndSwap('ns.chain', undefined, 'start');
      const won: string[] = [];
      const writer = async (id: string) => {
        for (let i = 0, mine = 0; mine < 4; i++) {
          const current = await catalog.currentMetadataLocation('ns.chain');
          if (await catalog.compareAndSwap('ns.chain', current, `${id}-${i}`)) {
            won.push(`${id}-${i}`);
            mine++;
          }
        }
      };
      await Promise.all([writer('a'), writer('b'), writer('c')]);
      expect(won).toHaveLength(12);
      expect(await catalog.currentMetadataLocation('ns.chain')).toBe(won.at(-1));
    });

    it('lists tables with their current location, sorted by name, across namespaces', async () => {
      await catalog.compareAndSwap('ns.b', undefined, 'b/1');
      await catalog.compareAndSwap('ns.a', undefined, 'a/1');
      await catalog.compareAndSwap('ns.a', 'a/1', 'a/2');
      await catalog.compareAndSwap('other.z', undefined, 'z/1');
      await catalog.compareAndSwap('deep.er.t', undefined, 't/1');
      expect(await catalog.listTables()).toEqual([
        { name: 'deep.er.t', metadataLocation: 't/1' },
        { name: 'ns.a', metadataLocation: 'a/2' },
        { name: 'ns.b', metadataLocation: 'b/1' },
        { name: 'other.z', metadataLocation: 'z/1' },
      ]);
    });

    it('lists many tables (across pages)', async () => {
      const names = Array.from({ length: 15 }, (_, i) => `many.t${String(i).padStart(2, '0')}`);
      await Promise.all(names.map((name) => catalog.compareAndSwap(name, undefined, `${name}/1`)));
      expect(await catalog.listTables()).toEqual(
        names.map((name) => ({ name, metadataLocation: `${name}/1` })),
      );
    });

    it('rejects table names that are not namespace.name, naming the name', async () => {
      await expect(catalog.currentMetadataLocation('../escape')).rejects.toThrow(
        /Invalid table name "..\/escape"/,
      );
      await expect(catalog.compareAndSwap('plain', undefined, 'x')).rejects.toThrow(
        /Invalid table name "plain"/,
      );
    });
  });
}
