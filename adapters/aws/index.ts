/**
 * Floe's stores on AWS: DynamoDB for state items and the Iceberg catalog. The only code that
 * imports the AWS SDK.
 */

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
