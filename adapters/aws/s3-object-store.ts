/**
 * S3ObjectStore: the ObjectStore contract on an S3 bucket under a key prefix
 * (`s3://bucket/prefix`). docs/design.md, "S3 object store", explains each choice; in short:
 *
 * - Conditional creates are PutObject (or CompleteMultipartUpload) with `If-None-Match: *`: a 412
 *   becomes {@link PreconditionFailedError}; a 409 ConditionalRequestConflict (a concurrent write
 *   or delete of the key was in flight) is retried.
 * - Objects above `multipartThreshold` (16 MiB) go up in parts, with the same condition on the
 *   completion; a failed upload is aborted.
 * - Throttling (503 SlowDown), 500/502/503/504, timeouts and network errors are retried by the
 *   SDK's standard strategy (full-jitter exponential backoff, a per-client retry quota), up to
 *   `maxAttempts`. All requests are idempotent except a conditional create, whose retry after a
 *   landed-but-lost first attempt answers 412: so a 412 after more than one request compares the
 *   object with the bytes written (ETag, then bytes) and counts an identical object as created.
 * - Errors that no retry fixes (AccessDenied, NoSuchBucket, bad credentials) become a
 *   {@link StorageError} that names the bucket, the key and what to do.
 */
import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  type DeleteObjectsCommandOutput,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { FloeConfigError } from '../../runtime/errors.ts';
import {
  assertValidKey,
  keyUnder,
  type ObjectStore,
  PermanentStorageError,
  PreconditionFailedError,
  type PutOptions,
  StorageError,
} from '../../runtime/stores/object-store.ts';

const MiB = 1024 * 1024;

/** S3's smallest part (all but the last). */
export const MIN_PART_SIZE = 5 * MiB;
/** DeleteObjects takes at most this many keys per request. */
export const MAX_DELETE_KEYS = 1000;

export interface S3ObjectStoreOptions {
  /**
   * The client to use (tests, custom credentials). @default - {@link createS3Client}: region,
   * credentials and endpoint from the SDK's default chain (`AWS_REGION`, `AWS_ENDPOINT_URL_S3`, …)
   */
  readonly client?: S3Client;
  /** Objects of more bytes than this are uploaded in parts. @default 16 MiB */
  readonly multipartThreshold?: number;
  /** Bytes per part of a multipart upload; at least 5 MiB. @default 8 MiB */
  readonly partSize?: number;
  /** Parts of one object uploaded at once. @default 4 */
  readonly partConcurrency?: number;
  /** Keys per ListObjectsV2 page (S3's `MaxKeys`, at most 1,000); small values are for tests. @default 1000 */
  readonly pageSize?: number;
  /** Tries of a conditional write that meets 409 ConditionalRequestConflict. @default 5 */
  readonly conflictAttempts?: number;
}

/** Settings of {@link createS3Client}. */
export interface S3ClientOptions extends S3ClientConfig {
  /**
   * Requests per operation, the first included, for throttling, 5xx, timeouts and network errors.
   * @default 5
   */
  readonly maxAttempts?: number;
}

/**
 * An S3 client for Floe's stores: the SDK's default credential, region and endpoint chain (the SDK
 * itself reads `AWS_ENDPOINT_URL_S3`, then `AWS_ENDPOINT_URL`), path-style addressing when a custom
 * endpoint is set (local servers have no per-bucket host names), the standard retry strategy with
 * 5 attempts, and socket timeouts so that a stalled connection is retried instead of hanging until
 * the Lambda timeout.
 */
export function createS3Client(options: S3ClientOptions = {}): S3Client {
  const endpoint = options.endpoint ?? customEndpoint();
  return new S3Client({
    retryMode: 'standard',
    forcePathStyle: endpoint !== undefined,
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 60_000 },
    ...options,
    maxAttempts: options.maxAttempts ?? 5,
  });
}

/** The endpoint set in the environment, if any (a local server, an S3-compatible store). */
function customEndpoint(): string | undefined {
  const value = process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL;
  return value === undefined || value === '' ? undefined : value;
}

