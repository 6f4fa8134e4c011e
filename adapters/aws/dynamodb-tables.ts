/**
 * Creating and checking Floe's DynamoDB tables: the state table (`pk`/`sk`, TTL on `expiresAt`)
 * and the Iceberg catalog table in the layout of Apache Iceberg's DynamoDbCatalog (`identifier`
 * hash, `namespace` range, the `namespace-identifier` index). On AWS the stack creates them;
 * `--create` creates them on a local server. Creation is never implicit: it needs `create: true`,
 * and against an endpoint that is not on this machine also `allowRemote: true`.
 */
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DeleteTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  type TableDescription,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { StorageError } from '../../runtime/stores/object-store.ts';
import { awsErrorName, dynamoDbFailure, endpointOf, isLocalEndpoint } from './dynamodb-client.ts';

/** The TTL attribute of the state table: epoch seconds after which DynamoDB removes the item. */
export const TTL_ATTRIBUTE = 'expiresAt';
/** The catalog's default table name, as in Iceberg's DynamoDbCatalog (`dynamodb.table-name`). */
export const DEFAULT_CATALOG_TABLE = 'iceberg';

export interface EnsureTableOptions {
  /** Create the table when it does not exist. Without it a missing table is an error. @default false */
  readonly create?: boolean;
  /** Allow creating on an endpoint that is not on this machine (real AWS). @default false */
  readonly allowRemote?: boolean;
}

/** What ensure*Table did. */
export type EnsureOutcome = 'exists' | 'created';

/** Makes sure the state table exists with Floe's key schema (and TTL on `expiresAt` when created). */
export async function ensureStateTable(
  client: DynamoDBClient,
  tableName: string,
  options: EnsureTableOptions = {},
): Promise<EnsureOutcome> {
  return ensureTable(
    client,
    options,
    {
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    },
    true,
  );
}

/** Makes sure the catalog table exists in the layout of Iceberg's DynamoDbCatalog. */
export async function ensureCatalogTable(
  client: DynamoDBClient,
  tableName: string = DEFAULT_CATALOG_TABLE,
  options: EnsureTableOptions = {},
): Promise<EnsureOutcome> {
  return ensureTable(
    client,
    options,
    {
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'identifier', AttributeType: 'S' },
        { AttributeName: 'namespace', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'identifier', KeyType: 'HASH' },
        { AttributeName: 'namespace', KeyType: 'RANGE' },
      ],
      // Iceberg's listTables(namespace) queries this index.
      GlobalSecondaryIndexes: [
        {
          IndexName: 'namespace-identifier',
          KeySchema: [
            { AttributeName: 'namespace', KeyType: 'HASH' },
            { AttributeName: 'identifier', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        },
      ],
    },
    false,
  );
}

async function ensureTable(
  client: DynamoDBClient,
  options: EnsureTableOptions,
  input: CreateTableCommandInput,
  ttl: boolean,
): Promise<EnsureOutcome> {
  const tableName = input.TableName!;
  const endpoint = await endpointOf(client);
  // Checked before any request: asking to create against AWS needs allowRemote, table or not.
  if (options.create === true && !isLocalEndpoint(endpoint) && options.allowRemote !== true) {
    throw new StorageError(
      `Refusing to create the DynamoDB table "${tableName}" at ${endpoint ?? 'the AWS endpoint of the region'}: it is not a local server. Deploy Floe's stack to create tables on AWS, or pass allowRemote to create it anyway.`,
    );
  }
  const existing = await describe(client, tableName);
  if (existing !== undefined) {
    checkKeySchema(tableName, existing, input);
    return 'exists';
  }
  if (options.create !== true) {
    throw new StorageError(
      `The DynamoDB table "${tableName}" does not exist${endpoint === undefined ? '' : ` at ${endpoint}`}. Create it: locally with \`--create\`, on AWS by deploying Floe's stack.`,
    );
  }
  try {
    await client.send(new CreateTableCommand(input));
  } catch (error) {
    // Another process created it first: fine.
    if (awsErrorName(error) !== 'ResourceInUseException') {
      throw dynamoDbFailure('ensureTable', tableName, 'create the table', error);
    }
  }
  await waitUntilTableExists(
    { client, maxWaitTime: 120, minDelay: 1, maxDelay: 5 },
    { TableName: tableName },
  );
  if (ttl) {
    try {
      await client.send(
        new UpdateTimeToLiveCommand({
          TableName: tableName,
          TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
        }),
      );
    } catch (error) {
      // A racing creator enabled it already.
      if (awsErrorName(error) !== 'ValidationException') {
        throw dynamoDbFailure('ensureTable', tableName, `enable TTL on ${TTL_ATTRIBUTE}`, error);
      }
    }
  }
  return 'created';
}

async function describe(client: DynamoDBClient, tableName: string): Promise<TableDescription | undefined> {
  try {
    return (await client.send(new DescribeTableCommand({ TableName: tableName }))).Table;
  } catch (error) {
    if (awsErrorName(error) === 'ResourceNotFoundException') return undefined;
    throw dynamoDbFailure('ensureTable', tableName, 'describe the table', error);
  }
}

function checkKeySchema(tableName: string, table: TableDescription, wanted: CreateTableCommandInput): void {
  const text = (schema: { AttributeName?: string; KeyType?: string }[] | undefined) =>
    (schema ?? []).map((k) => `${k.AttributeName} ${k.KeyType}`).join(', ');
  if (text(table.KeySchema) !== text(wanted.KeySchema)) {
    throw new StorageError(
      `The DynamoDB table "${tableName}" has the key schema (${text(table.KeySchema)}), but Floe needs (${text(wanted.KeySchema)}). Use another table name, or a table Floe's stack created.`,
    );
  }
}

/** Deletes a table on a local server (tests, `floe` cleanup of a local run); refuses any other endpoint. */
export async function deleteLocalTable(client: DynamoDBClient, tableName: string): Promise<void> {
  const endpoint = await endpointOf(client);
  if (!isLocalEndpoint(endpoint)) {
    throw new StorageError(
      `Refusing to delete the DynamoDB table "${tableName}" at ${endpoint ?? 'the AWS endpoint of the region'}: only tables on a local server are deleted here.`,
    );
  }
  try {
    await client.send(new DeleteTableCommand({ TableName: tableName }));
  } catch (error) {
    if (awsErrorName(error) !== 'ResourceNotFoundException') {
      throw dynamoDbFailure('deleteLocalTable', tableName, 'delete the table', error);
    }
  }
}
