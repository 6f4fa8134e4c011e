/**
 * The DynamoDB client Floe's stores use, its retry policy, and how AWS errors become Floe's.
 *
 * Retries (docs/design.md, "DynamoDB table design"): the SDK's standard retry mode retries
 * throttling (ProvisionedThroughputExceeded, ThrottlingException, RequestLimitExceeded), 5xx and
 * network errors (timeouts, ECONNRESET) with jittered exponential backoff (full jitter; 100 ms
 * doubling, 500 ms for throttling), at most {@link DEFAULT_MAX_ATTEMPTS} tries per call and within
 * the SDK's retry token budget. Not the `adaptive` mode: its client-side rate limiter, after one
 * throttle in a client that has seen little traffic (a Lambda container's), paced every later
 * request at up to 0.6 s for seconds, whatever table or key it was for (dynamodb-client.test.ts).
 * Client errors (a failed condition, a validation error, access denied, a missing table) are
 * never retried.
 */
import {
  type AttributeValue,
  DynamoDBClient,
  type DynamoDBClientConfig,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
} from '@aws-sdk/client-dynamodb';
import { PermanentStorageError, StorageError } from '../../runtime/stores/object-store.ts';

/** Tries per DynamoDB call, the first included (the SDK's default is 3). */
export const DEFAULT_MAX_ATTEMPTS = 6;

export interface DynamoDbClientOptions {
  /**
   * The endpoint, e.g. `http://127.0.0.1:8000` for a local server.
   * @default - `AWS_ENDPOINT_URL_DYNAMODB`, else `AWS_ENDPOINT_URL`, else the AWS endpoint of the region
   */
  readonly endpoint?: string;
  /** @default - `AWS_REGION` (the Lambda runtime sets it) */
  readonly region?: string;
  /** Tries per call, the first included. @default 6 */
  readonly maxAttempts?: number;
  /** Milliseconds to wait for a response before the try counts as a network error. @default 5000 */
  readonly requestTimeoutMs?: number;
}

/** A DynamoDB client with Floe's retry policy and timeouts. */
export function createDynamoDbClient(options: DynamoDbClientOptions = {}): DynamoDBClient {
  const endpoint =
    options.endpoint ?? process.env.AWS_ENDPOINT_URL_DYNAMODB ?? process.env.AWS_ENDPOINT_URL ?? undefined;
  const config: DynamoDBClientConfig = {
    maxAttempts: options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    retryMode: 'standard',
    requestHandler: { requestTimeout: options.requestTimeoutMs ?? 5000, connectionTimeout: 2000 },
  };
  if (endpoint !== undefined && endpoint !== '') config.endpoint = endpoint;
  if (options.region !== undefined) config.region = options.region;
  return new DynamoDBClient(config);
}

/** The endpoint a client sends to, or undefined when it uses the AWS endpoint of its region. */
export async function endpointOf(client: DynamoDBClient): Promise<string | undefined> {
  const endpoint = client.config.endpoint;
  if (endpoint === undefined) return undefined;
  const resolved = await endpoint();
  return `${resolved.protocol}//${resolved.hostname}${resolved.port === undefined ? '' : `:${resolved.port}`}`;
}

/** True for an endpoint on this machine (localhost, 127.0.0.0/8, ::1): a test server, never AWS. */
export function isLocalEndpoint(endpoint: string | undefined): boolean {
  if (endpoint === undefined) return false;
  let host: string;
  try {
    host = new URL(endpoint).hostname;
  } catch {
    return false;
  }
  return (
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    /^127\.\d+\.\d+\.\d+$/.test(host) ||
    host === '[::1]'
  );
}

/** The name of an AWS SDK error (`ConditionalCheckFailedException`, `ResourceNotFoundException`, ...). */
export function awsErrorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

const ACCESS_DENIED = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'MissingAuthenticationTokenException',
  'ExpiredTokenException',
  'IncompleteSignature',
  'InvalidClientTokenId',
]);

/**
 * A StorageError for a failed DynamoDB call that names the table, the key and what to do: a
 * missing table and denied access are configuration problems, not transient ones.
 */
export function dynamoDbFailure(store: string, table: string, action: string, error: unknown): StorageError {
  const name = awsErrorName(error);
  const reason = error instanceof Error ? error.message : String(error);
  // Configuration problems: no retry can fix them, so they fail at once, in one line.
  if (name === 'ResourceNotFoundException') {
    return new PermanentStorageError(
      `${store} could not ${action}: the DynamoDB table "${table}" does not exist (${reason}). Create it: locally with \`--create\` (ensureTable), on AWS by deploying Floe's stack; or set the table name the stack created.`,
      `dynamodb://${table}`,
      { cause: error },
    );
  }
  if (name !== undefined && ACCESS_DENIED.has(name)) {
    return new PermanentStorageError(
      `${store} could not ${action}: access to the DynamoDB table "${table}" was denied (${name}: ${reason}). Give the function's role dynamodb:GetItem, PutItem, UpdateItem, DeleteItem, Query and Scan on the table (Floe's stack does), and check the credentials and region.`,
      `dynamodb://${table}`,
      { cause: error },
    );
  }
  const attempts = (error as { $metadata?: { attempts?: number } } | undefined)?.$metadata?.attempts;
  const tries = attempts !== undefined && attempts > 1 ? ` after ${attempts} tries` : '';
  return new StorageError(
    `${store} could not ${action} in the DynamoDB table "${table}"${tries}: ${name ?? 'Error'}: ${reason}`,
    { cause: error },
  );
}

/**
 * Every item of a Query, following `LastEvaluatedKey` page by page (a page holds at most 1 MB, or
 * `input.Limit` items); a failed page is `fail(error)`.
 */
export async function queryAll(
  client: DynamoDBClient,
  input: Omit<QueryCommandInput, 'ExclusiveStartKey'>,
  fail: (error: unknown) => Error,
): Promise<Record<string, AttributeValue>[]> {
  const items: Record<string, AttributeValue>[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    let page: QueryCommandOutput;
    try {
      page = await client.send(new QueryCommand({ ...input, ExclusiveStartKey: start }));
    } catch (error) {
      throw fail(error);
    }
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start !== undefined);
  return items;
}
