import { randomUUID } from 'node:crypto';
import { CompressingObjectStore } from '../../runtime/stores/compressing-object-store.ts';
import { deleteObjects } from '../../runtime/stores/object-store.ts';
import { type ObjectStoreKnobs, objectStoreContract } from '../../test/contracts/object-store.contract.ts';
import { requireLocalS3 } from '../../test/support/local-s3.ts';
import { createS3Client, ensureBucket, MIN_PART_SIZE, S3ObjectStore } from './s3-object-store.ts';

const BUCKET = 'floe-contract-tests';
let client: ReturnType<typeof createS3Client> | undefined;
const buckets = new Map<string, Promise<void>>();

/** A store under a fresh prefix of the shared test bucket, or at the root of a fresh bucket. */
async function s3Store(knobs: ObjectStoreKnobs, where: 'prefix' | 'root' = 'prefix') {
  requireLocalS3();
  client ??= createS3Client();
  const bucket = where === 'root' ? `floe-root-${randomUUID()}` : BUCKET;
  if (!buckets.has(bucket)) buckets.set(bucket, ensureBucket(bucket, { client }));
  await buckets.get(bucket);
  const location = where === 'root' ? `s3://${bucket}` : `s3://${bucket}/contract/${randomUUID()}`;
  const store = new S3ObjectStore(location, {
    client,
    partSize: MIN_PART_SIZE,
    ...(knobs.pageSize === undefined ? {} : { pageSize: knobs.pageSize }),
    ...(knobs.multipartThreshold === undefined ? {} : { multipartThreshold: knobs.multipartThreshold }),
  });
  return { store, cleanup: async () => deleteObjects(store, await store.list('')) };
}

objectStoreContract('S3ObjectStore under a prefix (versitygw)', (knobs) => s3Store(knobs));

objectStoreContract('S3ObjectStore at the bucket root (versitygw)', (knobs) => s3Store(knobs, 'root'));

objectStoreContract('CompressingObjectStore(zstd) over S3ObjectStore (versitygw)', async (knobs) => {
  const fixture = await s3Store(knobs);
  return { ...fixture, store: new CompressingObjectStore(fixture.store, 'zstd') };
});
