/**
 * What the contract suite cannot see: request counts, retries after lost answers, 409 conflicts,
 * multipart aborts and error messages, against versitygw with faults injected into the client's
 * middleware (each attempt the SDK makes passes the hook once).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { deleteObjects, PreconditionFailedError, StorageError } from '../../runtime/stores/object-store.ts';
import { requireLocalS3 } from '../../test/support/local-s3.ts';
import {
  createS3Client,
  ensureBucket,
  MIN_PART_SIZE,
  md5Etag,
  multipartEtag,
  parseS3Location,
  S3ObjectStore,
  type S3ObjectStoreOptions,
} from './s3-object-store.ts';

const BUCKET = 'floe-s3-store-tests';
const MiB = 1024 * 1024;
const bytes = (text: string) => new TextEncoder().encode(text);

interface Fault {
  readonly command: string;
  /** `before`: the request is never sent; `after`: it is performed and its answer lost. */
  readonly when: 'before' | 'after';
  readonly error: () => Error;
  /** Only on the command's nth request (from 1). @default - its next request */
  readonly nth?: number;
}

/** A client that records every request it sends (one per attempt) and injects faults, each once. */
function instrumented(): { client: S3Client; calls: string[]; faults: Fault[] } {
  const client = createS3Client();
  const calls: string[] = [];
  const faults: Fault[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = context.commandName?.replace(/Command$/, '') ?? '?';
      calls.push(command);
      const take = (when: Fault['when']) => {
        const nth = calls.filter((c) => c === command).length;
        const i = faults.findIndex(
          (f) => f.command === command && f.when === when && (f.nth === undefined || f.nth === nth),
        );
        return i < 0 ? undefined : faults.splice(i, 1)[0]!.error();
      };
      const before = take('before');
      if (before !== undefined) throw before;
      const result = await next(args);
      const after = take('after');
      if (after !== undefined) throw after;
      return result;
    },
    { step: 'deserialize', name: 'floeTestFaults' },
  );
  return { client, calls, faults };
}

const networkError = () =>
  Object.assign(new Error('socket hang up'), { name: 'Error', code: 'ECONNRESET', $metadata: {} });
const conflict409 = () =>
  Object.assign(new Error('A conflicting conditional operation is in progress'), {
    name: 'ConditionalRequestConflict',
    $metadata: { httpStatusCode: 409 },
  });
const accessDenied = () =>
  Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });

function freshStore(client: S3Client, options: S3ObjectStoreOptions = {}): S3ObjectStore {
  return new S3ObjectStore(`s3://${BUCKET}/unit/${randomUUID()}`, { client, ...options });
}

beforeAll(async () => {
  requireLocalS3();
  await ensureBucket(BUCKET);
});

describe('S3ObjectStore requests', () => {
  it('makes one request per put, get and delete, one per list page, one per 1,000 deleted keys', async () => {
    const { client, calls } = instrumented();
    const store = freshStore(client, { pageSize: 3 });
    const keys = Array.from({ length: 1001 }, (_, i) => `k/${String(i).padStart(4, '0')}`);
    for (let i = 0; i < keys.length; i += 50) {
      await Promise.all(keys.slice(i, i + 50).map((key) => store.put(key, bytes(key))));
    }
    expect(calls.filter((c) => c === 'PutObject')).toHaveLength(1001);
    calls.length = 0;

    await store.put('one', bytes('x'), { ifNoneMatch: '*' });
    await store.get('one');
    await store.get('missing');
    await store.delete('one');
    expect(calls).toEqual(['PutObject', 'GetObject', 'GetObject', 'DeleteObject']);

    calls.length = 0;
    expect(await store.list('k/000')).toHaveLength(10);
    expect(calls).toEqual(['ListObjectsV2', 'ListObjectsV2', 'ListObjectsV2', 'ListObjectsV2']); // 3+3+3+1

    calls.length = 0;
    await deleteObjects(store, keys);
    expect(calls).toEqual(['DeleteObjects', 'DeleteObjects']);
    expect(await store.list('')).toEqual([]);
  });

  it('uploads an object above the threshold in parts: create, one request per part, complete', async () => {
    const { client, calls } = instrumented();
    const store = freshStore(client, { multipartThreshold: MiB, partSize: MIN_PART_SIZE });
    const large = new Uint8Array(randomBytes(2 * MIN_PART_SIZE + 100));

    await store.put('big', large, { ifNoneMatch: '*' });

    expect(calls.sort()).toEqual(
      ['CompleteMultipartUpload', 'CreateMultipartUpload', 'UploadPart', 'UploadPart', 'UploadPart'].sort(),
    );
    expect(Buffer.from((await store.get('big'))!).equals(Buffer.from(large))).toBe(true);
    await store.delete('big');
  });
});

