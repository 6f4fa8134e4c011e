/**
 * Where a CLI command keeps its stores: a local run directory (the default), or DynamoDB and S3
 * (`--state dynamodb://<table> --objects s3://<bucket>/<prefix>`), with endpoints, region and
 * credentials from the AWS SDK's usual environment (`AWS_ENDPOINT_URL_DYNAMODB`,
 * `AWS_ENDPOINT_URL_S3`, `AWS_REGION`, profiles). `--create` creates a missing table or bucket on
 * a local endpoint (scripts/local-aws), never in AWS.
 */
import { localCheckpointStores } from '../adapters/local/run-directory.ts';
import type { CheckpointStores } from '../runtime/stores/checkpoint-stores.ts';
import { UsageError } from './usage-error.ts';

export interface StoreFlags {
  /** `dynamodb://<table>`: heads, offsets, watermarks and small state. */
  readonly state?: string | undefined;
  /** `s3://<bucket>/<prefix>`: checkpoint manifests, large state, the Iceberg tables. */
  readonly objects?: string | undefined;
  /** `dynamodb://<table>`: the Iceberg catalog. @default dynamodb://iceberg */
  readonly catalog?: string | undefined;
  /** Create missing tables and the bucket, on a local endpoint only. */
  readonly create?: boolean | undefined;
}

/** The flags, for parseArgs. */
export const STORE_FLAGS = {
  state: { type: 'string' },
  objects: { type: 'string' },
  catalog: { type: 'string' },
  create: { type: 'boolean' },
} as const;

export const STORE_FLAGS_USAGE = `  --state dynamodb://TABLE           Keep heads, offsets, watermarks and small state in DynamoDB (with --objects)
  --objects s3://BUCKET/PREFIX       Keep checkpoints and the Iceberg tables in S3 (with --state)
  --catalog dynamodb://TABLE         The Iceberg catalog table (default dynamodb://iceberg)
  --create                           Create a missing table or bucket, on a local endpoint only`;

export function storeFlags(values: Record<string, unknown>): StoreFlags {
  return {
    state: values.state as string | undefined,
    objects: values.objects as string | undefined,
    catalog: values.catalog as string | undefined,
    create: values.create === true,
  };
}

/** True when the flags name AWS stores. */
export function onAws(flags: StoreFlags | undefined): boolean {
  return flags?.state !== undefined || flags?.objects !== undefined;
}

/** A short description of where the stores are, for summaries. */
export function storesLocation(flags: StoreFlags | undefined, dir: string): string {
  return onAws(flags) ? `${flags!.state} and ${flags!.objects}` : dir;
}

/**
 * The stores for a job: AWS when --state and --objects are given, else the run directory. The
 * AWS SDK is loaded only then, so local commands do not pay for it.
 */
export async function storesFor(
  job: string,
  flags: StoreFlags | undefined,
  dir: string,
): Promise<CheckpointStores> {
  if (!onAws(flags)) {
    if (flags?.catalog !== undefined || flags?.create === true)
      throw new UsageError(
        '--catalog and --create go with --state dynamodb://<table> --objects s3://<bucket>/<prefix>.',
      );
    return localCheckpointStores(dir);
  }
  const { state, objects } = flags!;
  if (state === undefined || objects === undefined)
    throw new UsageError(
      `--state and --objects go together: heads and state in DynamoDB, checkpoints and tables in S3 (got only ${state === undefined ? '--objects' : '--state'}).`,
    );
  const aws = await import('../adapters/aws/aws-stores.ts');
  const config = {
    job,
    stateTable: aws.parseDynamoDbLocation(state, '--state'),
    catalogTable:
      flags!.catalog === undefined ? undefined : aws.parseDynamoDbLocation(flags!.catalog, '--catalog'),
    objects,
  };
  if (flags!.create === true) await aws.createLocalAwsStores(config);
  return aws.awsCheckpointStores(config);
}
