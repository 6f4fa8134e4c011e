/**
 * The local DynamoDB server (moto, started by `scripts/local-aws` or the vitest globalSetup) that
 * the AWS adapter tests run against. Without `AWS_ENDPOINT_URL_DYNAMODB` these tests fail, never
 * skip: a green run must mean the DynamoDB stores were tested.
 */
import { randomBytes } from 'node:crypto';
import {
  createDynamoDbClient,
  type DynamoDbClientOptions,
  isLocalEndpoint,
} from '../../adapters/aws/dynamodb-client.ts';

/** The endpoint of the local DynamoDB server; throws a clear error when there is none. */
export function localDynamoDbEndpoint(): string {
  const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB;
  if (endpoint === undefined || endpoint === '') {
    throw new Error(
      'AWS_ENDPOINT_URL_DYNAMODB is not set: the DynamoDB store tests need a local DynamoDB server. Start one with `eval "$(scripts/local-aws start)"` (moto, one request at a time), or run the tests through vitest\'s globalSetup, which sets the variables.',
    );
  }
  if (!isLocalEndpoint(endpoint)) {
    throw new Error(
      `AWS_ENDPOINT_URL_DYNAMODB=${endpoint} is not a server on this machine: the tests create and delete tables, so they only run against a local server.`,
    );
  }
  return endpoint;
}

/** A client for the local server, with test credentials and region when none are set. */
export function localDynamoDbClient(
  options: DynamoDbClientOptions = {},
): ReturnType<typeof createDynamoDbClient> {
  const endpoint = localDynamoDbEndpoint();
  process.env.AWS_REGION ??= 'us-east-1';
  process.env.AWS_ACCESS_KEY_ID ??= 'floelocal';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'floelocalsecret';
  // moto serves one request at a time, and test files share it: wait longer than in Lambda.
  return createDynamoDbClient({ endpoint, requestTimeoutMs: 30_000, ...options });
}

/** A table name no other test uses. */
export function uniqueTableName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/**
 * A client for the local server that loses the response of every `every`-th write (PutItem,
 * UpdateItem, DeleteItem) after the server applied it, as a timeout does: the SDK's retry
 * strategy sends the write again. Counts the responses it dropped.
 */
export function lossyDynamoDbClient(every: number): {
  client: ReturnType<typeof createDynamoDbClient>;
  lost: () => number;
} {
  const client = localDynamoDbClient();
  let writes = 0;
  let lost = 0;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (!['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand'].includes(context.commandName ?? '')) {
        return next(args);
      }
      const result = await next(args);
      if (++writes % every === 0) {
        lost++;
        throw Object.assign(new Error('socket hang up (simulated: the write was applied)'), {
          code: 'ECONNRESET',
        });
      }
      return result;
    },
    { step: 'deserialize', name: 'floeLossyWrites', priority: 'high' },
  );
  return { client, lost: () => lost };
}

/** How many requests a fault-injecting client's operations made, and how many it answered itself. */
export interface RetryCounts {
  /** Calls of `client.send` (operations). */
  readonly operations: number;
  /** Requests the SDK sent or tried to send, retries included (one per attempt). */
  readonly attempts: number;
  /** Attempts the client answered with an injected error instead of sending them. */
  readonly injected: number;
}

/**
 * A client for the local server that answers every `every`-th request itself, before sending it,
 * with DynamoDB's throttling errors (alternately `ProvisionedThroughputExceededException` and
 * `ThrottlingException`, HTTP 400), as DynamoDB does under load: below the SDK's retry loop, so
 * the SDK backs off and sends the request again. `counts()`: attempts minus operations is the
 * number of retries the SDK made. `limit`: at most this many injected errors.
 */
export function throttlingDynamoDbClient(
  every: number,
  options: { readonly limit?: number } = {},
): {
  client: ReturnType<typeof createDynamoDbClient>;
  counts: () => RetryCounts;
} {
  const client = localDynamoDbClient();
  let operations = 0;
  let attempts = 0;
  let injected = 0;
  client.middlewareStack.add(
    (next) => async (args) => {
      operations++;
      return next(args);
    },
    { step: 'initialize', name: 'floeCountOperations' },
  );
  client.middlewareStack.add(
    (next) => async (args) => {
      if (++attempts % every !== 0 || injected >= (options.limit ?? Number.POSITIVE_INFINITY))
        return next(args);
      injected++;
      const name = injected % 2 === 1 ? 'ProvisionedThroughputExceededException' : 'ThrottlingException';
      throw Object.assign(new Error(`${name} (simulated): the request rate is too high`), {
        name,
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
      });
    },
    { step: 'deserialize', name: 'floeThrottle', priority: 'high' },
  );
  return { client, counts: () => ({ operations, attempts, injected }) };
}