describe('S3ObjectStore retries', () => {
  it('counts a conditional create whose answer was lost as created: the retry gets 412, the ETag matches', async () => {
    const { client, calls, faults } = instrumented();
    const store = freshStore(client);
    faults.push({ command: 'PutObject', when: 'after', error: networkError });

    await store.put('staged/0001-a.json', bytes('{"state":1}'), { ifNoneMatch: '*' });

    expect(calls).toEqual(['PutObject', 'PutObject', 'HeadObject']);
    expect(new TextDecoder().decode(await store.get('staged/0001-a.json'))).toBe('{"state":1}');
  });

  it('still fails a conditional create after a retry when the existing object is another one', async () => {
    const { client, calls, faults } = instrumented();
    const store = freshStore(client);
    await store.put('taken', bytes('theirs'));
    calls.length = 0;
    faults.push({ command: 'PutObject', when: 'before', error: networkError });

    const attempt = store.put('taken', bytes('mine!!'), { ifNoneMatch: '*' });

    await expect(attempt).rejects.toBeInstanceOf(PreconditionFailedError);
    // Same length: the ETag differs, so the bytes are compared too.
    expect(calls).toEqual(['PutObject', 'PutObject', 'HeadObject', 'GetObject']);
    expect(new TextDecoder().decode(await store.get('taken'))).toBe('theirs');
  });

  it('retries 409 ConditionalRequestConflict', async () => {
    const { client, calls, faults } = instrumented();
    const store = freshStore(client);
    faults.push({ command: 'PutObject', when: 'before', error: conflict409 });
    faults.push({ command: 'PutObject', when: 'before', error: conflict409 });

    await store.put('contended', bytes('x'), { ifNoneMatch: '*' });

    expect(calls).toEqual(['PutObject', 'PutObject', 'PutObject']);
    expect(await store.get('contended')).toEqual(bytes('x'));
  });

  it('counts a multipart completion whose answer was lost as done, by the multipart ETag', async () => {
    const { client, calls, faults } = instrumented();
    const store = freshStore(client, { multipartThreshold: MiB, partSize: MIN_PART_SIZE });
    const large = new Uint8Array(randomBytes(MIN_PART_SIZE + 1000));
    faults.push({ command: 'CompleteMultipartUpload', when: 'after', error: networkError });

    await store.put('big', large, { ifNoneMatch: '*' });

    expect(calls.filter((c) => c === 'CompleteMultipartUpload')).toHaveLength(2);
    // The repeated completion either succeeds again (versitygw, and S3 for a while after
    // completing) or meets 412/NoSuchUpload; then the ETag alone proves the object is ours.
    expect(calls).not.toContain('GetObject');
    expect(calls).not.toContain('AbortMultipartUpload');
    expect(Buffer.from((await store.get('big'))!).equals(Buffer.from(large))).toBe(true);
  });

  it('counts a multipart completion as done when its retry meets 412 and the ETag matches', async () => {
    const { client, calls, faults } = instrumented();
    const store = freshStore(client, { multipartThreshold: MiB, partSize: MIN_PART_SIZE });
    const large = new Uint8Array(randomBytes(MIN_PART_SIZE + 1000));
    // As S3 may answer a repeated conditional completion: the object exists now.
    const precondition412 = () =>
      Object.assign(new Error('At least one of the pre-conditions you specified did not hold'), {
        name: 'PreconditionFailed',
        $metadata: { httpStatusCode: 412 },
      });
    faults.push({ command: 'CompleteMultipartUpload', when: 'after', error: networkError, nth: 1 });
    faults.push({ command: 'CompleteMultipartUpload', when: 'before', error: precondition412, nth: 2 });

    await store.put('big', large, { ifNoneMatch: '*' });

    expect(calls.filter((c) => c === 'CompleteMultipartUpload')).toHaveLength(2);
    expect(calls).toContain('HeadObject');
    expect(calls).not.toContain('GetObject');
    expect(Buffer.from((await store.get('big'))!).equals(Buffer.from(large))).toBe(true);
  });

  it('aborts a multipart upload whose conditional completion fails, leaving no parts behind', async () => {
    const { client, calls } = instrumented();
    const store = freshStore(client, { multipartThreshold: MiB, partSize: MIN_PART_SIZE });
    await store.put('exists', bytes('small'));

    const attempt = store.put('exists', new Uint8Array(randomBytes(MIN_PART_SIZE + 1)), { ifNoneMatch: '*' });

    await expect(attempt).rejects.toBeInstanceOf(PreconditionFailedError);
    expect(calls).toContain('AbortMultipartUpload');
    const uploads = await client.send(
      new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: store.prefix }),
    );
    expect(uploads.Uploads ?? []).toEqual([]);
    expect(await store.get('exists')).toEqual(bytes('small'));
  });

  it('computes the ETags S3 gives single-part and multipart objects', async () => {
    const { client } = instrumented();
    const store = freshStore(client, { multipartThreshold: MiB, partSize: MIN_PART_SIZE });
    const small = bytes('hello');
    const large = new Uint8Array(randomBytes(MIN_PART_SIZE * 2 + 5));
    await store.put('small', small);
    await store.put('large', large);
    const { HeadObjectCommand } = await import('@aws-sdk/client-s3');

    const head = (key: string) =>
      client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${store.prefix}/${key}` }));

    expect((await head('small')).ETag).toBe(md5Etag(small));
    expect((await head('large')).ETag).toBe(multipartEtag(large, MIN_PART_SIZE));
  });
});

describe('S3ObjectStore errors', () => {
  it('names the bucket and what to do when the bucket does not exist', async () => {
    const store = new S3ObjectStore(`s3://floe-no-such-bucket-${Date.now()}/x`, { client: createS3Client() });

    const attempt = store.put('k', bytes('x'));

    await expect(attempt).rejects.toBeInstanceOf(StorageError);
    await expect(attempt).rejects.toThrow(
      /s3:\/\/floe-no-such-bucket-\d+\/x\/k \(NoSuchBucket.*does not exist: create it/,
    );
    await expect(store.list('')).rejects.toThrow(/NoSuchBucket/);
  });

  it('names the permission on access denied, without retrying', async () => {
    const { client, calls, faults } = instrumented();
    const store = freshStore(client);
    faults.push({ command: 'GetObject', when: 'before', error: accessDenied });

    const attempt = store.get('secret.json');

    await expect(attempt).rejects.toThrow(
      new RegExp(
        `Could not read s3://${BUCKET}/unit/[^ ]+/secret.json \\(AccessDenied.*s3:GetObject on arn:aws:s3:::${BUCKET}/unit/`,
      ),
    );
    expect(calls).toEqual(['GetObject']);
  });

  it('says the credentials are wrong when the server rejects them', async () => {
    const store = new S3ObjectStore(`s3://${BUCKET}/x`, {
      client: createS3Client({
        credentials: { accessKeyId: 'nobody', secretAccessKey: 'wrong-secret' },
        maxAttempts: 1,
      }),
    });

    await expect(store.get('k')).rejects.toThrow(/credentials are invalid/);
  });
});

