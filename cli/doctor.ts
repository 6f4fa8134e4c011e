/**
 * `floe doctor <job.ts> --state dynamodb://T --objects s3://B/P [--catalog dynamodb://C]
 * [--cluster-arn ARN | --kafka BROKERS] [--topic T] [--json]`: checks the pieces of a deployment,
 * one line each, ok or FAIL with what to do: the job loads and type-checks; the state and catalog
 * tables exist with Floe's key schemas, TTL on the state table; the bucket exists and takes a
 * conditional create under the prefix; the MSK cluster is ACTIVE with bootstrap brokers (or the
 * brokers answer); the topic exists, with its partition count; and what the job has committed:
 * its commit groups, with each one's last epoch and watermark. Nothing is created or changed
 * (the bucket's probe object is deleted again).
 *
 * Exit status: 0 when every check passed (or was skipped), 1 when one failed, 2 for a usage error.
 */
import type { MskClient } from '../adapters/aws/msk.ts';
import { CheckpointedProcessor } from '../runtime/checkpoint/checkpointed-processor.ts';
import type { Job } from '../runtime/job/job.ts';
import { KafkaClient } from './kafka-client.ts';
import { loadCheckedJob } from './load-job.ts';
import { KAFKA_AUTH_NOT_IMPLEMENTED } from './msk.ts';
import { formatTime } from './render.ts';
import { type StoreFlags, storesFor } from './stores.ts';
import { UsageError } from './usage-error.ts';

export interface DoctorOptions {
  readonly jobPath: string;
  readonly stores: StoreFlags;
  /** An MSK cluster's ARN (or brokers). */
  readonly clusterArn?: string | undefined;
  /** Bootstrap brokers, host:port[,...] (or clusterArn). */
  readonly brokers?: string | undefined;
  readonly topic?: string | undefined;
  readonly json: boolean;
  /** @default true */
  readonly typecheck?: boolean;
  /** The MSK client. @default - one in the cluster's region, endpoint from AWS_ENDPOINT_URL_KAFKA */
  readonly msk?: MskClient;
}

export type CheckStatus = 'ok' | 'FAIL' | 'skip';

export interface Check {
  readonly check: string;
  readonly status: CheckStatus;
  /** What was found, or, for a FAIL, what is wrong and what to do. */
  readonly detail: string;
  /** The commit groups, for the heads check. */
  readonly groups?: readonly { group: string; epoch: number; watermark: string; drained: boolean }[];
  /** The topic's partitions, for the topic check. */
  readonly partitions?: number;
}

