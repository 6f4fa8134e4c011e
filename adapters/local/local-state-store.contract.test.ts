import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { catalogContract } from '../../test/contracts/catalog.contract.ts';
import { stateStoreContract } from '../../test/contracts/state-store.contract.ts';
import {
  failingOnceCatalog,
  failingOnceStateStore,
  faultCounter,
  retryingCatalog,
  retryingStateStore,
} from '../../test/support/transient-faults.ts';
import { LocalCatalog } from './local-catalog.ts';
import { LocalStateStore } from './local-state-store.ts';

async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'floe-contract-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

stateStoreContract('LocalStateStore', async () => {
  const { dir, cleanup } = await tempDir();
  return { store: new LocalStateStore(join(dir, 'state')), cleanup };
});

stateStoreContract('LocalStateStore, each call failing once, retried', async () => {
  const { dir, cleanup } = await tempDir();
  const faults = faultCounter();
  const store = failingOnceStateStore(new LocalStateStore(join(dir, 'state')), {
    lostReads: true,
    ...faults,
  });
  return { store: retryingStateStore(store), cleanup: () => faults.check().finally(cleanup) };
});

catalogContract('LocalCatalog', async () => {
  const { dir, cleanup } = await tempDir();
  return { catalog: new LocalCatalog(join(dir, 'catalog')), cleanup };
});

catalogContract('LocalCatalog, each call failing once, retried', async () => {
  const { dir, cleanup } = await tempDir();
  const faults = faultCounter();
  const catalog = failingOnceCatalog(new LocalCatalog(join(dir, 'catalog')), faults);
  return { catalog: retryingCatalog(catalog), cleanup: () => faults.check().finally(cleanup) };
});
