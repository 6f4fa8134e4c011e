/**
 * DynamoDBStateStore implements {@link StateStore} on one DynamoDB table that all of Floe's items
 * share (docs/design.md, "DynamoDB table design"). Key schema: `pk` (S, hash) and `sk` (S, range).
 * A store has a namespace, its `pk` (e.g. `job#bids`); the StateStore key is the `sk`. An item:
 *
 * | attribute   | type | what                                                                  |
 * | ----------- | ---- | --------------------------------------------------------------------- |
 * | `pk`, `sk`  | S    | the store's namespace, the key                                        |
 * | `version`   | N    | 1 for a new item, +1 per write (puts and deletes)                     |
 * | `value`     | S    | the value as compact JSON text (absent on a tombstone)                |
 * | `token`     | S    | a random id of the write that made this version                       |
 * | `deleted`   | BOOL | `true` on a tombstone: the item was deleted                           |
 * | `expiresAt` | N    | on tombstones: epoch seconds after which DynamoDB's TTL removes it    |
 *
 * Every write is one UpdateItem whose condition is the StateStore condition; `ADD version 1` makes
 * the next version without a read. A delete writes a tombstone that TTL removes after
 * `tombstoneTtlSeconds` (default a day), so a key's versions never repeat while any writer could
 * still hold a version read before the delete (at most a Lambda timeout, 15 minutes, ago).
 *
 * A lost response is made safe by the token: the SDK retries a write whose answer was lost (a
 * timeout, a 5xx); if the first try had landed, the retry's condition fails, and DynamoDB returns
 * the item as it is (`ReturnValuesOnConditionCheckFailure: ALL_OLD`). When that item carries this
 * write's token, the write landed and put() returns it as written. If another write came after
 * it, the outcome is reported as a failed condition, which the commit protocol already treats as
 * unknown (it re-reads the head).
 *
 * Values are JSON text in an S attribute, not a DynamoDB map: a map does not keep the order of
 * object keys (Floe's state is insertion ordered), its numbers cannot hold every double (DynamoDB
 * numbers stop at 1e126), and it costs the attribute names of every nested object in item size.
 * Values are limited to {@link MAX_STATE_VALUE_BYTES}; larger ones throw StateValueTooLargeError
 * (not chunked: the protocol's state items are heads of about 200 bytes; state lives in S3).
 */

import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import {
  ConditionFailedError,
  type DeleteCondition,
  type JsonValue,
  type PutCondition,
  type StateStore,
  StateValueTooLargeError,
  stateValueText,
  utf8Length,
  type VersionedItem,
} from '../../runtime/stores/state-store.ts';
import { dynamoDbFailure, queryAll } from './dynamodb-client.ts';

/** DynamoDB's item size limit, in bytes. */
export const DYNAMODB_ITEM_LIMIT = 400 * 1024;
/** DynamoDB's size limit of a sort key value, in bytes. */
const MAX_KEY_BYTES = 1024;
const DAY_SECONDS = 24 * 60 * 60;

export interface DynamoDBStateStoreOptions {
  readonly client: DynamoDBClient;
  /** The table (key schema `pk` S hash, `sk` S range; see ensureStateTable). */
  readonly tableName: string;
  /** This store's partition key, e.g. `job#<job name>`: stores with other namespaces never see its items. */
  readonly namespace: string;
  /** Seconds a tombstone is kept before DynamoDB's TTL may remove it. @default 86400 (a day) */
  readonly tombstoneTtlSeconds?: number;
  /** Items per Query page in list() (DynamoDB's `Limit`); tests make it small to force pages. @default - up to 1 MB per page */
  readonly pageSize?: number;
  /** Epoch milliseconds now, for tombstone expiry. @default Date.now */
  readonly clock?: () => number;
}

export class DynamoDBStateStore implements StateStore {
  readonly tableName: string;
  readonly namespace: string;
  private readonly client: DynamoDBClient;
  private readonly tombstoneTtlSeconds: number;
  private readonly pageSize: number | undefined;
  private readonly clock: () => number;

  constructor(options: DynamoDBStateStoreOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.namespace = options.namespace;
    this.tombstoneTtlSeconds = options.tombstoneTtlSeconds ?? DAY_SECONDS;
    this.pageSize = options.pageSize;
    this.clock = options.clock ?? Date.now;
    if (options.namespace === '' || utf8Length(options.namespace) > MAX_KEY_BYTES) {
      throw new TypeError(
        `Invalid namespace "${options.namespace}" for ${this}: use a non-empty string of at most ${MAX_KEY_BYTES} bytes, e.g. "job#bids".`,
      );
    }
  }

