import { isAbsolute, resolve } from 'node:path';
import {
  CfnOutput,
  CfnParameter,
  Duration,
  type aws_lambda as lambda,
  Stack,
  type StackProps,
  aws_secretsmanager as secretsmanager,
  Validations,
} from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import {
  FloeJob,
  type FloeJobProps,
  type FloeKafkaSource,
  type KafkaAuthentication,
  type MskAuthentication,
} from './floe-job.ts';
import { readJobName } from './job-module.ts';

export type FloeSourceKind = FloeKafkaSource['kind'];
export type FloeAuthKind = MskAuthentication['kind'] | KafkaAuthentication['kind'];

export interface FloeJobStackProps extends StackProps {
  /** The job module (see FloeJobProps.jobFile). */
  readonly jobFile: string;
  /** @default 'msk' */
  readonly source?: FloeSourceKind;
  /** @default - 'iam' for MSK, 'none' for self-managed */
  readonly auth?: FloeAuthKind;
  /** Props passed through to FloeJob (structural choices: pollers, destination, retention...). */
  readonly job?: Partial<Omit<FloeJobProps, 'jobFile' | 'source'>>;
}

/**
 * One Floe job as a stack, its per-deployment settings as CloudFormation parameters (`cdk
 * deploy --parameters Topic=bids`), its structural ones (source and authentication kind) from
 * props at synth time.
 */
export class FloeJobStack extends Stack {
  readonly job: FloeJob;

