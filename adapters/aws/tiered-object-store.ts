/**
 * TieredObjectStore is an {@link ObjectStore} that keeps small objects as DynamoDB items and
 * spills larger ones to another ObjectStore (S3): small state objects then cost one DynamoDB write
 * (a few ms, $1.25 per million up to 1 KB) instead of an S3 PUT (tens of ms, $5 per million).
 *
 * Every object has one item in the state table (`pk` = the store's namespace, `sk` = the key),
 * and the item is the only authority on whether the key exists:
 *
 * | attribute | what                                                                        |
 * | --------- | --------------------------------------------------------------------------- |
 * | `bytes` B | the object, when it is at most `inlineLimit` bytes                           |
 * | `ref` S   | otherwise the key of its blob in the large store: `<key>.<uuid>.spill`        |
 * | `size` N  | the object's size in bytes                                                  |
 * | `token` S | a random id of the write, to recognise our own write on a retried request   |
 *
 * A large object is written to a blob under a fresh unique name first, then the item that names it
 * is written: a reader never sees an item whose blob is not complete. A conditional create
 * (`If-None-Match: *`) is one conditional PutItem (`attribute_not_exists(sk)`), whatever the size,
 * so of racing creators exactly one wins even when one writes inline and another spills; a loser
 * deletes its blob. Listing is a Query of the items, which are the union of both tiers. (Listing
 * both stores and merging would not do: no conditional write spans DynamoDB and S3.)
 *
 * Left behind on a crash: the blob of a put that died before its item was written, or of a delete
 * that died after removing the item. Such blobs are never named by an item, so never read; they
 * cost storage until a sweep deletes blobs no item names (not done yet).
 */
import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  assertValidKey,
  keyUnder,
  type ObjectStore,
  PreconditionFailedError,
  type PutOptions,
  StorageError,
} from '../../runtime/stores/object-store.ts';
import { dynamoDbFailure, queryAll } from './dynamodb-client.ts';

/**
 * The default largest object kept inline in its item. An object is written once and deleted once,
 * and DynamoDB bills a delete like a write: inline, n KB cost 2n write units ($1.25 per million
 * per KB); spilled, one S3 PUT ($5 per million), a GET, and the naming item's write and delete
 * (about $6.8 per million) plus a second round trip. They cross at about 5 KB.
 */
export const DEFAULT_INLINE_LIMIT = 5 * 1024;
/** The largest `inlineLimit` allowed: an item holds at most 400 KB with its key and attributes. */
export const MAX_INLINE_LIMIT = 350 * 1024;

export interface TieredObjectStoreOptions {
  readonly client: DynamoDBClient;
  /** The state table (key schema `pk`, `sk`; see ensureStateTable). */
  readonly tableName: string;
  /** This store's partition key, e.g. `checkpoints#<job>`. */
  readonly namespace: string;
  /** Where objects larger than `inlineLimit` go (S3). */
  readonly large: ObjectStore;
  /** The largest object kept inline, in bytes. @default 5120 */
  readonly inlineLimit?: number;
  /** Items per Query page in list(). @default - up to 1 MB */
  readonly pageSize?: number;
}

export class TieredObjectStore implements ObjectStore {
  readonly tableName: string;
  readonly namespace: string;
  readonly inlineLimit: number;
  private readonly client: DynamoDBClient;
  private readonly large: ObjectStore;
  private readonly pageSize: number | undefined;

  constructor(options: TieredObjectStoreOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.namespace = options.namespace;
    this.large = options.large;
    this.pageSize = options.pageSize;
    this.inlineLimit = options.inlineLimit ?? DEFAULT_INLINE_LIMIT;
    if (
      !Number.isSafeInteger(this.inlineLimit) ||
      this.inlineLimit < 0 ||
      this.inlineLimit > MAX_INLINE_LIMIT
    ) {
      throw new TypeError(
        `inlineLimit of ${this} must be a whole number of bytes from 0 to ${MAX_INLINE_LIMIT}, got ${options.inlineLimit}.`,
      );
    }
    if (options.namespace === '')
      throw new TypeError('The namespace of a TieredObjectStore must not be empty.');
  }