  async get(key: string): Promise<VersionedItem | undefined> {
    assertKey(key);
    let item: Record<string, AttributeValue> | undefined;
    try {
      item = (
        await this.client.send(
          new GetItemCommand({ TableName: this.tableName, Key: this.keyOf(key), ConsistentRead: true }),
        )
      ).Item;
    } catch (error) {
      throw dynamoDbFailure(String(this), this.tableName, `read state item "${key}"`, error);
    }
    return item === undefined ? undefined : this.live(key, item);
  }

  async put(key: string, value: JsonValue, condition: PutCondition): Promise<VersionedItem> {
    assertKey(key);
    const text = stateValueText(key, value);
    const token = randomUUID();
    const bytes = itemBytes(this.namespace, key, text, token);
    if (bytes > DYNAMODB_ITEM_LIMIT) throw new StateValueTooLargeError(key, bytes, DYNAMODB_ITEM_LIMIT);
    const values: Record<string, AttributeValue> = {
      ':value': { S: text },
      ':token': { S: token },
      ':one': { N: '1' },
    };
    let conditionExpression: string;
    if (condition === undefined) {
      // Idempotent when the SDK retries a put that landed: the condition fails only on its own token.
      conditionExpression = 'attribute_not_exists(#token) OR #token <> :token';
    } else if ('absent' in condition) {
      conditionExpression = 'attribute_not_exists(#version) OR attribute_exists(#deleted)';
    } else {
      conditionExpression = '#version = :expected AND attribute_not_exists(#deleted)';
      values[':expected'] = { N: String(condition.expectedVersion) };
    }
    const written = await this.update(key, token, condition, {
      UpdateExpression: 'SET #value = :value, #token = :token REMOVE #deleted, #expiresAt ADD #version :one',
      ConditionExpression: conditionExpression,
      ExpressionAttributeValues: values,
    });
    return { key, version: versionOf(key, written), value };
  }

  async delete(key: string, condition?: DeleteCondition): Promise<void> {
    assertKey(key);
    const token = randomUUID();
    const values: Record<string, AttributeValue> = {
      ':true': { BOOL: true },
      ':expires': { N: String(Math.ceil(this.clock() / 1000) + this.tombstoneTtlSeconds) },
      ':token': { S: token },
      ':one': { N: '1' },
    };
    let conditionExpression = 'attribute_exists(#version) AND attribute_not_exists(#deleted)';
    if (condition !== undefined) {
      conditionExpression = '#version = :expected AND attribute_not_exists(#deleted)';
      values[':expected'] = { N: String(condition.expectedVersion) };
    }
    await this.update(key, token, condition ?? 'missing is fine', {
      UpdateExpression:
        'SET #deleted = :true, #expiresAt = :expires, #token = :token REMOVE #value ADD #version :one',
      ConditionExpression: conditionExpression,
      ExpressionAttributeValues: values,
    });
  }

