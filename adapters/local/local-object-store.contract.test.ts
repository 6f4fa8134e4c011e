import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompressingObjectStore } from '../../runtime/stores/compressing-object-store.ts';
import { objectStoreContract } from '../../test/contracts/object-store.contract.ts';
import { LocalObjectStore } from './local-object-store.ts';

async function localStore() {
  const root = await mkdtemp(join(tmpdir(), 'floe-store-contract-'));
  return { store: new LocalObjectStore(root), cleanup: () => rm(root, { recursive: true, force: true }) };
}

objectStoreContract('LocalObjectStore', localStore);

objectStoreContract('CompressingObjectStore(gzip) over LocalObjectStore', async () => {
  const local = await localStore();
  return { ...local, store: new CompressingObjectStore(local.store, 'gzip') };
});

objectStoreContract('CompressingObjectStore(zstd) over LocalObjectStore', async () => {
  const local = await localStore();
  return { ...local, store: new CompressingObjectStore(local.store, 'zstd') };
});
