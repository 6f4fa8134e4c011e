/**
 * DynamoDBCatalog implements {@link Catalog} on a DynamoDB table in the layout of Apache
 * Iceberg's own `DynamoDbCatalog` (iceberg-aws), so that Iceberg's readers (Spark, Trino, Flink,
 * pyiceberg's DynamoDB catalog) configured with `catalog-impl=...DynamoDbCatalog` and the same
 * table name find Floe's tables. Items:
 *
 * | attribute                      | table item                       | namespace item           |
 * | ------------------------------ | -------------------------------- | ------------------------ |
 * | `identifier` (S, hash)         | `<namespace>.<table>`            | `NAMESPACE`              |
 * | `namespace` (S, range)         | `<namespace>`                    | `<namespace>`            |
 * | `v` (S)                        | a UUID, new on every change      | a UUID                   |
 * | `created_at`, `updated_at` (N) | epoch milliseconds               | epoch milliseconds       |
 * | `p.table_type` (S)             | `ICEBERG`                        |                          |
 * | `p.metadata_location` (S)      | the current metadata file        |                          |
 * | `p.previous_metadata_location` | the one before (after a swap)    |                          |
 *
 * The compare-and-swap is one conditional write: a create is a PutItem on
 * `attribute_not_exists(v)` (as Iceberg's own create), a swap an UpdateItem on
 * `p.metadata_location = :expected`. Iceberg's own writers condition on `v`; both hold together
 * because every commit changes both, and metadata file names are unique, so a location never
 * comes back. Conditioning on the location spares the read of `v` (Floe's caller already read the
 * location). A write whose answer was lost is retried by the SDK; if the retry finds the item
 * carrying its own new `v` (returned with the failed condition, ALL_OLD), the swap landed and
 * compareAndSwap returns true.
 */

import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  type ScanCommandOutput,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { assertTableName } from '../../runtime/iceberg/table-layout.ts';
import type { Catalog, CatalogTable } from '../../runtime/stores/catalog.ts';
import { dynamoDbFailure } from './dynamodb-client.ts';
import { DEFAULT_CATALOG_TABLE } from './dynamodb-tables.ts';

const NAMESPACE_ITEM = 'NAMESPACE';
const LOCATION = 'p.metadata_location';
const PREVIOUS = 'p.previous_metadata_location';
const TABLE_TYPE = 'p.table_type';

export interface DynamoDBCatalogOptions {
  readonly client: DynamoDBClient;
  /** @default 'iceberg' (Iceberg's `dynamodb.table-name` default) */
  readonly tableName?: string;
  /** Items per Scan page in listTables(); tests make it small to force pages. @default - up to 1 MB */
  readonly pageSize?: number;
  /** Epoch milliseconds now, for `created_at` and `updated_at`. @default Date.now */
  readonly clock?: () => number;
}

export class DynamoDBCatalog implements Catalog {
  readonly tableName: string;
  private readonly client: DynamoDBClient;
  private readonly pageSize: number | undefined;
  private readonly clock: () => number;

  constructor(options: DynamoDBCatalogOptions) {
    this.client = options.client;
    this.tableName = options.tableName ?? DEFAULT_CATALOG_TABLE;
    this.pageSize = options.pageSize;
    this.clock = options.clock ?? Date.now;
  }

  async currentMetadataLocation(name: string): Promise<string | undefined> {
    const key = tableKey(name);
    let item: Record<string, AttributeValue> | undefined;
    try {
      item = (
        await this.client.send(
          new GetItemCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
        )
      ).Item;
    } catch (error) {
      throw dynamoDbFailure(String(this), this.tableName, `read the pointer of table ${name}`, error);
    }
    if (item === undefined) return undefined;
    return this.locationOf(name, item);
  }

  async compareAndSwap(name: string, expected: string | undefined, next: string): Promise<boolean> {
    const key = tableKey(name);
    const version = randomUUID();
    const now = { N: String(this.clock()) };
    try {
      if (expected === undefined) {
        await this.ensureNamespace(key.namespace!.S!);
        await this.client.send(
          new PutItemCommand({
            TableName: this.tableName,
            Item: {
              ...key,
              v: { S: version },
              created_at: now,
              updated_at: now,
              [TABLE_TYPE]: { S: 'ICEBERG' },
              [LOCATION]: { S: next },
            },
            ConditionExpression: 'attribute_not_exists(v)',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
      } else {
        await this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: key,
            UpdateExpression: 'SET #location = :next, #previous = :expected, v = :v, updated_at = :now',
            ConditionExpression: '#location = :expected',
            ExpressionAttributeNames: { '#location': LOCATION, '#previous': PREVIOUS },
            ExpressionAttributeValues: {
              ':next': { S: next },
              ':expected': { S: expected },
              ':v': { S: version },
              ':now': now,
            },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
      }
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        // Our own write, retried by the SDK after its answer was lost: it landed.
        const current =
          error.Item ??
          (await this.client
            .send(new GetItemCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }))
            .then((r) => r.Item)
            .catch(() => undefined));
        return current?.v?.S === version;
      }
      throw dynamoDbFailure(
        String(this),
        this.tableName,
        `swap the pointer of table ${name} to ${next}`,
        error,
      );
    }
  }

  async listTables(): Promise<CatalogTable[]> {
    const tables: CatalogTable[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      let page: ScanCommandOutput;
      try {
        page = await this.client.send(
          new ScanCommand({
            TableName: this.tableName,
            ConsistentRead: true,
            ExclusiveStartKey: start,
            Limit: this.pageSize,
          }),
        );
      } catch (error) {
        throw dynamoDbFailure(String(this), this.tableName, 'list tables', error);
      }
      for (const item of page.Items ?? []) {
        const name = item.identifier?.S;
        if (name === undefined || name === NAMESPACE_ITEM) continue;
        if (item[TABLE_TYPE]?.S?.toUpperCase() !== 'ICEBERG' || item[LOCATION]?.S === undefined) continue;
        tables.push({ name, metadataLocation: item[LOCATION].S });
      }
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    return tables.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  toString(): string {
    return `DynamoDBCatalog(${this.tableName})`;
  }

  /** Creates the namespace item if there is none (Iceberg lists namespaces from these items). */
  private async ensureNamespace(namespace: string): Promise<void> {
    const now = { N: String(this.clock()) };
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: {
            identifier: { S: NAMESPACE_ITEM },
            namespace: { S: namespace },
            v: { S: randomUUID() },
            created_at: now,
            updated_at: now,
          },
          ConditionExpression: 'attribute_not_exists(v)',
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  private locationOf(name: string, item: Record<string, AttributeValue>): string {
    const location = item[LOCATION]?.S;
    if (location === undefined) {
      throw dynamoDbFailure(
        String(this),
        this.tableName,
        `read the pointer of table ${name}`,
        new Error(`its item has no "${LOCATION}" string attribute; is it an Iceberg table item?`),
      );
    }
    return location;
  }
}

/** The item key of a table: `identifier` = `<namespace>.<table>`, `namespace` = everything before the last dot. */
function tableKey(name: string): Record<string, AttributeValue> {
  assertTableName(name);
  return { identifier: { S: name }, namespace: { S: name.slice(0, name.lastIndexOf('.')) } };
}