  async list(prefix: string): Promise<VersionedItem[]> {
    const raw = await queryAll(
      this.client,
      {
        TableName: this.tableName,
        ConsistentRead: true,
        // begins_with does not take an empty string.
        KeyConditionExpression: prefix === '' ? '#pk = :pk' : '#pk = :pk AND begins_with(#sk, :prefix)',
        FilterExpression: 'attribute_not_exists(#deleted)',
        ExpressionAttributeNames: {
          '#pk': 'pk',
          ...(prefix === '' ? {} : { '#sk': 'sk' }),
          '#deleted': 'deleted',
        },
        ExpressionAttributeValues: {
          ':pk': { S: this.namespace },
          ...(prefix === '' ? {} : { ':prefix': { S: prefix } }),
        },
        Limit: this.pageSize,
      },
      (error) => dynamoDbFailure(String(this), this.tableName, `list state items under "${prefix}"`, error),
    );
    const items: VersionedItem[] = [];
    for (const item of raw) {
      const key = item.sk?.S;
      if (key === undefined) continue;
      const live = this.live(key, item);
      if (live !== undefined) items.push(live);
    }
    // DynamoDB orders sort keys by UTF-8 bytes; the contract orders by JavaScript string order.
    return items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  toString(): string {
    return `DynamoDBStateStore(${this.tableName}, ${this.namespace})`;
  }

  /**
   * One conditional UpdateItem. A failed condition is a ConditionFailedError, unless the item as
   * it is now carries this write's token (a retry of a write that landed): then it is the result.
   * For an unconditional delete (`condition` is 'missing is fine') a failed condition means the
   * item was missing or deleted already, and the delete does nothing.
   */
  private async update(
    key: string,
    token: string,
    condition: PutCondition | DeleteCondition | 'missing is fine',
    input: Pick<
      UpdateItemCommandInput,
      'UpdateExpression' | 'ConditionExpression' | 'ExpressionAttributeValues'
    >,
  ): Promise<Record<string, AttributeValue>> {
    const names: Record<string, string> = {};
    for (const name of ['version', 'value', 'token', 'deleted', 'expiresAt']) {
      if (`${input.UpdateExpression} ${input.ConditionExpression}`.includes(`#${name}`))
        names[`#${name}`] = name;
    }
    try {
      const result = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: this.keyOf(key),
          ...input,
          ExpressionAttributeNames: names,
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return result.Attributes ?? {};
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) {
        throw dynamoDbFailure(String(this), this.tableName, `write state item "${key}"`, error);
      }
      // The item as it is now: DynamoDB returns it with the error; read it if the server did not.
      const current = error.Item ?? (await this.rawItem(key));
      if (current?.token?.S === token) return current;
      if (condition === 'missing is fine') return {};
      const expected =
        condition !== undefined && 'expectedVersion' in condition ? condition.expectedVersion : undefined;
      const actual =
        current === undefined || current.deleted?.BOOL === true ? undefined : versionOf(key, current);
      throw new ConditionFailedError(key, expected, actual);
    }
  }

  private async rawItem(key: string): Promise<Record<string, AttributeValue> | undefined> {
    try {
      return (
        await this.client.send(
          new GetItemCommand({ TableName: this.tableName, Key: this.keyOf(key), ConsistentRead: true }),
        )
      ).Item;
    } catch (error) {
      throw dynamoDbFailure(String(this), this.tableName, `read state item "${key}"`, error);
    }
  }

  private keyOf(key: string): Record<string, AttributeValue> {
    return { pk: { S: this.namespace }, sk: { S: key } };
  }

  /** The item, or undefined for a tombstone. */
  private live(key: string, item: Record<string, AttributeValue>): VersionedItem | undefined {
    if (item.deleted?.BOOL === true) return undefined;
    const text = item.value?.S;
    if (text === undefined) {
      throw dynamoDbFailure(
        String(this),
        this.tableName,
        `read state item "${key}"`,
        new Error('it has no value attribute'),
      );
    }
    let value: JsonValue;
    try {
      value = JSON.parse(text) as JsonValue;
    } catch (error) {
      throw dynamoDbFailure(String(this), this.tableName, `read state item "${key}"`, error);
    }
    return { key, version: versionOf(key, item), value };
  }
}

function versionOf(key: string, item: Record<string, AttributeValue>): number {
  const version = Number(item.version?.N);
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new TypeError(
      `State item "${key}" has no valid version attribute (found ${JSON.stringify(item.version)}).`,
    );
  }
  return version;
}

/** Throws a TypeError unless `key` can be a DynamoDB sort key: non-empty, valid UTF-16, at most 1024 bytes. */
function assertKey(key: string): void {
  if (key.length === 0) throw new TypeError('Invalid state key "": use a non-empty string.');
  try {
    encodeURIComponent(key); // throws on a lone surrogate
  } catch {
    throw new TypeError(
      `Invalid state key ${JSON.stringify(key)}: it has a lone surrogate, which UTF-8 cannot hold.`,
    );
  }
  const bytes = utf8Length(key);
  if (bytes > MAX_KEY_BYTES) {
    throw new TypeError(
      `Invalid state key "${key.slice(0, 64)}…": ${bytes} bytes of UTF-8, over DynamoDB's sort key limit of ${MAX_KEY_BYTES}. Use a shorter key.`,
    );
  }
}

/** The size DynamoDB counts for an item: attribute names plus values (a number as at most 21 bytes). */
function itemBytes(namespace: string, key: string, text: string, token: string): number {
  return (
    2 + utf8Length(namespace) + 2 + utf8Length(key) + 7 + 21 + 5 + utf8Length(text) + 5 + utf8Length(token)
  );
}
