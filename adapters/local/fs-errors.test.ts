import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  PermanentStorageError,
  permanentStorageError,
  StorageError,
} from '../../runtime/stores/object-store.ts';
import { fsStorageError } from './fs-errors.ts';
import { LocalObjectStore } from './local-object-store.ts';
import { LocalStateStore } from './local-state-store.ts';

const systemError = (code: string, path: string) =>
  Object.assign(new Error(`${code}: ${path}`), { code, path });

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'floe-fs-errors-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('fsStorageError', () => {
  it.each([
    ['EACCES', /permission denied; make it writable/],
    ['EPERM', /not permitted/],
    ['EROFS', /read-only; use a directory on a writable file system/],
    ['ENOSPC', /no space left on the device/],
    ['ENOTDIR', /a file is in the way/],
  ])('makes %s a permanent error: one line with the path and what to do', (code, advice) => {
    const error = fsStorageError('Could not write k in LocalObjectStore(/x)', systemError(code, '/x/k'));
    expect(error).toBeInstanceOf(PermanentStorageError);
    expect(error.message).toMatch(advice);
    expect(error.message).toContain('/x/k');
    expect(error.message).toContain(`(${code})`);
    expect(error.message).not.toContain('\n');
    expect((error as PermanentStorageError).path).toBe('/x/k');
  });

  it('keeps other failures retryable StorageErrors', () => {
    const error = fsStorageError('Could not write k', systemError('EIO', '/x/k'));
    expect(error).toBeInstanceOf(StorageError);
    expect(error).not.toBeInstanceOf(PermanentStorageError);
  });

  it('is found however deep it is wrapped', () => {
    const permanent = fsStorageError('w', systemError('EACCES', '/p'));
    const wrapped = new Error('outer', { cause: new Error('middle', { cause: permanent }) });
    expect(permanentStorageError(wrapped)).toBe(permanent);
    expect(permanentStorageError(new Error('plain'))).toBeUndefined();
  });

  it('is what the local stores throw when a file blocks their directory', async () => {
    const blocker = join(root, 'blocker');
    await writeFile(blocker, 'not a directory');
    const objects = new LocalObjectStore(join(blocker, 'objects'));
    await expect(objects.put('a/b', new Uint8Array([1]))).rejects.toBeInstanceOf(PermanentStorageError);
    const state = new LocalStateStore(join(blocker, 'state'));
    await expect(state.put('k', 1, undefined)).rejects.toBeInstanceOf(PermanentStorageError);
  });
});
