/**
 * Errors an AWS SDK client answers itself, below its retry loop (as a throttling DynamoDB or a
 * busy S3 does): the SDK backs off and sends the request again, and the counts say how often.
 */

/** How many requests a fault-injecting client's operations made, and how many it answered itself. */
export interface RetryCounts {
  /** Operations the caller started (one per `client.send`). */
  readonly operations: number;
  /** Requests the SDK sent or tried to send, retries included (one per attempt). */
  readonly attempts: number;
  /** Attempts the client answered with an injected error instead of sending them. */
  readonly injected: number;
}

type Next = (args: unknown) => Promise<unknown>;
interface MiddlewareStack {
  add(
    middleware: (next: Next) => Next,
    options: { step: 'initialize' | 'deserialize'; name: string; priority?: 'high' },
  ): void;
}

/**
 * Makes every `every`-th attempt of `client` fail with `error(n)` (n = 1, 2, ... injected so far)
 * without sending it, at most `limit` times. Returns the counts.
 */
export function injectErrors(
  client: { readonly middlewareStack: unknown },
  every: number,
  error: (injected: number) => Error,
  limit = Number.POSITIVE_INFINITY,
): () => RetryCounts {
  const stack = client.middlewareStack as MiddlewareStack;
  let operations = 0;
  let attempts = 0;
  let injected = 0;
  stack.add(
    (next) => async (args) => {
      operations++;
      return next(args);
    },
    { step: 'initialize', name: 'floeCountOperations' },
  );
  stack.add(
    (next) => async (args) => {
      if (++attempts % every !== 0 || injected >= limit) return next(args);
      injected++;
      throw error(injected);
    },
    { step: 'deserialize', name: 'floeInjectErrors', priority: 'high' },
  );
  return () => ({ operations, attempts, injected });
}
