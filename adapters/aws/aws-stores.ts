/**
 * The four stores of the commit protocol on AWS, as a deployed Floe job uses them:
 * - heads (offsets, watermarks, the latest checkpoint): DynamoDB items, one per commit group;
 * - checkpoints: manifests in S3; engine state objects (bases and deltas) as DynamoDB items up
 *   to 5 KB, larger ones spilled to S3 (TieredObjectStore), all compressed (zstd by default);
 * - warehouse: the Iceberg tables' data and metadata files in S3;
 * - catalog: the tables' metadata pointers in DynamoDB, in Apache Iceberg's DynamoDbCatalog layout.
 * docs/design.md ("Floe on AWS") says why each lives where it does.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { checkpointPrefixReach, isStateObjectKey, safeName } from '../../runtime/checkpoint/layout.ts';
import { FloeConfigError } from '../../runtime/errors.ts';
import type { CheckpointStores } from '../../runtime/stores/checkpoint-stores.ts';
import {
  type CheckpointCompression,
  CompressingObjectStore,
} from '../../runtime/stores/compressing-object-store.ts';
import { SplitObjectStore } from '../../runtime/stores/split-object-store.ts';
import { DynamoDBCatalog } from './dynamodb-catalog.ts';
import { createDynamoDbClient } from './dynamodb-client.ts';
import { DynamoDBStateStore } from './dynamodb-state-store.ts';
import { DEFAULT_CATALOG_TABLE, ensureCatalogTable, ensureStateTable } from './dynamodb-tables.ts';
import { createS3Client, ensureBucket, parseS3Location, S3ObjectStore } from './s3-object-store.ts';
import { DEFAULT_INLINE_LIMIT, TieredObjectStore } from './tiered-object-store.ts';

export interface AwsStoresConfig {
  /** The job's name: its items' partition keys in the DynamoDB tables. */
  readonly job: string;
  /** The state table (heads and inline state): key schema `pk` S + `sk` S, TTL on `expiresAt`. */
  readonly stateTable: string;
  /** The Iceberg catalog table (Iceberg's DynamoDbCatalog layout). @default 'iceberg' */
  readonly catalogTable?: string;
  /** `s3://<bucket>/<prefix>`: checkpoints under `<prefix>/checkpoints/`, tables under `<prefix>/warehouse/`. */
  readonly objects: string;
  /** Compression of manifests and state objects, as Flink's checkpoint compression. @default 'zstd' */
  readonly compression?: CheckpointCompression;
  /** State objects up to this many bytes (after compression) are DynamoDB items; larger ones go to S3. @default 5120 */
  readonly inlineStateBytes?: number;
  /** @default - {@link createDynamoDbClient} (region, credentials and `AWS_ENDPOINT_URL_DYNAMODB` from the environment) */
  readonly dynamodb?: DynamoDBClient;
  /** @default - {@link createS3Client} (region, credentials and `AWS_ENDPOINT_URL_S3` from the environment) */
  readonly s3?: S3Client;
}

export function awsCheckpointStores(config: AwsStoresConfig): CheckpointStores {
  const dynamodb = config.dynamodb ?? createDynamoDbClient();
  const s3 = config.s3 ?? createS3Client();
  const { bucket, prefix } = parseS3Location(config.objects);
  const under = (folder: string) => `s3://${bucket}/${prefix === '' ? '' : `${prefix}/`}${folder}`;
  const namespace = safeName(config.job);
  const checkpointObjects = new S3ObjectStore(under('checkpoints'), { client: s3 });
  // Engine state is what a commit writes most: as items it costs a 1 KB write unit per KB instead
  // of an S3 PUT (the price of about eight such units); past inlineStateBytes S3 is cheaper.
  const state = new TieredObjectStore({
    client: dynamodb,
    tableName: config.stateTable,
    namespace: `state#${namespace}`,
    large: checkpointObjects,
    inlineLimit: config.inlineStateBytes ?? DEFAULT_INLINE_LIMIT,
  });
  const checkpoints = new SplitObjectStore(checkpointObjects, state, isStateObjectKey, (p) => {
    const reach = checkpointPrefixReach(p);
    return { first: reach.other, second: reach.state };
  });
  return {
    heads: new DynamoDBStateStore({
      client: dynamodb,
      tableName: config.stateTable,
      namespace: `job#${namespace}`,
    }),
    checkpoints: new CompressingObjectStore(checkpoints, config.compression ?? 'zstd'),
    warehouse: new S3ObjectStore(under('warehouse'), { client: s3 }),
    catalog: new DynamoDBCatalog({
      client: dynamodb,
      tableName: config.catalogTable ?? DEFAULT_CATALOG_TABLE,
    }),
  };
}