describe('S3 locations and buckets', () => {
  it('parses s3:// locations and maps keys to URIs under the prefix', () => {
    expect(parseS3Location('s3://my-bucket')).toEqual({ bucket: 'my-bucket', prefix: '' });
    expect(parseS3Location('s3://my-bucket/a/b/')).toEqual({ bucket: 'my-bucket', prefix: 'a/b' });
    expect(() => parseS3Location('s3:/my-bucket')).toThrow(/Invalid S3 location/);
    expect(() => parseS3Location('s3://My_Bucket/x')).toThrow(/valid bucket name/);
    expect(() => parseS3Location('s3://my-bucket/a/../b')).toThrow(/prefix/);

    const store = new S3ObjectStore('s3://my-bucket/floe/checkpoints', { client: createS3Client() });
    expect(store.uri('job/g/manifests/1.json')).toBe(
      's3://my-bucket/floe/checkpoints/job/g/manifests/1.json',
    );
    expect(store.keyOf('s3://my-bucket/floe/checkpoints/job/x')).toBe('job/x');
    expect(store.keyOf('s3://my-bucket/floe/checkpointsX/job/x')).toBeUndefined();
    expect(store.keyOf('s3://other/floe/checkpoints/job/x')).toBeUndefined();
    expect(() => new S3ObjectStore('s3://my-bucket', { partSize: MiB })).toThrow(/at least 5 MiB/);
  });

  it('refuses to create a bucket on an endpoint that is not on this machine unless asked', async () => {
    await expect(ensureBucket('floe-anything', { endpoint: 'https://s3.example.com' })).rejects.toThrow(
      /Refusing to create bucket floe-anything on https:\/\/s3.example.com/,
    );
    await ensureBucket(BUCKET); // exists already: fine
  });
});