/** Splits `s3://bucket/prefix/…` into the bucket and the key prefix without a trailing `/`. */
export function parseS3Location(location: string): { readonly bucket: string; readonly prefix: string } {
  const match = /^s3:\/\/([^/]+)\/*(.*)$/.exec(location);
  const bucket = match?.[1];
  if (match === null || bucket === undefined || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new FloeConfigError(
      `Invalid S3 location "${location}". Use s3://<bucket>/<prefix>, e.g. s3://my-bucket/floe/checkpoints, with a valid bucket name (3-63 characters: a-z, 0-9, "." and "-").`,
    );
  }
  const prefix = (match[2] ?? '').replace(/\/+$/, '');
  if (prefix !== '') {
    try {
      assertValidKey(prefix);
    } catch {
      throw new FloeConfigError(
        `Invalid S3 location "${location}": the prefix "${prefix}" must be non-empty segments separated by "/", without "." or "..".`,
      );
    }
  }
  return { bucket, prefix };
}

export class S3ObjectStore implements ObjectStore {
  readonly bucket: string;
  /** The key prefix of every object, without a trailing `/`; `''` for the bucket's root. */
  readonly prefix: string;
  readonly client: S3Client;
  private readonly multipartThreshold: number;
  private readonly partSize: number;
  private readonly partConcurrency: number;
  private readonly pageSize: number;
  private readonly conflictAttempts: number;

  /** @param location `s3://bucket` or `s3://bucket/prefix`. */
  constructor(location: string, options: S3ObjectStoreOptions = {}) {
    const { bucket, prefix } = parseS3Location(location);
    this.bucket = bucket;
    this.prefix = prefix;
    this.client = options.client ?? createS3Client();
    this.multipartThreshold = positive('multipartThreshold', options.multipartThreshold ?? 16 * MiB);
    this.partSize = positive('partSize', options.partSize ?? 8 * MiB);
    if (this.partSize < MIN_PART_SIZE) {
      throw new FloeConfigError(`S3ObjectStore partSize is ${this.partSize}; S3 parts are at least 5 MiB.`);
    }
    this.partConcurrency = positive('partConcurrency', options.partConcurrency ?? 4);
    this.pageSize = positive('pageSize', options.pageSize ?? 1000);
    this.conflictAttempts = positive('conflictAttempts', options.conflictAttempts ?? 5);
  }

  async put(key: string, bytes: Uint8Array, options: PutOptions = {}): Promise<void> {
    const conditional = options.ifNoneMatch === '*';
    if (bytes.byteLength > this.multipartThreshold && bytes.byteLength > MIN_PART_SIZE) {
      await this.putMultipart(key, bytes, conditional);
      return;
    }
    const s3Key = this.s3Key(key);
    let requests = 0;
    try {
      await this.retryConflicts(
        async () => {
          await this.client.send(
            new PutObjectCommand({
              Bucket: this.bucket,
              Key: s3Key,
              Body: bytes,
              ...(conditional ? { IfNoneMatch: '*' } : {}),
            }),
          );
        },
        (n) => {
          requests += n;
        },
      );
    } catch (error) {
      if (conditional && isPreconditionFailed(error)) {
        // More than one request: an earlier one may have created the object and lost its answer.
        if (requests > 1 && (await this.holds(key, bytes, md5Etag(bytes)))) return;
        throw new PreconditionFailedError(key);
      }
      throw this.failure('write', key, error);
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const s3Key = this.s3Key(key);
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: s3Key }));
      if (response.Body === undefined) return new Uint8Array(0);
      return await response.Body.transformToByteArray();
    } catch (error) {
      if (isMissingKey(error)) return undefined;
      throw this.failure('read', key, error);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const root = this.prefix === '' ? '' : `${this.prefix}/`;
    const keys: string[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: root + prefix,
            MaxKeys: this.pageSize,
            ...(token === undefined ? {} : { ContinuationToken: token }),
          }),
        );
        for (const object of page.Contents ?? []) {
          if (object.Key?.startsWith(root)) keys.push(object.Key.slice(root.length));
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
    } catch (error) {
      throw this.failure('list', `${prefix}*`, error);
    }
    return keys.sort();
  }

  async delete(key: string): Promise<void> {
    const s3Key = this.s3Key(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: s3Key }));
    } catch (error) {
      if (isMissingKey(error)) return;
      throw this.failure('delete', key, error);
    }
  }

  /** DeleteObjects, 1,000 keys per request, up to 4 requests at once. */
  async deleteMany(keys: readonly string[]): Promise<void> {
    const s3Keys = keys.map((key) => this.s3Key(key));
    const batches: string[][] = [];
    for (let i = 0; i < s3Keys.length; i += MAX_DELETE_KEYS)
      batches.push(s3Keys.slice(i, i + MAX_DELETE_KEYS));
    await forEachLimit(batches, 4, async (batch) => {
      let response: DeleteObjectsCommandOutput;
      try {
        response = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
        );
      } catch (error) {
        throw this.failure('delete', `${batch.length} keys from ${this.relative(batch[0]!)}`, error);
      }
      const failed = (response.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) {
        const first = failed[0]!;
        throw new StorageError(
          `Could not delete ${failed.length} of ${batch.length} objects in ${this}, e.g. ${this.relative(first.Key ?? '?')}: ${first.Code} ${first.Message ?? ''}`.trim() +
            (first.Code === 'AccessDenied'
              ? ` Give the role s3:DeleteObject on ${this.arnPattern()}.`
              : ' Cleanup tries again later.'),
        );
      }
    });
  }

  uri(key: string): string {
    return `s3://${this.bucket}/${this.s3Key(key)}`;
  }

  keyOf(uri: string): string | undefined {
    return keyUnder(uri, `s3://${this.bucket}/${this.prefix === '' ? '' : `${this.prefix}/`}`);
  }

  toString(): string {
    return `S3ObjectStore(s3://${this.bucket}${this.prefix === '' ? '' : `/${this.prefix}`})`;
  }

  private s3Key(key: string): string {
    assertValidKey(key);
    return this.prefix === '' ? key : `${this.prefix}/${key}`;
  }

  private relative(s3Key: string): string {
    return this.prefix !== '' && s3Key.startsWith(`${this.prefix}/`)
      ? s3Key.slice(this.prefix.length + 1)
      : s3Key;
  }

  /**
   * Runs `attempt` again while S3 answers 409 ConditionalRequestConflict (another conditional
   * write or a delete of the key is in flight), with full-jitter backoff (25 ms · 2^n). The SDK
   * does not retry 409s itself. `requests` is told how many requests each call made.
   */
  private async retryConflicts(attempt: () => Promise<void>, requests: (n: number) => void): Promise<void> {
    for (let tries = 1; ; tries++) {
      try {
        await attempt();
        requests(1);
        return;
      } catch (error) {
        requests(attemptsOf(error));
        if (!isConditionalConflict(error) || tries >= this.conflictAttempts) throw error;
        await sleep(Math.random() * 25 * 2 ** tries);
      }
    }
  }

  private async putMultipart(key: string, bytes: Uint8Array, conditional: boolean): Promise<void> {
    const s3Key = this.s3Key(key);
    let uploadId: string | undefined;
    let requests = 0;
    try {
      const created = await this.client.send(
        new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: s3Key, ChecksumAlgorithm: 'CRC32' }),
      );
      uploadId = created.UploadId;
      if (uploadId === undefined) throw new Error('CreateMultipartUpload returned no UploadId');
      const parts: Uint8Array[] = [];
      for (let offset = 0; offset < bytes.byteLength; offset += this.partSize) {
        parts.push(bytes.subarray(offset, Math.min(bytes.byteLength, offset + this.partSize)));
      }
      const completed: CompletedPart[] = new Array(parts.length);
      await forEachLimit(
        parts.map((part, i) => ({ part, i })),
        this.partConcurrency,
        async ({ part, i }) => {
          const uploaded = await this.client.send(
            new UploadPartCommand({
              Bucket: this.bucket,
              Key: s3Key,
              UploadId: uploadId,
              PartNumber: i + 1,
              Body: part,
              ChecksumAlgorithm: 'CRC32',
            }),
          );
          completed[i] = { PartNumber: i + 1, ETag: uploaded.ETag, ChecksumCRC32: uploaded.ChecksumCRC32 };
        },
      );
      await this.retryConflicts(
        async () => {
          await this.client.send(
            new CompleteMultipartUploadCommand({
              Bucket: this.bucket,
              Key: s3Key,
              UploadId: uploadId,
              MultipartUpload: { Parts: completed },
              ...(conditional ? { IfNoneMatch: '*' } : {}),
            }),
          );
        },
        (n) => {
          requests += n;
        },
      );
    } catch (error) {
      // A completion retried after a lost answer finds the object (412) or the upload gone.
      const uncertain = requests > 1 && (isPreconditionFailed(error) || isNoSuchUpload(error));
      if (uncertain && (await this.holds(key, bytes, multipartEtag(bytes, this.partSize)))) return;
      if (uploadId !== undefined) {
        // Best effort: a bucket lifecycle rule (AbortIncompleteMultipartUpload) catches the rest.
        await this.client
          .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: s3Key, UploadId: uploadId }))
          .catch(() => undefined);
      }
      if (conditional && isPreconditionFailed(error)) throw new PreconditionFailedError(key);
      throw this.failure('write', key, error);
    }
  }

  /**
   * Whether the object under `key` is exactly `bytes`: its ETag is the MD5 S3 computes for these
   * bytes (SSE-S3 or no encryption), or, when the ETag is not an MD5 (SSE-KMS, another server),
   * its content compares equal.
   */
  private async holds(key: string, bytes: Uint8Array, etag: string): Promise<boolean> {
    let head: { ETag?: string; ContentLength?: number };
    try {
      head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.s3Key(key) }));
    } catch (error) {
      if (isMissingKey(error)) return false;
      throw this.failure('read', key, error);
    }
    if (head.ETag === etag) return true;
    if (head.ContentLength !== undefined && head.ContentLength !== bytes.byteLength) return false;
    const existing = await this.get(key);
    return existing !== undefined && Buffer.from(existing).equals(Buffer.from(bytes));
  }

  private arnPattern(): string {
    return `arn:aws:s3:::${this.bucket}/${this.prefix === '' ? '' : `${this.prefix}/`}*`;
  }

  private failure(action: 'read' | 'write' | 'list' | 'delete', key: string, cause: unknown): StorageError {
    const code = errorCode(cause);
    const where = `s3://${this.bucket}/${this.prefix === '' ? '' : `${this.prefix}/`}${key}`;
    const attempts = attemptsOf(cause);
    const permission = {
      read: 's3:GetObject',
      write: 's3:PutObject (and s3:AbortMultipartUpload)',
      list: `s3:ListBucket on arn:aws:s3:::${this.bucket}`,
      delete: 's3:DeleteObject',
    }[action];
    let advice: string;
    // Configuration problems (no bucket, no access, bad credentials, wrong region): no retry can
    // fix them, so they fail at once, in one line.
    let permanent = true;
    if (code === 'NoSuchBucket') {
      advice = `The bucket ${this.bucket} does not exist: create it, or fix the store's location, region or endpoint.`;
    } else if (CREDENTIAL_ERRORS.includes(code)) {
      advice = 'The credentials are invalid or missing: check AWS_PROFILE, AWS_ACCESS_KEY_ID and the role.';
    } else if (code === 'AccessDenied' || code === 'Forbidden' || statusOf(cause) === 403) {
      advice =
        action === 'list'
          ? `Access denied: give the role ${permission}.`
          : `Access denied: give the role ${permission} on ${this.arnPattern()}, and check bucket policy and KMS key access.`;
    } else if (code === 'PermanentRedirect' || code === 'AuthorizationHeaderMalformed') {
      advice = `The bucket ${this.bucket} is in another region: set AWS_REGION to the bucket's region.`;
    } else {
      permanent = false;
      advice = `Gave up after ${attempts} attempt${attempts === 1 ? '' : 's'}; a later retry may succeed.`;
    }
    const message =
      cause instanceof Error && cause.message !== '' && cause.message !== code ? `: ${cause.message}` : '';
    const text = `Could not ${action} ${where} (${code}${message}). ${advice}`;
    return permanent ? new PermanentStorageError(text, where, { cause }) : new StorageError(text, { cause });
  }
}

