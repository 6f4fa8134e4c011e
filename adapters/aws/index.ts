/**
 * Floe's stores on AWS: DynamoDB for state items and the Iceberg catalog, and small objects as
 * DynamoDB items in front of S3; the MSK control plane (bootstrap brokers, cluster state). The
 * only code that imports the AWS SDK.
 */

export {
  AWS_STORE_ENV,
  type AwsStoresConfig,
  awsCheckpointStores,
  awsStoresFromEnv,
  createLocalAwsStores,
  parseDynamoDbLocation,
} from './aws-stores.ts';
export { DynamoDBCatalog, type DynamoDBCatalogOptions } from './dynamodb-catalog.ts';
export {
  createDynamoDbClient,
  DEFAULT_MAX_ATTEMPTS,
  type DynamoDbClientOptions,
  isLocalEndpoint,
} from './dynamodb-client.ts';
export {
  DYNAMODB_ITEM_LIMIT,
  DynamoDBStateStore,
  type DynamoDBStateStoreOptions,
} from './dynamodb-state-store.ts';
export {
  DEFAULT_CATALOG_TABLE,
  deleteLocalTable,
  type EnsureOutcome,
  type EnsureTableOptions,
  ensureCatalogTable,
  ensureStateTable,
  TTL_ATTRIBUTE,
} from './dynamodb-tables.ts';
export {
  type BootstrapOptions,
  bootstrapBrokers,
  createMskClient,
  describeListeners,
  describeMskCluster,
  MSK_AUTH_KINDS,
  type MskAuth,
  MskClient,
  type MskClientOptions,
  type MskClusterSummary,
  MskListenerError,
  type MskListeners,
  mskListeners,
  parseClusterArn,
} from './msk.ts';
export {
  createS3Client,
  ensureBucket,
  parseS3Location,
  S3ObjectStore,
  type S3ObjectStoreOptions,
} from './s3-object-store.ts';
export {
  DEFAULT_INLINE_LIMIT,
  MAX_INLINE_LIMIT,
  TieredObjectStore,
  type TieredObjectStoreOptions,
} from './tiered-object-store.ts';