  constructor(scope: Construct, id: string, props: FloeJobStackProps) {
    super(scope, id, props);
    const sourceKind = props.source ?? 'msk';
    if (sourceKind !== 'msk' && sourceKind !== 'self-managed') {
      throw new Error(
        `FloeJobStack: source must be 'msk' or 'self-managed', got ${JSON.stringify(sourceKind)}`,
      );
    }
    const jobFile = isAbsolute(props.jobFile) ? props.jobFile : resolve(props.jobFile);
    const jobName = props.job?.jobName ?? readJobName(jobFile);

    const param = (name: string, p: ConstructorParameters<typeof CfnParameter>[2]) =>
      new CfnParameter(this, name, p);
    const topic = param('Topic', {
      type: 'String',
      description: 'The Kafka topic the job reads.',
      minLength: 1,
    });
    const batchSize = param('BatchSize', {
      type: 'Number',
      default: 500,
      minValue: 1,
      maxValue: 10_000,
      description: 'Records per invocation, at most.',
    });
    const batchingWindow = param('BatchingWindowSeconds', {
      type: 'Number',
      default: 1,
      minValue: 0,
      maxValue: 300,
      description: 'Seconds Lambda gathers records before invoking.',
    });
    const startingPosition = param('StartingPosition', {
      type: 'String',
      default: 'TRIM_HORIZON',
      allowedValues: ['TRIM_HORIZON', 'LATEST', 'AT_TIMESTAMP'],
      description: 'Where a consumer group without committed offsets starts.',
    });
    const startingTimestamp = param('StartingPositionTimestamp', {
      type: 'Number',
      default: 0,
      minValue: 0,
      description: 'With AT_TIMESTAMP: the time to start from, in Unix seconds (ignored otherwise).',
    });
    const consumerGroup = param('ConsumerGroupId', {
      type: 'String',
      default: `floe-${jobName}`,
      allowedPattern: '[a-zA-Z0-9_.:-]{1,200}',
      description: 'The Kafka consumer group (changing it replaces the event source mapping).',
    });
    const memory = param('MemorySize', {
      type: 'Number',
      default: 1024,
      minValue: 128,
      maxValue: 10_240,
      description: "The function's memory in MiB.",
    });
    const logLevel = param('LogLevel', {
      type: 'String',
      default: 'INFO',
      allowedValues: ['DEBUG', 'INFO', 'WARN', 'ERROR'],
      description: "The handler's log level.",
    });
    const keepCheckpoints = param('KeepCheckpoints', {
      type: 'Number',
      default: 10,
      minValue: 1,
      description: 'Checkpoint manifests kept per commit group.',
    });
    const compression = param('CheckpointCompression', {
      type: 'String',
      default: 'zstd',
      allowedValues: ['none', 'gzip', 'zstd'],
      description: 'Compression of checkpoint manifests and state objects.',
    });
    const maxCommitAttempts = param('MaxCommitAttempts', {
      type: 'Number',
      default: 8,
      minValue: 1,
      maxValue: 100,
      description:
        "Tries of a commit group's batch within one invocation before it fails and Lambda redelivers the batch.",
    });
    const delivery = param('Delivery', {
      type: 'String',
      default: 'exactly-once',
      allowedValues: ['exactly-once'],
      description:
        'Delivery guarantee (at-least-once is not offered yet: it would skip the commit compare-and-swap and may duplicate rows).',
    });

    const secret = (): secretsmanager.ISecret => {
      Validations.of(this).acknowledge({
        id: 'CloudFormation-Validate::W2509',
        reason: 'AuthSecretArn is the ARN of a Secrets Manager secret, not a secret value.',
      });
      return secretsmanager.Secret.fromSecretCompleteArn(
        this,
        'AuthSecret',
        param('AuthSecretArn', {
          type: 'String',
          description: 'The complete ARN of the Secrets Manager secret with the Kafka credentials.',
          allowedPattern: 'arn:aws[a-z-]*:secretsmanager:.+',
        }).valueAsString,
      );
    };
    let source: FloeKafkaSource;
    if (sourceKind === 'msk') {
      const clusterArn = param('ClusterArn', {
        type: 'String',
        description: 'The ARN of the Amazon MSK cluster.',
        allowedPattern: 'arn:aws[a-z-]*:kafka:[a-z0-9-]+:[0-9]{12}:cluster/[^/]+/[^/]+',
      }).valueAsString;
      const auth = props.auth ?? 'iam';
      if (auth === 'iam') source = { kind: 'msk', clusterArn, authentication: { kind: 'iam' } };
      else if (auth === 'sasl-scram-512')
        source = { kind: 'msk', clusterArn, authentication: { kind: auth, secret: secret() } };
      else
        throw new Error(
          `FloeJobStack: auth must be iam or sasl-scram-512 for MSK, got ${JSON.stringify(auth)}`,
        );
    } else {
      const bootstrapServers = param('BootstrapServers', {
        type: 'CommaDelimitedList',
        description: 'The bootstrap brokers, host:port, comma separated.',
      }).valueAsList;
      const auth = props.auth ?? 'none';
      if (auth === 'none')
        source = { kind: 'self-managed', bootstrapServers, authentication: { kind: 'none' } };
      else if (
        auth === 'sasl-scram-512' ||
        auth === 'sasl-scram-256' ||
        auth === 'plain' ||
        auth === 'mtls'
      ) {
        source = { kind: 'self-managed', bootstrapServers, authentication: { kind: auth, secret: secret() } };
      } else {
        throw new Error(
          `FloeJobStack: auth must be none, sasl-scram-512, sasl-scram-256, plain or mtls for self-managed Kafka, got ${JSON.stringify(auth)}`,
        );
      }
    }

    this.job = new FloeJob(this, 'Job', {
      ...props.job,
      jobFile,
      jobName,
      source,
      topic: topic.valueAsString,
      batchSize: batchSize.valueAsNumber,
      maxBatchingWindow: Duration.seconds(batchingWindow.valueAsNumber),
      startingPosition: startingPosition.valueAsString as lambda.StartingPosition,
      startingPositionTimestamp: startingTimestamp.valueAsNumber,
      consumerGroupId: consumerGroup.valueAsString,
      memorySize: memory.valueAsNumber,
      logLevel: logLevel.valueAsString as FloeJobProps['logLevel'],
      keepCheckpoints: keepCheckpoints.valueAsNumber,
      checkpointCompression: compression.valueAsString as FloeJobProps['checkpointCompression'],
      maxCommitAttempts: maxCommitAttempts.valueAsNumber,
      delivery: delivery.valueAsString as FloeJobProps['delivery'],
    });

    new CfnOutput(this, 'FunctionName', { value: this.job.processor.functionName });
    if (this.job.ticker !== undefined)
      new CfnOutput(this, 'TickerFunctionName', { value: this.job.ticker.functionName });
    new CfnOutput(this, 'StateTableName', { value: this.job.stateTable.tableName });
    new CfnOutput(this, 'CatalogTableName', { value: this.job.catalogTable.tableName });
    new CfnOutput(this, 'BucketName', { value: this.job.bucket.bucketName });
    new CfnOutput(this, 'DashboardName', { value: this.job.dashboard.dashboardName });
    if (this.job.failureQueue !== undefined)
      new CfnOutput(this, 'FailedBatchesQueueUrl', { value: this.job.failureQueue.queueUrl });
  }
}
