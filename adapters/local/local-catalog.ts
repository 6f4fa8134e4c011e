/**
 * LocalCatalog keeps table pointers in a directory, for local runs and tests: each commit
 * creates a new numbered pointer file `<dir>/<table>/v<20 digits>.json` holding the metadata
 * location, and the current pointer is the highest number.
 *
 * The version number is the compare-and-swap token. A writer that read version N as current
 * creates N + 1 with link() (via {@link createExclusive}), which fails if the file exists: of two
 * racing processes exactly one wins, and the loser sees `false`. Pointer files are written to a
 * temporary file and fsynced before they get their name, so after kill -9 at any instruction a
 * pointer file is either complete or absent.
 *
 * Old pointer files are kept: deleting version N would let a writer that still believes N - 1
 * is current recreate N and wrongly report success. They are tiny (one line each).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { IcebergError } from '../../runtime/iceberg/errors.ts';
import { assertTableName } from '../../runtime/iceberg/table-layout.ts';
import type { Catalog, CatalogTable } from '../../runtime/stores/catalog.ts';
import { createExclusive, errorCode } from './durable-file.ts';
import { fsStorageError, isPermanentFsError } from './fs-errors.ts';

const POINTER = /^v(\d{20})\.json$/;

export class LocalCatalog implements Catalog {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  async currentMetadataLocation(name: string): Promise<string | undefined> {
    const version = await this.currentVersion(name);
    return version === undefined ? undefined : this.readPointer(name, version);
  }

  async compareAndSwap(name: string, expected: string | undefined, next: string): Promise<boolean> {
    const version = await this.currentVersion(name);
    const current = version === undefined ? undefined : await this.readPointer(name, version);
    if (current !== expected) return false;
    const body = `${JSON.stringify({ 'metadata-location': next })}\n`;
    try {
      const outcome = await createExclusive(
        this.pointerPath(name, (version ?? 0) + 1),
        new TextEncoder().encode(body),
      );
      return outcome === 'created';
    } catch (error) {
      throw this.failure(`swap the pointer of ${name} to ${next}`, error);
    }
  }

  async listTables(): Promise<CatalogTable[]> {
    let names: string[];
    try {
      names = (await readdir(this.dir, { withFileTypes: true }))
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return [];
      throw this.failure('list tables', error);
    }
    const tables: CatalogTable[] = [];
    for (const name of names.sort()) {
      try {
        assertTableName(name);
      } catch {
        continue; // not a table directory
      }
      const metadataLocation = await this.currentMetadataLocation(name);
      if (metadataLocation !== undefined) tables.push({ name, metadataLocation });
    }
    return tables;
  }

  toString(): string {
    return `LocalCatalog(${this.dir})`;
  }

  private async currentVersion(name: string): Promise<number | undefined> {
    assertTableName(name);
    let entries: string[];
    try {
      entries = await readdir(join(this.dir, name));
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      throw this.failure(`read the pointers of ${name}`, error);
    }
    let highest: number | undefined;
    for (const entry of entries) {
      const match = POINTER.exec(entry);
      if (match !== null) highest = Math.max(highest ?? 0, Number(match[1]));
    }
    return highest;
  }

  private async readPointer(name: string, version: number): Promise<string> {
    const path = this.pointerPath(name, version);
    try {
      const pointer: unknown = JSON.parse(await readFile(path, 'utf8'));
      const location = (pointer as { 'metadata-location'?: unknown })['metadata-location'];
      if (typeof location !== 'string') throw new Error('no "metadata-location" string');
      return location;
    } catch (error) {
      throw this.failure(`read the pointer ${path} of ${name}`, error);
    }
  }

  private pointerPath(name: string, version: number): string {
    return join(this.dir, name, `v${String(version).padStart(20, '0')}.json`);
  }

  private failure(action: string, cause: unknown): Error {
    // A failure retrying cannot heal (permissions, a full disk) stays a PermanentStorageError.
    if (isPermanentFsError(cause)) return fsStorageError(`${this} could not ${action}`, cause);
    const reason = cause instanceof Error ? cause.message : String(cause);
    return new IcebergError(`${this} could not ${action}: ${reason}`, { cause });
  }
}
