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
import { injectErrors, type RetryCounts } from './injected-errors.ts';

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
  const counts = injectErrors(
    client,
    every,
    (injected) => {
      const name = injected % 2 === 1 ? 'ProvisionedThroughputExceededException' : 'ThrottlingException';
      return Object.assign(new Error(`${name} (simulated): the request rate is too high`), {
        name,
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
      });
    },
    options.limit,
  );
  return { client, counts };
}
