import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { removeScratch, track } from '../../test/support/cleanup.ts';
import { LocalCatalog } from './local-catalog.ts';

let dir: string;
let catalog: LocalCatalog;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'floe-catalog-'));
  catalog = new LocalCatalog(dir);
});

afterEach(async () => {
  await removeScratch(dir);
});

describe('LocalCatalog', () => {
  it('knows no table before the first swap', async () => {
    expect(await catalog.currentMetadataLocation('ns.t')).toBeUndefined();
    expect(await catalog.listTables()).toEqual([]);
  });

  it('creates a table with a swap from undefined, then moves the pointer', async () => {
    expect(await catalog.compareAndSwap('ns.t', undefined, 'file:///m/1')).toBe(true);
    expect(await catalog.compareAndSwap('ns.t', 'file:///m/1', 'file:///m/2')).toBe(true);

    expect(await catalog.currentMetadataLocation('ns.t')).toBe('file:///m/2');
  });

  it('refuses a swap whose expected location is stale, changing nothing', async () => {
    await catalog.compareAndSwap('ns.t', undefined, 'file:///m/1');
    await catalog.compareAndSwap('ns.t', 'file:///m/1', 'file:///m/2');

    expect(await catalog.compareAndSwap('ns.t', 'file:///m/1', 'file:///m/3')).toBe(false);
    expect(await catalog.compareAndSwap('ns.t', undefined, 'file:///m/3')).toBe(false);
    expect(await catalog.currentMetadataLocation('ns.t')).toBe('file:///m/2');
  });

  it('lets exactly one of many concurrent swaps from the same location win', async () => {
    await catalog.compareAndSwap('ns.t', undefined, 'file:///m/base');

    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        catalog.compareAndSwap('ns.t', 'file:///m/base', `file:///m/${i}`),
      ),
    );

    const winners = results.flatMap((won, i) => (won ? [i] : []));
    expect(winners).toHaveLength(1);
    expect(await catalog.currentMetadataLocation('ns.t')).toBe(`file:///m/${winners[0]}`);
  });

  it('loses no successful swap when two processes race to extend the same chain', async () => {
    // Each process repeatedly reads the pointer and swaps it to a new location naming itself; a
    // swap it saw succeed must show up exactly once in the pointer history, in the order won.
    await catalog.compareAndSwap('ns.race', undefined, 'start');
    const moduleUrl = new URL('./local-catalog.ts', import.meta.url).href;
    const worker = (id: string) => `
      const { LocalCatalog } = await import(${JSON.stringify(moduleUrl)});
      const catalog = new LocalCatalog(${JSON.stringify(dir)});
      const won = [];
      for (let i = 0; won.length < 25; i++) {
        const current = await catalog.currentMetadataLocation('ns.race');
        const next = '${id}-' + i;
        if (await catalog.compareAndSwap('ns.race', current, next)) won.push(next);
      }
      process.stdout.write(JSON.stringify(won));
    `;
    const run = (id: string) =>
      new Promise<string[]>((resolve, reject) => {
        const child = track(
          spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', worker(id)], {
            stdio: ['ignore', 'pipe', 'inherit'],
          }),
        );
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
        });
        child.once('exit', (code) =>
          code === 0 ? resolve(JSON.parse(out) as string[]) : reject(new Error(`exit ${code}`)),
        );
      });

    const [a, b] = await Promise.all([run('a'), run('b')]);

    const history = await pointerHistory('ns.race');
    expect(history).toHaveLength(1 + a.length + b.length);
    expect(history[0]).toBe('start');
    expect(history.filter((l) => l.startsWith('a-'))).toEqual(a);
    expect(history.filter((l) => l.startsWith('b-'))).toEqual(b);
  });

  it('lists tables with their current metadata location, sorted by name', async () => {
    await catalog.compareAndSwap('ns.b', undefined, 'file:///b/1');
    await catalog.compareAndSwap('ns.a', undefined, 'file:///a/1');
    await catalog.compareAndSwap('ns.a', 'file:///a/1', 'file:///a/2');

    expect(await catalog.listTables()).toEqual([
      { name: 'ns.a', metadataLocation: 'file:///a/2' },
      { name: 'ns.b', metadataLocation: 'file:///b/1' },
    ]);
  });

  it('rejects table names that are not namespace.name', async () => {
    await expect(catalog.currentMetadataLocation('../escape')).rejects.toThrow(/Invalid table name/);
    await expect(catalog.compareAndSwap('plain', undefined, 'x')).rejects.toThrow(/Invalid table name/);
  });
});

async function pointerHistory(name: string): Promise<string[]> {
  const files = (await readdir(join(dir, name))).filter((f) => /^v\d{20}\.json$/.test(f)).sort();
  const history: string[] = [];
  for (const file of files) {
    history.push(
      (JSON.parse(await readFile(join(dir, name, file), 'utf8')) as { 'metadata-location': string })[
        'metadata-location'
      ],
    );
  }
  return history;
}
