/**
 * Store locations (store-locations.ts) on the AWS stores as a deployment assembles them
 * (`awsCheckpointStores`: heads and catalog in DynamoDB, manifests in S3, state as DynamoDB items
 * spilling to S3, compressed), against the local servers (moto, versitygw) that vitest's global
 * setup starts. Without them this fails, never skips.
 *
 * Locations share one state table (each its own job namespace) and one bucket (each its own
 * prefix); each has its own catalog table, since the examples' table names are fixed.
 */
import { randomUUID } from 'node:crypto';
import { type AwsStoresConfig, awsCheckpointStores } from '../../adapters/aws/aws-stores.ts';
import {
  deleteLocalTable,
  ensureCatalogTable,
  ensureStateTable,
} from '../../adapters/aws/dynamodb-tables.ts';
import { ensureBucket } from '../../adapters/aws/s3-object-store.ts';
import { localDynamoDbClient, uniqueTableName } from './local-dynamodb.ts';
import { requireLocalS3 } from './local-s3.ts';
import type { StoreFactory, StoreLocation } from './store-locations.ts';

export const PROTOCOL_BUCKET = 'floe-protocol-tests';

export interface AwsLocationOptions {
  /** The client the stores use (e.g. one that injects faults). @default - a plain local client */
  readonly dynamodb?: AwsStoresConfig['dynamodb'];
  /** @default - the stores' own client (`createS3Client`) */
  readonly s3?: AwsStoresConfig['s3'];
  /** @default 5120 (the deployment's) */
  readonly inlineStateBytes?: number;
}

export interface AwsLocations {
  /** A fresh location per call. */
  readonly factory: StoreFactory;
  /** The configurations of the locations made so far. */
  readonly made: readonly AwsStoresConfig[];
  /** Deletes the tables the locations used (afterAll). */
  cleanup(): Promise<void>;
}

export function awsLocations(options: AwsLocationOptions = {}): AwsLocations {
  requireLocalS3();
  // Tables are created and deleted through a plain client, whatever the stores use.
  const admin = localDynamoDbClient();
  const dynamodb = options.dynamodb ?? admin;
  const stateTable = uniqueTableName('floe-protocol');
  const catalogTables: string[] = [];
  const made: AwsStoresConfig[] = [];
  let ready: Promise<void> | undefined;
  const factory: StoreFactory = async () => {
    ready ??= Promise.all([
      ensureStateTable(admin, stateTable, { create: true }),
      ensureBucket(PROTOCOL_BUCKET),
    ]).then(() => undefined);
    await ready;
    const catalogTable = uniqueTableName('floe-protocol-iceberg');
    catalogTables.push(catalogTable);
    await ensureCatalogTable(admin, catalogTable, { create: true });
    const id = randomUUID();
    const config: AwsStoresConfig = {
      job: `job-${id}`,
      stateTable,
      catalogTable,
      objects: `s3://${PROTOCOL_BUCKET}/${id}`,
      dynamodb,
      ...(options.s3 === undefined ? {} : { s3: options.s3 }),
      ...(options.inlineStateBytes === undefined ? {} : { inlineStateBytes: options.inlineStateBytes }),
    };
    made.push(config);
    const location: StoreLocation = {
      open: () => awsCheckpointStores(config),
      label: `dynamodb://${stateTable} (${config.job}), dynamodb://${catalogTable}, ${config.objects}`,
    };
    return location;
  };
  return {
    factory,
    made,
    async cleanup() {
      for (const table of [stateTable, ...catalogTables]) await deleteLocalTable(admin, table);
    },
  };
}
