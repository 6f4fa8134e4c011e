/**
 * The local AWS-protocol servers that test/support/local-aws-setup.ts starts once per vitest run
 * (scripts/local-aws: moto for DynamoDB and Glue, versitygw for S3), as typed endpoints and
 * credentials for tests, and unique table and bucket names: the servers live for the whole run
 * (and may be shared with other runs), so a test never reuses a name.
 */
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';

/** What `scripts/local-aws start` exports, as handed from the global setup to the tests. */
export interface LocalAwsEnv {
  /** moto, one request at a time. */
  readonly dynamodbEndpoint: string;
  /** versitygw, POSIX backend; clients need `forcePathStyle: true`. */
  readonly s3Endpoint: string;
  /** moto (the same server as DynamoDB). */
  readonly glueEndpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    localAws: LocalAwsEnv;
  }
}

export interface LocalAws extends LocalAwsEnv {
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Options for `new DynamoDBClient(...)`. */
  readonly dynamodbConfig: { endpoint: string; region: string; credentials: LocalAws['credentials'] };
  /** Options for `new S3Client(...)`: path-style addressing, which a custom endpoint needs. */
  readonly s3Config: {
    endpoint: string;
    region: string;
    credentials: LocalAws['credentials'];
    forcePathStyle: true;
  };
  /** Options for `new GlueClient(...)`. */
  readonly glueConfig: { endpoint: string; region: string; credentials: LocalAws['credentials'] };
  /**
   * A name no other test uses, valid as an S3 bucket (3-63 characters of a-z, 0-9 and '-') and as
   * a DynamoDB table or Glue database name: `floe-<prefix>-<time>-<random>`.
   */
  uniqueName(prefix?: string): string;
}

let counter = 0;

/** A fresh, valid bucket/table name. */
export function uniqueName(prefix = 't'): string {
  const slug =
    prefix
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 24) || 't';
  counter += 1;
  const suffix = `${Date.now().toString(36)}-${process.pid.toString(36)}${counter.toString(36)}-${randomBytes(3).toString('hex')}`;
  return `floe-${slug}-${suffix}`.slice(0, 63);
}

/**
 * The local servers' endpoints and credentials. Throws when the global setup did not run (the test
 * is run outside this project's vitest config).
 */
export function localAws(): LocalAws {
  const env = inject('localAws');
  if (!env) {
    throw new Error('no local AWS servers: run the tests with this project vitest.config.ts (globalSetup)');
  }
  const credentials = { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey };
  return {
    ...env,
    credentials,
    dynamodbConfig: { endpoint: env.dynamodbEndpoint, region: env.region, credentials },
    s3Config: { endpoint: env.s3Endpoint, region: env.region, credentials, forcePathStyle: true },
    glueConfig: { endpoint: env.glueEndpoint, region: env.region, credentials },
    uniqueName,
  };
}