/**
 * Creates `bucket` if it does not exist, for tests and `--create` on a local server. Refuses an
 * endpoint that is not on this machine (real AWS included) unless `allowRemote` is set: creating
 * buckets in an account is a deployment's job, with its policies and lifecycle rules.
 */
export async function ensureBucket(
  bucket: string,
  options: { readonly client?: S3Client; readonly endpoint?: string; readonly allowRemote?: boolean } = {},
): Promise<void> {
  const endpoint = options.endpoint ?? customEndpoint();
  if (!options.allowRemote && (endpoint === undefined || !isLoopback(endpoint))) {
    throw new FloeConfigError(
      `Refusing to create bucket ${bucket} on ${endpoint ?? 'AWS'}: ensureBucket creates buckets on a local server only (AWS_ENDPOINT_URL_S3 on localhost). Create it with your deployment, or pass allowRemote.`,
    );
  }
  const client = options.client ?? createS3Client(endpoint === undefined ? {} : { endpoint });
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (error) {
    if (errorCode(error) === 'BucketAlreadyOwnedByYou') return;
    throw new StorageError(
      `Could not create bucket ${bucket} on ${endpoint ?? 'AWS'} (${errorCode(error)}).`,
      {
        cause: error,
      },
    );
  }
}

function isLoopback(endpoint: string): boolean {
  try {
    const host = new URL(endpoint).hostname;
    return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
  } catch {
    return false;
  }
}