/** Runs every check, prints them, and returns the exit status (0 or 1). */
export async function doctor(options: DoctorOptions, out: (text: string) => void): Promise<number> {
  const { state, objects } = options.stores;
  if (state === undefined || objects === undefined)
    throw new UsageError(
      'doctor checks a deployment on AWS: give --state dynamodb://<table> and --objects s3://<bucket>/<prefix> (and --catalog dynamodb://<table> unless it is the default, iceberg).',
    );
  if (options.stores.create === true)
    throw new UsageError('doctor changes nothing: --create is not one of its flags.');
  if (options.clusterArn !== undefined && options.brokers !== undefined)
    throw new UsageError('--kafka and --cluster-arn both name the brokers: give one of them.');
  if (options.topic !== undefined && options.clusterArn === undefined && options.brokers === undefined)
    throw new UsageError('--topic is checked on the brokers: give --cluster-arn <arn> or --kafka <brokers>.');
  // Malformed locations and ARNs are usage errors (exit 2), before any check runs.
  const aws = await import('../adapters/aws/aws-stores.ts');
  const stateTable = aws.parseDynamoDbLocation(state, '--state');
  const catalogTable =
    options.stores.catalog === undefined
      ? 'iceberg'
      : aws.parseDynamoDbLocation(options.stores.catalog, '--catalog');
  const { parseS3Location } = await import('../adapters/aws/s3-object-store.ts');
  parseS3Location(objects);
  const msk = options.clusterArn === undefined ? undefined : await import('../adapters/aws/msk.ts');
  msk?.parseClusterArn(options.clusterArn!);

  const checks: Check[] = [];
  const add = (check: Check) => {
    checks.push(check);
    if (!options.json) out(renderCheck(check));
  };
  const attempt = async (check: string, run: () => Promise<string | Omit<Check, 'check' | 'status'>>) => {
    try {
      const result = await run();
      add({ check, status: 'ok', ...(typeof result === 'string' ? { detail: result } : result) });
      return true;
    } catch (error) {
      add({ check, status: 'FAIL', detail: message(error) });
      return false;
    }
  };

  let job: Job<unknown> | undefined;
  await attempt('job', async () => {
    let diagnostics = '';
    const loaded = await loadCheckedJob(options.jobPath, {
      typecheck: options.typecheck ?? true,
      errors: (text) => {
        diagnostics += text;
      },
    }).catch((error: unknown) => {
      const lines = diagnostics
        .trimEnd()
        .split('\n')
        .filter((l) => l !== '');
      const shown = lines
        .slice(0, 5)
        .map((l) => `\n        ${l}`)
        .join('');
      throw new Error(
        `${message(error)}${shown}${lines.length > 5 ? `\n        (${lines.length - 5} more)` : ''}`,
      );
    });
    job = loaded.job;
    return `${job.name} loads${loaded.typecheck.outcome === 'skipped' ? '' : ' and type-checks'}: ${job}`;
  });

  const { checkBucket, checkCatalogTable, checkStateTable } = await import(
    '../adapters/aws/deployment-checks.ts'
  );
  const { createDynamoDbClient } = await import('../adapters/aws/dynamodb-client.ts');
  const dynamodb = createDynamoDbClient();
  const stateOk = await attempt(`state table ${state}`, () => checkStateTable(dynamodb, stateTable));
  await attempt(`catalog table dynamodb://${catalogTable}`, () => checkCatalogTable(dynamodb, catalogTable));
  const bucketOk = await attempt(`bucket ${objects}`, () => checkBucket(objects));

  // Kafka: the cluster, its brokers, the topic.
  let brokers = options.brokers;
  let brokersUnusable: string | undefined;
  if (msk !== undefined) {
    const arn = options.clusterArn!;
    const client = options.msk === undefined ? {} : { client: options.msk };
    await attempt(`MSK cluster ${arn}`, async () => {
      const cluster = await msk.describeMskCluster(arn, client);
      const what = [
        cluster.type,
        cluster.kafkaVersion === undefined ? undefined : `Kafka ${cluster.kafkaVersion}`,
        cluster.brokerNodes === undefined ? undefined : `${cluster.brokerNodes} broker nodes`,
      ].filter((s) => s !== undefined);
      if (cluster.state !== 'ACTIVE')
        throw new Error(
          `${cluster.name} is ${cluster.state}, not ACTIVE (${what.join(', ')}): wait until it is ACTIVE${cluster.state === 'FAILED' ? ' (a FAILED cluster must be deleted and created again)' : ''}, then run floe doctor again.`,
        );
      return `${cluster.name} is ACTIVE (${what.join(', ')})`;
    });
    await attempt('MSK bootstrap brokers', async () => {
      const listeners = await msk.mskListeners(arn, client);
      const found = msk.describeListeners(listeners);
      if (found === 'none')
        throw new Error(
          'the cluster has no bootstrap brokers (none of IAM, SASL/SCRAM, TLS, plaintext): check its client authentication settings.',
        );
      brokers = listeners.brokers.plaintext;
      if (brokers === undefined)
        brokersUnusable = `the cluster has no plaintext listener: ${KAFKA_AUTH_NOT_IMPLEMENTED}`;
      return found;
    });
  }
  if (brokers !== undefined) {
    const kafka = new KafkaClient({ brokers, clientId: 'floe-doctor' });
    try {
      const answered = await attempt(`Kafka brokers ${brokers}`, async () => {
        const n = await kafka.brokerCount();
        return n === 1 ? '1 broker answers' : `${n} brokers answer`;
      });
      if (options.topic !== undefined) {
        const topic = options.topic;
        if (!answered) add({ check: `topic ${topic}`, status: 'skip', detail: 'the brokers did not answer' });
        else
          await attempt(`topic ${topic}`, async () => {
            const info = await kafka.topic(topic);
            if (info === undefined)
              throw new Error(
                `topic ${topic} does not exist on ${brokers}: create it with the partitions the job needs (floe produce --partitions N creates one locally), or fix --topic.`,
              );
            return {
              detail: `exists, ${info.partitions} partition${info.partitions === 1 ? '' : 's'}`,
              partitions: info.partitions,
            };
          });
      }
    } finally {
      await kafka.close();
    }
  } else if (options.topic !== undefined) {
    add({
      check: `topic ${options.topic}`,
      status: 'skip',
      detail: brokersUnusable ?? 'no bootstrap brokers to ask',
    });
  }

  // What the job has committed on these stores.
  if (job === undefined || !stateOk || !bucketOk) {
    add({
      check: 'commit groups',
      status: 'skip',
      detail: job === undefined ? 'the job did not load' : 'needs the state table and the bucket',
    });
  } else {
    const loaded = job;
    await attempt('commit groups', async () => {
      const stores = await storesFor(loaded.name, options.stores, '');
      const committed = await new CheckpointedProcessor(loaded, { stores }).committed();
      const groups = committed.groups.map((g) => ({
        group: g.group,
        epoch: g.epoch,
        watermark: formatTime(g.watermark),
        drained: g.drained,
      }));
      if (groups.length === 0)
        return { detail: `none yet: job ${loaded.name} has committed nothing on these stores`, groups };
      const scope =
        loaded.plan.scope === 'partition' ? 'one per partition' : 'the whole job commits through one head';
      return { detail: `${groups.length} (${scope})`, groups };
    });
  }

  const failed = checks.filter((c) => c.status === 'FAIL').length;
  if (options.json) {
    out(JSON.stringify({ ok: failed === 0, checks }));
  } else {
    out(
      failed === 0
        ? `\nAll ${checks.length} checks passed${checks.some((c) => c.status === 'skip') ? ' (some skipped)' : ''}.`
        : `\n${failed} of ${checks.length} checks failed.`,
    );
  }
  return failed === 0 ? 0 : 1;
}

function renderCheck(check: Check): string {
  const groups = (check.groups ?? []).map(
    (g) => `\n        ${g.group}: epoch ${g.epoch}, watermark ${g.watermark}${g.drained ? ' (drained)' : ''}`,
  );
  return `${check.status.padEnd(4)}  ${check.check}: ${check.detail}${groups.join('')}`;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
