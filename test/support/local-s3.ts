/**
 * The local S3 server the S3 tests run against: its endpoint and credentials come from the
 * environment (`AWS_ENDPOINT_URL_S3`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`),
 * as `scripts/local-aws start` prints them and the tests' global setup sets them. Without them
 * the tests fail with this message instead of being skipped: a skipped storage test passes
 * silently in CI.
 */
import { createS3Client } from '../../adapters/aws/s3-object-store.ts';
import { injectErrors, type RetryCounts } from './injected-errors.ts';

const REQUIRED = ['AWS_ENDPOINT_URL_S3', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] as const;

/** The local endpoint, or throws naming the missing variables and how to set them. */
export function requireLocalS3(): string {
  const missing = REQUIRED.filter((name) => !process.env[name]);
  if (missing.length > 0) {
    throw new Error(
      `The S3 tests need a local S3 server, but ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not set. Start one with eval "$(scripts/local-aws start)" (versitygw), or run the tests through vitest's global setup, which starts it.`,
    );
  }
  const endpoint = process.env.AWS_ENDPOINT_URL_S3!;
  const host = new URL(endpoint).hostname;
  if (host !== 'localhost' && host !== '::1' && host !== '[::1]' && !host.startsWith('127.')) {
    throw new Error(
      `AWS_ENDPOINT_URL_S3 is ${endpoint}; the S3 tests only run against a server on this machine.`,
    );
  }
  return endpoint;
}

/**
 * An S3 client for the local server that answers every `every`-th request itself, before sending
 * it, with 503 SlowDown, as S3 does when a prefix gets more requests than it serves: below the
 * SDK's retry loop, so the SDK backs off and sends the request again. `counts()`: attempts minus
 * operations is the number of retries the SDK made.
 */
export function slowDownS3Client(every: number): {
  client: ReturnType<typeof createS3Client>;
  counts: () => RetryCounts;
} {
  requireLocalS3();
  const client = createS3Client();
  const counts = injectErrors(client, every, () =>
    Object.assign(new Error('Please reduce your request rate. (simulated)'), {
      name: 'SlowDown',
      Code: 'SlowDown',
      $fault: 'server',
      $metadata: { httpStatusCode: 503 },
    }),
  );
  return { client, counts };
}
