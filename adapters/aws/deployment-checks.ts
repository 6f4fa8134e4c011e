/**
 * What `floe doctor` checks of a deployment's AWS stores, without creating or changing anything
 * that stays: the state and catalog tables exist with Floe's key schemas (the checks of
 * ensureStateTable / ensureCatalogTable, without `create`) and the state table has TTL on
 * `expiresAt`; the bucket exists, and a conditional create (If-None-Match: *) works under the
 * prefix: a probe object is created, a second create of it must be refused, then it is deleted.
 * Each check resolves with what it found, or throws an error whose message says what to do.
 */
import { randomUUID } from 'node:crypto';
import { DescribeTimeToLiveCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteObjectCommand, HeadBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { FloeConfigError } from '../../runtime/errors.ts';
import { dynamoDbFailure } from './dynamodb-client.ts';
import { ensureCatalogTable, ensureStateTable, TTL_ATTRIBUTE } from './dynamodb-tables.ts';
import { createS3Client, parseS3Location } from './s3-object-store.ts';

/** The state table: key schema `pk` HASH, `sk` RANGE, and TTL enabled on `expiresAt`. */
export async function checkStateTable(client: DynamoDBClient, table: string): Promise<string> {
  await ensureStateTable(client, table);
  let ttl: { AttributeName?: string; TimeToLiveStatus?: string } | undefined;
  try {
    ttl = (await client.send(new DescribeTimeToLiveCommand({ TableName: table }))).TimeToLiveDescription;
  } catch (error) {
    throw dynamoDbFailure('floe doctor', table, 'read the TTL setting (dynamodb:DescribeTimeToLive)', error);
  }
  const status = ttl?.TimeToLiveStatus ?? 'DISABLED';
  if ((status !== 'ENABLED' && status !== 'ENABLING') || ttl?.AttributeName !== TTL_ATTRIBUTE) {
    throw new FloeConfigError(
      `The state table "${table}" has TTL ${status}${ttl?.AttributeName === undefined ? '' : ` on ${ttl.AttributeName}`}, but Floe's expired items need TTL on ${TTL_ATTRIBUTE}: aws dynamodb update-time-to-live --table-name ${table} --time-to-live-specification Enabled=true,AttributeName=${TTL_ATTRIBUTE} (Floe's stack sets it).`,
    );
  }
  return `key schema (pk HASH, sk RANGE), TTL on ${TTL_ATTRIBUTE}${status === 'ENABLING' ? ' (being enabled)' : ''}`;
}

/** The catalog table: Iceberg DynamoDbCatalog's key schema. */
export async function checkCatalogTable(client: DynamoDBClient, table: string): Promise<string> {
  await ensureCatalogTable(client, table);
  return 'key schema (identifier HASH, namespace RANGE), as Iceberg DynamoDbCatalog';
}

/**
 * The bucket of `s3://<bucket>/<prefix>` exists and honours conditional creates, on which the
 * commit protocol's immutable objects rely: a probe object under the prefix is created with
 * If-None-Match: *, created again (which must be refused with 412), then deleted.
 */
export async function checkBucket(objects: string, client: S3Client = createS3Client()): Promise<string> {
  const { bucket, prefix } = parseS3Location(objects);
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch (error) {
    const status = statusOf(error);
    if (status === 404 || codeOf(error) === 'NoSuchBucket' || codeOf(error) === 'NotFound')
      throw new FloeConfigError(
        `The S3 bucket "${bucket}" does not exist. Create it: locally with \`--create\`, on AWS by deploying Floe's stack.`,
        { cause: error },
      );
    throw s3Failure(bucket, 'read the bucket (s3:ListBucket)', error);
  }
  const key = `${prefix === '' ? '' : `${prefix}/`}.floe-doctor-${randomUUID()}`;
  const put = () =>
    client.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'floe doctor probe', IfNoneMatch: '*' }),
    );
  try {
    try {
      await put();
    } catch (error) {
      throw s3Failure(bucket, `create the probe object ${key} (s3:PutObject with If-None-Match)`, error);
    }
    let refused = false;
    try {
      await put();
    } catch (error) {
      if (statusOf(error) !== 412 && codeOf(error) !== 'PreconditionFailed')
        throw s3Failure(bucket, `create the probe object ${key} a second time`, error);
      refused = true;
    }
    if (!refused)
      throw new FloeConfigError(
        `The S3 store of bucket "${bucket}" accepted a second create of ${key} with If-None-Match: *: it does not honour conditional writes, which Floe's exactly-once commits need. Use Amazon S3 or a store that implements them.`,
      );
  } finally {
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch(() => undefined);
  }
  return `exists; a conditional create (If-None-Match: *) under ${prefix === '' ? 'the bucket root' : `${prefix}/`} works`;
}

function s3Failure(bucket: string, action: string, error: unknown): Error {
  const code = codeOf(error);
  const denied = code === 'AccessDenied' || code === 'Forbidden' || statusOf(error) === 403;
  return new FloeConfigError(
    `Could not ${action} in the S3 bucket "${bucket}": ${code}${error instanceof Error && error.message !== code ? `: ${error.message}` : ''}.${denied ? " Give the job's role s3:GetObject, PutObject, DeleteObject and ListBucket under its prefix (Floe's stack does), and check the credentials and region." : ''}`,
    { cause: error },
  );
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

function codeOf(error: unknown): string {
  const e = error as { Code?: unknown; name?: unknown } | undefined;
  for (const value of [e?.Code, e?.name]) if (typeof value === 'string' && value !== 'Error') return value;
  return 'Error';
}