/**
 * Creates the tables and the bucket if missing, on a local server only (moto, versitygw): never
 * silently in AWS, where the deployment stack creates them.
 */
export async function createLocalAwsStores(config: AwsStoresConfig): Promise<void> {
  const dynamodb = config.dynamodb ?? createDynamoDbClient();
  const s3 = config.s3 ?? createS3Client();
  await Promise.all([
    ensureStateTable(dynamodb, config.stateTable, { create: true }),
    ensureCatalogTable(dynamodb, config.catalogTable ?? DEFAULT_CATALOG_TABLE, { create: true }),
    ensureBucket(parseS3Location(config.objects).bucket, { client: s3 }),
  ]);
}

/** `dynamodb://<table>` → the table name. */
export function parseDynamoDbLocation(location: string, what = 'state'): string {
  const match = /^dynamodb:\/\/([A-Za-z0-9_.-]{3,255})\/?$/.exec(location);
  if (match === null) {
    throw new FloeConfigError(
      `Invalid ${what} location "${location}". Use dynamodb://<table>, e.g. dynamodb://floe-state (a table name of 3-255 characters: letters, digits, "_", "-", ".").`,
    );
  }
  return match[1]!;
}

/** The environment variables a deployed handler reads its stores from (the CDK construct sets them). */
export const AWS_STORE_ENV = {
  stateTable: 'FLOE_STATE_TABLE',
  catalogTable: 'FLOE_CATALOG_TABLE',
  bucket: 'FLOE_BUCKET',
  prefix: 'FLOE_PREFIX',
  compression: 'FLOE_CHECKPOINT_COMPRESSION',
} as const;

/**
 * The AWS stores named by the environment, or `undefined` when `FLOE_STATE_TABLE` is not set.
 * A partial configuration is an error naming what is missing, so a deployment mistake fails the
 * cold start instead of a batch.
 */
export function awsStoresFromEnv(
  job: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): CheckpointStores | undefined {
  const stateTable = env[AWS_STORE_ENV.stateTable];
  if (stateTable === undefined || stateTable === '') return undefined;
  const bucket = env[AWS_STORE_ENV.bucket];
  if (bucket === undefined || bucket === '') {
    throw new FloeConfigError(
      `${AWS_STORE_ENV.stateTable} is set but ${AWS_STORE_ENV.bucket} is not: a Floe job on AWS needs both its DynamoDB table and its S3 bucket.`,
    );
  }
  const compression = env[AWS_STORE_ENV.compression] ?? 'zstd';
  if (compression !== 'none' && compression !== 'gzip' && compression !== 'zstd') {
    throw new FloeConfigError(
      `${AWS_STORE_ENV.compression} must be none, gzip or zstd, got "${compression}".`,
    );
  }
  const prefix = env[AWS_STORE_ENV.prefix] ?? '';
  return awsCheckpointStores({
    job,
    stateTable,
    catalogTable: env[AWS_STORE_ENV.catalogTable] || undefined,
    objects: `s3://${bucket}/${prefix}`,
    compression,
  });
}