  async put(key: string, bytes: Uint8Array, options: PutOptions = {}): Promise<void> {
    assertValidKey(key);
    const token = randomUUID();
    const item: Record<string, AttributeValue> = {
      ...this.itemKey(key),
      size: { N: String(bytes.byteLength) },
      token: { S: token },
    };
    let ref: string | undefined;
    if (bytes.byteLength <= this.inlineLimit) {
      item.bytes = { B: bytes };
    } else {
      ref = `${key}.${token}.spill`;
      await this.large.put(ref, bytes, { ifNoneMatch: '*' });
      item.ref = { S: ref };
    }
    const create = options.ifNoneMatch === '*';
    let old: Record<string, AttributeValue> | undefined;
    try {
      old = (
        await this.client.send(
          new PutItemCommand({
            TableName: this.tableName,
            Item: item,
            ...(create
              ? {
                  ConditionExpression: 'attribute_not_exists(sk) OR #token = :token',
                  ExpressionAttributeNames: { '#token': 'token' },
                  ExpressionAttributeValues: { ':token': { S: token } },
                }
              : {}),
            ReturnValues: 'ALL_OLD',
          }),
        )
      ).Attributes;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        // Lost the create: no item names our blob.
        if (ref !== undefined) await this.large.delete(ref).catch(() => undefined);
        throw new PreconditionFailedError(key);
      }
      // The outcome is unknown (the item may have landed): the blob must stay.
      throw dynamoDbFailure(String(this), this.tableName, `write object ${key}`, error);
    }
    // A replaced object's blob is garbage now (unless the "old" item is our own, retried write).
    const oldRef = old?.ref?.S;
    if (oldRef !== undefined && oldRef !== ref) await this.large.delete(oldRef).catch(() => undefined);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    assertValidKey(key);
    let item: Record<string, AttributeValue> | undefined;
    try {
      item = (
        await this.client.send(
          new GetItemCommand({ TableName: this.tableName, Key: this.itemKey(key), ConsistentRead: true }),
        )
      ).Item;
    } catch (error) {
      throw dynamoDbFailure(String(this), this.tableName, `read object ${key}`, error);
    }
    if (item === undefined) return undefined;
    if (item.bytes?.B !== undefined) return item.bytes.B;
    const ref = item.ref?.S;
    const bytes = ref === undefined ? undefined : await this.large.get(ref);
    if (bytes === undefined) {
      throw new StorageError(
        `${this}: object ${key} names the spilled blob ${ref ?? '(none)'} in ${String(this.large)}, which is missing. The large store lost an object it must keep; restore it.`,
      );
    }
    return bytes;
  }

  async list(prefix: string): Promise<string[]> {
    const items = await queryAll(
      this.client,
      {
        TableName: this.tableName,
        ConsistentRead: true,
        KeyConditionExpression: prefix === '' ? 'pk = :pk' : 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: {
          ':pk': { S: this.namespace },
          ...(prefix === '' ? {} : { ':prefix': { S: prefix } }),
        },
        ProjectionExpression: 'sk',
        Limit: this.pageSize,
      },
      (error) => dynamoDbFailure(String(this), this.tableName, `list objects under "${prefix}"`, error),
    );
    const keys = items.flatMap((item) => (item.sk?.S === undefined ? [] : [item.sk.S]));
    return keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    let old: Record<string, AttributeValue> | undefined;
    try {
      old = (
        await this.client.send(
          new DeleteItemCommand({
            TableName: this.tableName,
            Key: this.itemKey(key),
            ReturnValues: 'ALL_OLD',
          }),
        )
      ).Attributes;
    } catch (error) {
      throw dynamoDbFailure(String(this), this.tableName, `delete object ${key}`, error);
    }
    const ref = old?.ref?.S;
    if (ref !== undefined) await this.large.delete(ref);
  }

  /** `dynamodb://<table>/<namespace, URI-encoded>/<key>`: no other reader opens these objects. */
  uri(key: string): string {
    assertValidKey(key);
    return `${this.uriPrefix()}${key}`;
  }

  keyOf(uri: string): string | undefined {
    return keyUnder(uri, this.uriPrefix());
  }

  toString(): string {
    return `TieredObjectStore(${this.tableName}, ${this.namespace}, inline up to ${this.inlineLimit} B, else ${String(this.large)})`;
  }

  private uriPrefix(): string {
    return `dynamodb://${this.tableName}/${encodeURIComponent(this.namespace)}/`;
  }

  private itemKey(key: string): Record<string, AttributeValue> {
    return { pk: { S: this.namespace }, sk: { S: key } };
  }
}