/** The ETag S3 gives a single-part upload: the MD5 of the body, hex, quoted. */
export function md5Etag(bytes: Uint8Array): string {
  return `"${createHash('md5').update(bytes).digest('hex')}"`;
}

/** The ETag S3 gives a multipart upload: the MD5 of the parts' binary MD5s, then `-<parts>`. */
export function multipartEtag(bytes: Uint8Array, partSize: number): string {
  const digests: Buffer[] = [];
  for (let offset = 0; offset < bytes.byteLength; offset += partSize) {
    digests.push(
      createHash('md5')
        .update(bytes.subarray(offset, offset + partSize))
        .digest(),
    );
  }
  return `"${createHash('md5').update(Buffer.concat(digests)).digest('hex')}-${digests.length}"`;
}

/** Codes of requests the server did not authenticate (the last one is versitygw's unknown access key). */
const CREDENTIAL_ERRORS = [
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'CredentialsProviderError',
  'ExpiredToken',
  'InvalidToken',
  'XAdminUserNotFound',
];

function errorCode(error: unknown): string {
  if (typeof error !== 'object' || error === null) return String(error);
  const e = error as { Code?: unknown; name?: unknown; code?: unknown };
  for (const value of [e.Code, e.name, e.code])
    if (typeof value === 'string' && value !== 'Error') return value;
  return 'Error';
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

function attemptsOf(error: unknown): number {
  return (error as { $metadata?: { attempts?: number } } | undefined)?.$metadata?.attempts ?? 1;
}

function isPreconditionFailed(error: unknown): boolean {
  return statusOf(error) === 412 || errorCode(error) === 'PreconditionFailed';
}

function isConditionalConflict(error: unknown): boolean {
  return statusOf(error) === 409 && errorCode(error) === 'ConditionalRequestConflict';
}

function isNoSuchUpload(error: unknown): boolean {
  return errorCode(error) === 'NoSuchUpload';
}

/** A 404 for the key itself (not for the bucket). */
function isMissingKey(error: unknown): boolean {
  // Not any 404: versitygw answers an unknown access key with 404 XAdminUserNotFound.
  const code = errorCode(error);
  return code === 'NoSuchKey' || (code === 'NotFound' && statusOf(error) === 404);
}

function positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new FloeConfigError(`S3ObjectStore ${name} is ${value}; use a positive integer.`);
  }
  return value;
}

async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  run: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < items.length && !failed) {
      try {
        await run(items[next++]!);
      } catch (error) {
        failed = true; // the other workers start nothing new
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
