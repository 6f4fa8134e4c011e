import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import {
  Annotations,
  CfnCondition,
  type CfnResource,
  aws_cloudwatch as cloudwatch,
  Duration,
  aws_dynamodb as dynamodb,
  aws_ec2 as ec2,
  aws_events as events,
  aws_events_targets as eventsTargets,
  Fn,
  aws_iam as iam,
  aws_lambda as lambda,
  aws_logs as logs,
  RemovalPolicy,
  Stack,
  aws_s3 as s3,
  type aws_secretsmanager as secretsmanager,
  aws_sqs as sqs,
  Token,
  Tokenization,
  Validations,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { bundleJobHandlerSync } from '../cli/bundle.ts';
import { FloeEnvironment } from '../functions/environment.ts';
import { FloeMetrics } from '../functions/metric-names.ts';
import { findProjectRoot, type JobInfo, readJobInfo } from './job-module.ts';

export { FloeEnvironment };

/** Authentication of the event source mapping to an Amazon MSK cluster. */
export type MskAuthentication =
  /** IAM access control: the function's role gets the `kafka-cluster:` read actions. */
  | { readonly kind: 'iam' }
  /** SASL/SCRAM-512 with the credentials in a Secrets Manager secret (`AmazonMSK_` name). */
  | { readonly kind: 'sasl-scram-512'; readonly secret: secretsmanager.ISecret };

/** Authentication of the event source mapping to a self-managed Kafka cluster. */
export type KafkaAuthentication =
  /** No client authentication (only on a network you trust). */
  | { readonly kind: 'none' }
  /** SASL/SCRAM or SASL/PLAIN (`plain`): a secret with `username` and `password`. */
  | { readonly kind: 'sasl-scram-512' | 'sasl-scram-256' | 'plain'; readonly secret: secretsmanager.ISecret }
  /** Mutual TLS: a secret with the client certificate and its private key. */
  | { readonly kind: 'mtls'; readonly secret: secretsmanager.ISecret };

/** An Amazon MSK cluster as the source. */
export interface MskSource {
  readonly kind: 'msk';
  /** The cluster's ARN (may be a token, e.g. a CfnParameter's value). */
  readonly clusterArn: string;
  /** @default { kind: 'iam' } */
  readonly authentication?: MskAuthentication;
}

/** A Kafka cluster Lambda reaches by its bootstrap servers (self-managed, Confluent, ...). */
export interface SelfManagedKafkaSource {
  readonly kind: 'self-managed';
  /** `host:port` of the bootstrap brokers (may be a list token, e.g. a CommaDelimitedList parameter). */
  readonly bootstrapServers: string[];
  /** @default { kind: 'none' } */
  readonly authentication?: KafkaAuthentication;
  /**
   * A secret holding the root CA certificate (PEM) of brokers whose TLS certificate is not
   * signed by a public CA.
   * @default - the brokers' certificates are verified against public CAs
   */
  readonly rootCaCertificate?: secretsmanager.ISecret;
  /**
   * The VPC the brokers are reached from. Lambda's pollers get network interfaces in its
   * subnets; `securityGroup` must be set with it.
   * @default - the brokers are reached over the internet
   */
  readonly vpc?: ec2.IVpc;
  /** @default - the VPC's private subnets with egress */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** @default - none; must be set when providing vpc */
  readonly securityGroup?: ec2.ISecurityGroup;
}

export type FloeKafkaSource = MskSource | SelfManagedKafkaSource;

/** Where the event source mapping sends a batch it gives up on (with its coordinates). */
export type FloeOnFailure =
  /** An SQS queue: one message per discarded batch (topic, partitions, offsets; no records). */
  | {
      readonly kind: 'sqs' /** @default - a new encrypted queue, 14 days retention */;
      readonly queue?: sqs.IQueue;
    }
  /** An S3 bucket: one object per discarded batch, the records included. */
  | { readonly kind: 's3' /** @default - a new encrypted bucket */; readonly bucket?: s3.IBucket };

/** Provisioned mode of the event source mapping (pollers kept ready; enables retry settings). */
export interface ProvisionedPollers {
  /** @default 1 */
  readonly minimum?: number;
  /** @default 200 */
  readonly maximum?: number;
}

export type FloeLogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
export type FloeCheckpointCompression = 'none' | 'gzip' | 'zstd';
/**
 * `at-least-once` is not offered yet: it would write a batch's rows without the head's
 * compare-and-swap, so a retried or concurrent batch could publish them twice.
 */
export type FloeDelivery = 'exactly-once';

/**
 * The ticker: a scheduled function (`createTicker`) that publishes what the handler committed
 * since the last publish round, and fires the windows of silent partitions.
 */
export interface FloeTickerProps {
  /**
   * Deploy the ticker. Every tick publishes: without it, the rows of the last batches before a
   * lull stay unpublished until the next batch commits. Ticks also fire the windows of silent
   * partitions when the job has an idleness timeout (`withIdleness`) and its windows wait for
   * every partition, or its idleness has `idleTopicWatermark: 'processing-time'`.
   * @default true (off: a synth warning, unless publishInterval is 0)
   */
  readonly enabled?: boolean;
  /**
   * How often it ticks: a rate (whole minutes, at least one) or any EventBridge schedule.
   * @default Duration.minutes(1)
   */
  readonly schedule?: Duration | events.Schedule;
}

export interface FloeJobProps {
  /**
   * The job module: a TypeScript or JavaScript file whose default export is a Floe job
   * (`export default job('name')...`). Relative paths are resolved from the current directory.
   * It is bundled by esbuild, locally, with Floe's `createHandler`.
   */
  readonly jobFile: string;
  /**
   * The job's name, the `Job` dimension of Floe's metrics.
   * @default - read from the job module at synth time (it is loaded once, with tsx)
   */
  readonly jobName?: string;
  /** The Kafka cluster. */
  readonly source: FloeKafkaSource;
  /** The topic the job reads. */
  readonly topic: string;
  /**
   * Records per invocation, at most (1 to 10,000).
   * @default 500
   */
  readonly batchSize?: number;
  /**
   * How long Lambda gathers records before invoking (at most 300 seconds).
   * @default Duration.seconds(1)
   */
  readonly maxBatchingWindow?: Duration;
  /**
   * Where a consumer group without committed offsets starts. Floe skips records at or below
   * its own committed offsets whatever Kafka's offsets say, so starting earlier is safe.
   * @default StartingPosition.TRIM_HORIZON
   */
  readonly startingPosition?: lambda.StartingPosition;
  /**
   * With `AT_TIMESTAMP`: the time to start from, in Unix seconds. Required with it.
   * @default - none
   */
  readonly startingPositionTimestamp?: number;
  /**
   * The Kafka consumer group. Kept stable, a replaced event source mapping resumes from the
   * group's offsets. Changing it replaces the mapping.
   * @default - `floe-` and the job's name
   */
  readonly consumerGroupId?: string;
  /**
   * Provisioned mode: pollers kept ready, and the retry settings (`retryAttempts`).
   * @default - on-demand pollers
   */
  readonly provisionedPollers?: ProvisionedPollers;
  /**
   * Retries of a failed batch before it goes to `onFailure` (0 to 10,000). Only in provisioned
   * mode; on-demand, Lambda retries a failed batch until its records expire from the topic.
   * @default - 10 in provisioned mode; Lambda's behaviour on-demand
   */
  readonly retryAttempts?: number;
  /**
   * Where a batch goes that fails every retry. The mapping then moves past it: its records are
   * missing from the tables (replay them from the coordinates).
   * @default { kind: 'sqs' } - a new queue
   */
  readonly onFailure?: FloeOnFailure;
  /**
   * The function's memory in MiB (128 to 10,240); CPU grows with it.
   * @default 1024
   */
  readonly memorySize?: number;
  /**
   * The function's timeout (at most 14 minutes with a Kafka event source).
   * @default Duration.minutes(5)
   */
  readonly timeout?: Duration;
  /** @default - no reserved concurrency */
  readonly reservedConcurrentExecutions?: number;
  /** @default 'INFO' */
  readonly logLevel?: FloeLogLevel;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** @default 'zstd' */
  readonly checkpointCompression?: FloeCheckpointCompression;
  /**
   * Checkpoint manifests kept per commit group; older ones are deleted by cleanup.
   * @default 10
   */
  readonly keepCheckpoints?: number;
  /**
   * Tries of a commit group's batch within one invocation, when another writer committed first or
   * a store call failed (Flink's tolerable checkpoint failures, plus one). After the last, the
   * invocation fails and Lambda delivers the batch again. Sets `FLOE_MAX_ATTEMPTS`.
   * @default 8
   */
  readonly maxCommitAttempts?: number;
  /**
   * How often committed rows are published to the Iceberg tables: once this long has passed since
   * the last publish round, the next invocation that commits appends every commit group's
   * unpublished checkpoints to each table as one snapshot (docs/design.md, "The table
   * committer"); the ticker publishes on its schedule too. Longer: fewer S3 PUTs and catalog
   * swaps, rows visible later. Zero: every invocation publishes before it returns (the cost of
   * one publish per table per commit). Whole milliseconds. Sets `FLOE_PUBLISH_INTERVAL_MS`.
   * @default Duration.seconds(10)
   */
  readonly publishInterval?: Duration;
  /**
   * Delivery guarantee. Only `exactly-once` exists today: at-least-once would skip the head's
   * compare-and-swap and could write a batch's rows twice.
   * @default 'exactly-once'
   */
  readonly delivery?: FloeDelivery;
  /**
   * The ticker, which publishes what the handler committed, consumes what partition logs hold
   * once the topic goes quiet, and fires the windows of partitions that went silent
   * (docs/design.md, "Ticks", "The table committer", "Partition logs").
   * @default - see FloeTickerProps: on, every minute
   */
  readonly ticker?: FloeTickerProps;
  /**
   * For a job whose windows merge partitions (keyBy without isKafkaKey, windowAll): how each
   * partition's batch reaches the job's windows (docs/design.md, "Partition logs"). Sets
   * `FLOE_PARTITION_LOGS` and `FLOE_CONSUME_INTERVAL_MS`; jobs keyed by the Kafka key ignore it.
   * @default - partition logs, consumed by every invocation
   */
  readonly partitionLogs?: FloePartitionLogsProps;
  /**
   * Key prefix in the bucket for checkpoints, state and the Iceberg warehouse.
   * @default 'floe'
   */
  readonly prefix?: string;
  /**
   * Keep the tables and the bucket when the stack is deleted (RETAIN), so that a new
   * deployment resumes from the checkpoints. With false they are deleted, objects included.
   * @default true
   */
  readonly retainCheckpoints?: boolean;
  /**
   * Alarm when the ESM's OffsetLag (records behind the topic's end) exceeds this.
   * @default 100000
   */
  readonly offsetLagThreshold?: number;
  /**
   * Alarm when Floe's WatermarkLagMs exceeds this.
   * @default Duration.minutes(15)
   */
  readonly watermarkLagThreshold?: Duration;
  /** @default - a name from the stack and the construct id */
  readonly dashboardName?: string;
}

/** How partitions of a job whose windows merge partitions hand their batches over. */
export interface FloePartitionLogsProps {
  /**
   * Each partition appends its batch to its own log and never waits for another; with false,
   * every batch commits through the job group's one head, and concurrent partitions retry each
   * other's conflicts.
   * @default true
   */
  readonly enabled?: boolean;
  /**
   * Consume the logs at most once per this interval: fewer job commits but more batches written
   * to the logs, and windows that fire up to this much later; it rarely lowers the bill, since a
   * free lease consumes a batch directly (BENCHMARKS.md, "Cost"). The ticker consumes what is
   * left once the topic goes quiet.
   * @default Duration.seconds(0)
   */
  readonly consumeInterval?: Duration;
}

const LOG_LEVELS: readonly string[] = ['DEBUG', 'INFO', 'WARN', 'ERROR'];
const COMPRESSIONS: readonly string[] = ['none', 'gzip', 'zstd'];
const DELIVERIES: readonly string[] = ['exactly-once'];
const KAFKA_AUTH: Record<KafkaAuthentication['kind'], string | undefined> = {
  none: undefined,
  'sasl-scram-512': 'SASL_SCRAM_512_AUTH',
  'sasl-scram-256': 'SASL_SCRAM_256_AUTH',
  plain: 'BASIC_AUTH',
  mtls: 'CLIENT_CERTIFICATE_TLS_AUTH',
};

/**
 * A Floe job on Lambda behind a Kafka event source mapping: the function, its stores (a
 * DynamoDB table for heads and state, one for the Iceberg catalog, an S3 bucket for
 * checkpoints and the warehouse), an on-failure destination, the ticker on a schedule when the
 * job's idleness needs one, alarms and a dashboard.
 *
 * Both functions are bundled by cli/bundle.ts (`bundleJobHandlerSync`), the bundling the
 * emulator test runs. Other functions attach through `grantStores()` and `environment`: any
 * function given both sees the same stores.
 */
export class FloeJob extends Construct {
  /** The job's name (the `Job` metric dimension). */
  readonly jobName: string;
  readonly processor: lambda.Function;
  /** The ticker function, when deployed (see FloeTickerProps). */
  readonly ticker?: lambda.Function;
  /** The ticker's schedule, when deployed. */
  readonly tickerRule?: events.Rule;
  readonly eventSourceMapping: lambda.CfnEventSourceMapping;
  /** Heads and state: `pk` + `sk`, TTL on `expiresAt`. */
  readonly stateTable: dynamodb.Table;
  /** Iceberg's DynamoDbCatalog layout: `identifier` + `namespace`. */
  readonly catalogTable: dynamodb.Table;
  /** Checkpoints, state objects and the Iceberg warehouse, under `prefix`. */
  readonly bucket: s3.Bucket;
  readonly prefix: string;
  /** The on-failure destination's queue, when it is SQS. */
  readonly failureQueue?: sqs.IQueue;
  /** The on-failure destination's bucket, when it is S3. */
  readonly failureBucket?: s3.IBucket;
  /** The handler's environment (stores and settings), for other functions of this job. */
  readonly environment: Readonly<Record<string, string>>;
  readonly alarms: readonly cloudwatch.Alarm[];
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: FloeJobProps) {
    super(scope, id);
    validate(props);

    const jobFile = isAbsolute(props.jobFile) ? props.jobFile : resolve(props.jobFile);
    const project = findProjectRoot(jobFile);
    if (project === undefined) {
      throw new Error(
        `jobFile ${props.jobFile}: no lock file (package-lock.json, yarn.lock, pnpm-lock.yaml, bun.lock) above it; the job must be inside an npm project (floe init creates one).`,
      );
    }
    // The module is loaded (once per file) unless its name is given.
    let info: JobInfo | undefined;
    const jobInfo = () => {
      info ??= readJobInfo(jobFile);
      return info;
    };
    this.jobName = props.jobName ?? jobInfo().name;
    this.prefix = props.prefix ?? 'floe';
    const retain = props.retainCheckpoints ?? true;
    const removalPolicy = retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const timeout = props.timeout ?? Duration.minutes(5);

    this.stateTable = new dynamodb.Table(this, 'StateTable', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: 'expiresAt',
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy,
    });
    this.catalogTable = new dynamodb.Table(this, 'CatalogTable', {
      partitionKey: { name: 'identifier', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'namespace', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy,
    });
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      lifecycleRules: [
        { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy,
      autoDeleteObjects: !retain,
    });
    acknowledge(
      this.bucket,
      'AwsSolutions-S1',
      'Server access logs are not enabled by default: Floe writes only from its own function role; enable CloudTrail data events or access logs per account policy.',
    );

    this.environment = {
      [FloeEnvironment.stateTable]: this.stateTable.tableName,
      [FloeEnvironment.catalogTable]: this.catalogTable.tableName,
      [FloeEnvironment.bucket]: this.bucket.bucketName,
      [FloeEnvironment.prefix]: this.prefix,
      [FloeEnvironment.checkpointCompression]: props.checkpointCompression ?? 'zstd',
      [FloeEnvironment.keepCheckpoints]: Tokenization.stringifyNumber(props.keepCheckpoints ?? 10),
      [FloeEnvironment.maxAttempts]: Tokenization.stringifyNumber(props.maxCommitAttempts ?? 8),
      [FloeEnvironment.publishIntervalMs]: Tokenization.stringifyNumber(
        (props.publishInterval ?? Duration.seconds(10)).toMilliseconds(),
      ),
      [FloeEnvironment.delivery]: props.delivery ?? 'exactly-once',
      [FloeEnvironment.logLevel]: props.logLevel ?? 'INFO',
      [FloeEnvironment.partitionLogs]: props.partitionLogs?.enabled === false ? 'off' : 'on',
      [FloeEnvironment.consumeIntervalMs]: String(consumeIntervalMs(props)),
    };

    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy,
    });
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Floe job ${this.jobName}: its stores, its Kafka source, its logs`,
    });
    logGroup.grantWrite(role);

    this.processor = new lambda.Function(this, 'Processor', {
      code: this.jobCode(jobFile, project.root, 'handler'),
      handler: 'index.handler',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 1024,
      timeout,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      role,
      logGroup,
      description: `Floe job ${this.jobName}`,
      environment: { ...this.environment, NODE_OPTIONS: '--enable-source-maps' },
    });
    this.grantStores(this.processor);

    const { destinationArn } = this.onFailureDestination(props.onFailure ?? { kind: 'sqs' }, role);
    this.eventSourceMapping = this.createEventSourceMapping(props, role, destinationArn);

    if (props.ticker?.enabled ?? true) {
      const { fn, rule } = this.createTicker(props, jobFile, project.root, timeout, removalPolicy);
      this.ticker = fn;
      this.tickerRule = rule;
    } else if (props.publishInterval === undefined || props.publishInterval.toMilliseconds() !== 0) {
      Annotations.of(this).addWarningV2(
        'floe:ticker-off',
        `Job ${this.jobName}: no ticker deployed (ticker.enabled is false), so the rows the last batches before a lull committed stay unpublished until the next batch commits, and silent partitions never go idle. Deploy the ticker, or set publishInterval to Duration.seconds(0) to publish every commit.`,
      );
    }

    const { alarms, dashboard } = this.monitoring(props, timeout);
    this.alarms = alarms;
    this.dashboard = dashboard;
  }

  /**
   * The function's code: cli/bundle.ts's bundle of the job (`createHandler`, or `createTicker`
   * for the ticker), built at synth with esbuild on this machine, never in Docker, into
   * `<project>/.floe/cdk/<hash of the job's path>/<kind>/` (once per synth process).
   */
  private jobCode(jobFile: string, projectRoot: string, kind: 'handler' | 'ticker'): lambda.Code {
    return lambda.Code.fromAsset(bundleOnce(jobFile, projectRoot, kind));
  }

  private createTicker(
    props: FloeJobProps,
    jobFile: string,
    projectRoot: string,
    timeout: Duration,
    removalPolicy: RemovalPolicy,
  ): { fn: lambda.Function; rule: events.Rule } {
    const logGroup = new logs.LogGroup(this, 'TickerLogs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy,
    });
    const role = new iam.Role(this, 'TickerRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Floe job ${this.jobName}: the ticker's stores and logs`,
    });
    logGroup.grantWrite(role);
    const fn = new lambda.Function(this, 'Ticker', {
      code: this.jobCode(jobFile, projectRoot, 'ticker'),
      handler: 'index.handler',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 1024,
      timeout,
      role,
      logGroup,
      description: `Floe job ${this.jobName}: the ticker (publishes committed rows; fires the windows of silent partitions)`,
      environment: { ...this.environment, NODE_OPTIONS: '--enable-source-maps' },
      // A failed tick is not retried: the next one comes on schedule, and the alarm counts it.
      retryAttempts: 0,
    });
    this.grantStores(fn);
    const schedule = props.ticker?.schedule ?? Duration.minutes(1);
    const rule = new events.Rule(this, 'TickerSchedule', {
      description: `Floe job ${this.jobName}: ticks`,
      schedule: schedule instanceof Duration ? events.Schedule.rate(schedule) : schedule,
    });
    rule.addTarget(
      new eventsTargets.LambdaFunction(fn, { retryAttempts: 0, maxEventAge: Duration.minutes(1) }),
    );
    return { fn, rule };
  }

  /**
   * Lets `grantee` use this job's stores: read and write both tables' items, and get, put,
   * delete and list objects under the prefix. Explicit actions, no wildcards.
   */
  grantStores(grantee: iam.IGrantable): void {
    this.stateTable.grantReadWriteData(grantee);
    this.catalogTable.grantReadWriteData(grantee);
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
      resourceArns: [this.bucket.arnForObjects(`${this.prefix}/*`)],
    });
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [this.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${this.prefix}/*`] } },
      }),
    );
    if (grantee.grantPrincipal instanceof Construct) {
      acknowledge(
        grantee.grantPrincipal,
        `AwsSolutions-IAM5[Resource::<${logicalIdOf(this.bucket)}.Arn>/${this.prefix}/*]`,
        "Floe names its objects at run time (epochs, attempt ids, Iceberg files): access is to the job's prefix, with explicit actions.",
      );
    }
  }

  private onFailureDestination(onFailure: FloeOnFailure, role: iam.IRole): { destinationArn: string } {
    if (onFailure.kind === 'sqs') {
      const queue =
        onFailure.queue ??
        new sqs.Queue(this, 'FailedBatches', {
          encryption: sqs.QueueEncryption.SQS_MANAGED,
          enforceSSL: true,
          retentionPeriod: Duration.days(14),
        });
      if (onFailure.queue === undefined) {
        acknowledge(
          queue,
          'AwsSolutions-SQS3',
          'This queue is itself the dead-letter destination of the event source mapping.',
        );
      }
      queue.grantSendMessages(role);
      (this as { failureQueue?: sqs.IQueue }).failureQueue = queue;
      return { destinationArn: queue.queueArn };
    }
    const bucket =
      onFailure.bucket ??
      new s3.Bucket(this, 'FailedBatchesBucket', {
        encryption: s3.BucketEncryption.S3_MANAGED,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        lifecycleRules: [
          { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
        ],
        removalPolicy: RemovalPolicy.RETAIN,
      });
    if (onFailure.bucket === undefined) {
      acknowledge(
        bucket,
        'AwsSolutions-S1',
        'Server access logs are not enabled by default: only the event source mapping writes here; enable them per account policy.',
      );
    }
    // Lambda's documented permissions for an S3 on-failure destination.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [bucket.arnForObjects('*')] }),
    );
    if (onFailure.bucket === undefined) {
      acknowledge(
        role,
        `AwsSolutions-IAM5[Resource::<${logicalIdOf(bucket)}.Arn>/*]`,
        'Lambda names the objects of discarded batches itself: PutObject only, on the destination bucket.',
      );
    }
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }),
    );
    (this as { failureBucket?: s3.IBucket }).failureBucket = bucket;
    return { destinationArn: bucket.bucketArn };
  }

  private createEventSourceMapping(
    props: FloeJobProps,
    role: iam.Role,
    destinationArn: string,
  ): lambda.CfnEventSourceMapping {
    const source = props.source;
    const consumerGroupId = props.consumerGroupId ?? `floe-${this.jobName}`;
    const startingPosition = props.startingPosition ?? lambda.StartingPosition.TRIM_HORIZON;
    const accessConfigurations: lambda.CfnEventSourceMapping.SourceAccessConfigurationProperty[] = [];
    const networkInterfaces = (): void => {
      // Lambda's pollers create network interfaces in the cluster's VPC. EC2 has no
      // resource-level permissions for the Describe actions, hence the wildcard resource.
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: [
            'ec2:CreateNetworkInterface',
            'ec2:DescribeNetworkInterfaces',
            'ec2:DeleteNetworkInterface',
            'ec2:DescribeVpcs',
            'ec2:DescribeSubnets',
            'ec2:DescribeSecurityGroups',
          ],
          resources: ['*'],
        }),
      );
      acknowledge(
        role,
        'AwsSolutions-IAM5[Resource::*]',
        'Lambda pollers create and describe VPC network interfaces; EC2 Describe* actions support no resource-level permissions.',
      );
    };

    let kafka: Partial<lambda.CfnEventSourceMappingProps>;
    if (source.kind === 'msk') {
      const arn = mskArn(source.clusterArn);
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['kafka:DescribeCluster', 'kafka:DescribeClusterV2', 'kafka:GetBootstrapBrokers'],
          resources: [source.clusterArn],
        }),
      );
      networkInterfaces();
      const auth = source.authentication ?? { kind: 'iam' };
      if (auth.kind === 'iam') {
        role.addToPrincipalPolicy(
          new iam.PolicyStatement({
            actions: ['kafka-cluster:Connect', 'kafka-cluster:DescribeClusterDynamicConfiguration'],
            resources: [source.clusterArn],
          }),
        );
        role.addToPrincipalPolicy(
          new iam.PolicyStatement({
            actions: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'],
            resources: [arn('topic', props.topic)],
          }),
        );
        role.addToPrincipalPolicy(
          new iam.PolicyStatement({
            actions: ['kafka-cluster:DescribeGroup', 'kafka-cluster:AlterGroup'],
            resources: [arn('group', consumerGroupId)],
          }),
        );
      } else {
        auth.secret.grantRead(role);
        accessConfigurations.push({ type: 'SASL_SCRAM_512_AUTH', uri: auth.secret.secretArn });
      }
      kafka = {
        eventSourceArn: source.clusterArn,
        amazonManagedKafkaEventSourceConfig: { consumerGroupId },
      };
    } else {
      const auth = source.authentication ?? { kind: 'none' };
      if (auth.kind !== 'none') {
        auth.secret.grantRead(role);
        accessConfigurations.push({ type: KAFKA_AUTH[auth.kind]!, uri: auth.secret.secretArn });
      }
      if (source.rootCaCertificate !== undefined) {
        source.rootCaCertificate.grantRead(role);
        accessConfigurations.push({
          type: 'SERVER_ROOT_CA_CERTIFICATE',
          uri: source.rootCaCertificate.secretArn,
        });
      }
      if (source.vpc !== undefined && source.securityGroup !== undefined) {
        networkInterfaces();
        const subnets = source.vpc.selectSubnets(
          source.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
        );
        for (const subnetId of subnets.subnetIds)
          accessConfigurations.push({ type: 'VPC_SUBNET', uri: `subnet:${subnetId}` });
        accessConfigurations.push({
          type: 'VPC_SECURITY_GROUP',
          uri: `security_group:${source.securityGroup.securityGroupId}`,
        });
      }
      kafka = {
        selfManagedEventSource: { endpoints: { kafkaBootstrapServers: source.bootstrapServers } },
        selfManagedKafkaEventSourceConfig: { consumerGroupId },
      };
    }

    const provisioned = props.provisionedPollers;
    const esm = new lambda.CfnEventSourceMapping(this, 'Mapping', {
      ...kafka,
      functionName: this.processor.functionName,
      topics: [props.topic],
      batchSize: props.batchSize ?? 500,
      maximumBatchingWindowInSeconds: (props.maxBatchingWindow ?? Duration.seconds(1)).toSeconds(),
      startingPosition,
      startingPositionTimestamp: this.startingTimestamp(startingPosition, props.startingPositionTimestamp),
      sourceAccessConfigurations: accessConfigurations.length > 0 ? accessConfigurations : undefined,
      destinationConfig: { onFailure: { destination: destinationArn } },
      provisionedPollerConfig:
        provisioned === undefined
          ? undefined
          : { minimumPollers: provisioned.minimum ?? 1, maximumPollers: provisioned.maximum ?? 200 },
      maximumRetryAttempts: provisioned === undefined ? undefined : (props.retryAttempts ?? 10),
    });
    // The mapping checks its permissions when it is created: after the role's policy.
    esm.node.addDependency(role);
    return esm;
  }

  /** The timestamp only goes with AT_TIMESTAMP; with a token position, a condition decides. */
  private startingTimestamp(position: string, timestamp: number | undefined): number | undefined {
    if (timestamp === undefined) return undefined;
    if (!Token.isUnresolved(position)) return position === 'AT_TIMESTAMP' ? timestamp : undefined;
    const atTimestamp = new CfnCondition(this, 'StartsAtTimestamp', {
      expression: Fn.conditionEquals(position, 'AT_TIMESTAMP'),
    });
    return Token.asNumber(Fn.conditionIf(atTimestamp.logicalId, timestamp, Fn.ref('AWS::NoValue')));
  }

  private monitoring(props: FloeJobProps, timeout: Duration) {
    const fn = this.processor;
    const period = Duration.minutes(1);
    const floe = (name: string, statistic: string) =>
      new cloudwatch.Metric({
        namespace: FloeMetrics.namespace,
        metricName: name,
        dimensionsMap: { [FloeMetrics.jobDimension]: this.jobName },
        statistic,
        period,
      });
    const offsetLag = new cloudwatch.Metric({
      namespace: 'AWS/Lambda',
      metricName: 'OffsetLag',
      dimensionsMap: { FunctionName: fn.functionName },
      statistic: 'Maximum',
      period,
    });
    const metrics = {
      errors: fn.metricErrors({ period, statistic: 'Sum' }),
      throttles: fn.metricThrottles({ period, statistic: 'Sum' }),
      duration: fn.metricDuration({ period, statistic: 'p99' }),
      invocations: fn.metricInvocations({ period, statistic: 'Sum' }),
      offsetLag,
      watermarkLag: floe(FloeMetrics.watermarkLagMs, 'Maximum'),
      lateRecords: floe(FloeMetrics.lateRecords, 'Sum'),
      deadLetters: floe(FloeMetrics.deadLetters, 'Sum'),
      storeRequests: floe(FloeMetrics.storeRequests, 'Sum'),
      storeRoundTrips: floe(FloeMetrics.storeRoundTrips, 'Sum'),
      records: floe(FloeMetrics.records, 'Sum'),
      rows: floe(FloeMetrics.rows, 'Sum'),
      commitLatency: floe(FloeMetrics.commitLatencyMs, 'p99'),
    };
    const alarm = (
      id: string,
      metric: cloudwatch.IMetric,
      threshold: number,
      description: string,
      evaluationPeriods = 5,
    ) =>
      new cloudwatch.Alarm(this, id, {
        metric,
        threshold,
        evaluationPeriods,
        datapointsToAlarm: Math.min(evaluationPeriods, 3),
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: `Floe job ${this.jobName}: ${description}`,
      });
    const alarms = [
      alarm('ErrorsAlarm', metrics.errors, 1, 'batches failed (Lambda retries them; see the function logs).'),
      alarm('ThrottlesAlarm', metrics.throttles, 1, 'invocations throttled (concurrency).'),
      alarm(
        'DurationAlarm',
        metrics.duration,
        Math.floor(timeout.toMilliseconds() * 0.8),
        'p99 duration (commit latency included) above 80% of the timeout.',
      ),
      alarm(
        'OffsetLagAlarm',
        offsetLag,
        props.offsetLagThreshold ?? 100_000,
        'the consumer group is falling behind the topic.',
      ),
      alarm(
        'WatermarkLagAlarm',
        metrics.watermarkLag,
        (props.watermarkLagThreshold ?? Duration.minutes(15)).toMilliseconds(),
        'the watermark is far behind processing time: windows fire late.',
      ),
      alarm(
        'DeadLettersAlarm',
        metrics.deadLetters,
        1,
        'records became dead letters (see the _dead_letters table).',
        1,
      ),
    ];
    if (this.ticker !== undefined) {
      alarms.push(
        alarm(
          'TickerErrorsAlarm',
          this.ticker.metricErrors({ period, statistic: 'Sum' }),
          1,
          "ticks failed: windows of silent partitions may not fire (see the ticker's logs).",
        ),
      );
    }
    if (this.failureQueue !== undefined) {
      alarms.push(
        alarm(
          'FailedBatchesAlarm',
          this.failureQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' }),
          1,
          'a batch was given up and sent to the on-failure queue: its records are not in the tables.',
          1,
        ),
      );
    }

    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.hours(3),
    });
    const graph = (title: string, left: cloudwatch.IMetric[], right: cloudwatch.IMetric[] = []) =>
      new cloudwatch.GraphWidget({ title, left, right, width: 8, height: 6 });
    dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown: `# Floe job \`${this.jobName}\`\nAlarms, the Lambda function, the Kafka event source mapping and Floe's own metrics (namespace \`${FloeMetrics.namespace}\`).`,
        width: 24,
        height: 2,
      }),
    );
    dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms, width: 24, height: 3 }));
    dashboard.addWidgets(
      graph(
        'Invocations and errors',
        [metrics.invocations, metrics.errors, metrics.throttles],
        this.ticker === undefined
          ? []
          : [
              this.ticker.metricInvocations({ period, statistic: 'Sum', label: 'Ticks' }),
              this.ticker.metricErrors({ period, statistic: 'Sum', label: 'Tick errors' }),
            ],
      ),
      graph('Duration p99 and commit latency p99 (ms)', [metrics.duration, metrics.commitLatency]),
      graph('Offset lag (records)', [offsetLag]),
    );
    dashboard.addWidgets(
      graph('Records in, rows out', [metrics.records, metrics.rows]),
      graph('Watermark lag (ms)', [metrics.watermarkLag]),
      graph('Late records and dead letters', [metrics.lateRecords, metrics.deadLetters]),
      graph('Store requests and round trips', [metrics.storeRequests, metrics.storeRoundTrips]),
    );
    return { alarms, dashboard };
  }
}

/** Builds ARNs of the cluster's topics and groups from its ARN (a token or a string). */
function mskArn(clusterArn: string): (kind: 'topic' | 'group', name: string) => string {
  const parts = Fn.split(':', clusterArn);
  const resource = Fn.split('/', Fn.select(5, parts));
  return (kind, name) =>
    Fn.join('', [
      'arn:',
      Fn.select(1, parts),
      ':kafka:',
      Fn.select(3, parts),
      ':',
      Fn.select(4, parts),
      `:${kind}/`,
      Fn.select(1, resource),
      '/',
      Fn.select(2, resource),
      '/',
      name,
    ]);
}

/** The logical id of a resource's CloudFormation element, as cdk-nag names it in findings. */
function logicalIdOf(resource: Construct): string {
  return Stack.of(resource).resolve((resource.node.defaultChild as CfnResource).logicalId) as string;
}

const bundles = new Map<string, string>();

/** Bundles a job's handler or ticker into a folder of the project, once per process. */
function bundleOnce(jobFile: string, projectRoot: string, kind: 'handler' | 'ticker'): string {
  const key = `${kind}:${jobFile}`;
  let dir = bundles.get(key);
  if (dir === undefined) {
    const hash = createHash('sha256').update(jobFile).digest('hex').slice(0, 16);
    dir = join(projectRoot, '.floe', 'cdk', hash, kind);
    rmSync(dir, { recursive: true, force: true });
    bundleJobHandlerSync(jobFile, join(dir, 'index.mjs'), { ticker: kind === 'ticker' });
    bundles.set(key, dir);
  }
  return dir;
}

/** Why ticks cannot change a job's state. */
/** The consume interval in ms (validated: a whole number of ms, 0 or more). */
function consumeIntervalMs(props: FloeJobProps): number {
  return props.partitionLogs?.consumeInterval?.toMilliseconds() ?? 0;
}

function acknowledge(scope: Construct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

function fail(prop: string, rule: string): never {
  throw new Error(`FloeJob: ${prop} ${rule}`);
}

function checkRange(prop: string, value: number | undefined, min: number, max: number): void {
  if (value === undefined || Token.isUnresolved(value)) return;
  if (!Number.isInteger(value) || value < min || value > max)
    fail(prop, `must be an integer from ${min} to ${max}, got ${value}`);
}

function checkOneOf(prop: string, value: string | undefined, allowed: readonly string[], note = ''): void {
  if (value === undefined || Token.isUnresolved(value)) return;
  if (!allowed.includes(value))
    fail(prop, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}${note}`);
}

/** Every rule on the props, before anything is created. */
function validate(props: FloeJobProps): void {
  if (typeof props.jobFile !== 'string' || props.jobFile.length === 0)
    fail('jobFile', 'must be the path of a job module');
  if (props.jobName !== undefined && !/^[A-Za-z0-9_.-]{1,255}$/.test(props.jobName)) {
    fail(
      'jobName',
      `must be 1 to 255 letters, digits, '_', '.' or '-', got ${JSON.stringify(props.jobName)}`,
    );
  }
  if (!Token.isUnresolved(props.topic) && !/^[A-Za-z0-9._-]{1,249}$/.test(props.topic)) {
    fail(
      'topic',
      `must be a Kafka topic name (1 to 249 of letters, digits, '.', '_', '-'), got ${JSON.stringify(props.topic)}`,
    );
  }
  checkRange('batchSize', props.batchSize, 1, 10_000);
  const consume = props.partitionLogs?.consumeInterval;
  if (consume !== undefined) {
    if (consume.isUnresolved())
      fail('partitionLogs.consumeInterval', 'must be a fixed duration, not a token');
    if (consume.toMilliseconds() > 0 && props.partitionLogs?.enabled === false)
      fail('partitionLogs.consumeInterval', 'needs partition logs (partitionLogs.enabled is false)');
  }
  const window = props.maxBatchingWindow;
  if (window !== undefined && !window.isUnresolved() && window.toMilliseconds() > 300_000) {
    fail('maxBatchingWindow', `must be at most 300 seconds, got ${window.toHumanString()}`);
  }
  checkOneOf('startingPosition', props.startingPosition, ['TRIM_HORIZON', 'LATEST', 'AT_TIMESTAMP']);
  if (props.startingPosition === 'AT_TIMESTAMP' && props.startingPositionTimestamp === undefined) {
    fail('startingPositionTimestamp', 'must be set when startingPosition is AT_TIMESTAMP');
  }
  if (
    props.startingPositionTimestamp !== undefined &&
    props.startingPosition !== undefined &&
    !Token.isUnresolved(props.startingPosition) &&
    props.startingPosition !== 'AT_TIMESTAMP'
  ) {
    fail(
      'startingPositionTimestamp',
      `must only be set when startingPosition is AT_TIMESTAMP, not ${props.startingPosition}`,
    );
  }
  if (
    props.consumerGroupId !== undefined &&
    !Token.isUnresolved(props.consumerGroupId) &&
    !/^[a-zA-Z0-9_.:-]{1,200}$/.test(props.consumerGroupId)
  ) {
    fail(
      'consumerGroupId',
      `must be 1 to 200 of letters, digits, '_', '.', ':', '-', got ${JSON.stringify(props.consumerGroupId)}`,
    );
  }
  if (props.provisionedPollers !== undefined) {
    const { minimum = 1, maximum = 200 } = props.provisionedPollers;
    checkRange('provisionedPollers.minimum', minimum, 1, 200);
    checkRange('provisionedPollers.maximum', maximum, 1, 2000);
    if (!Token.isUnresolved(minimum) && !Token.isUnresolved(maximum) && minimum > maximum) {
      fail(
        'provisionedPollers.minimum',
        `must not exceed provisionedPollers.maximum (${minimum} > ${maximum})`,
      );
    }
  }
  if (props.retryAttempts !== undefined && props.provisionedPollers === undefined) {
    fail(
      'retryAttempts',
      'needs provisionedPollers: Lambda accepts retry settings for Kafka only in provisioned mode',
    );
  }
  checkRange('retryAttempts', props.retryAttempts, 0, 10_000);
  checkRange('memorySize', props.memorySize, 128, 10_240);
  const timeout = props.timeout;
  if (
    timeout !== undefined &&
    !timeout.isUnresolved() &&
    (timeout.toSeconds() < 10 || timeout.toSeconds() > 14 * 60)
  ) {
    fail(
      'timeout',
      `must be from 10 seconds to 14 minutes (the limit with a Kafka event source), got ${timeout.toHumanString()}`,
    );
  }
  checkRange('reservedConcurrentExecutions', props.reservedConcurrentExecutions, 1, 100_000);
  checkOneOf('logLevel', props.logLevel, LOG_LEVELS);
  checkOneOf('checkpointCompression', props.checkpointCompression, COMPRESSIONS);
  checkRange('keepCheckpoints', props.keepCheckpoints, 1, 10_000);
  checkOneOf('delivery', props.delivery, DELIVERIES, ' (at-least-once is not implemented yet)');
  checkRange('maxCommitAttempts', props.maxCommitAttempts, 1, 100);
  const interval = props.publishInterval;
  if (interval !== undefined && !interval.isUnresolved()) {
    const ms = interval.toMilliseconds();
    if (ms > 3_600_000) fail('publishInterval', `must be at most one hour, got ${interval.toHumanString()}`);
  }
  const schedule = props.ticker?.schedule;
  if (schedule instanceof Duration && !schedule.isUnresolved()) {
    const ms = schedule.toMilliseconds();
    if (ms < 60_000 || ms % 60_000 !== 0) {
      fail(
        'ticker.schedule',
        `must be whole minutes, at least one (EventBridge rates), got ${schedule.toHumanString()}`,
      );
    }
  }
  if (props.prefix !== undefined && !/^[A-Za-z0-9!_.*'()-]+(\/[A-Za-z0-9!_.*'()-]+)*$/.test(props.prefix)) {
    fail(
      'prefix',
      `must be a key prefix without leading or trailing '/', got ${JSON.stringify(props.prefix)}`,
    );
  }
  checkRange('offsetLagThreshold', props.offsetLagThreshold, 1, Number.MAX_SAFE_INTEGER);

  const source = props.source;
  if (source?.kind === 'msk') {
    if (
      !Token.isUnresolved(source.clusterArn) &&
      !/^arn:aws[a-z-]*:kafka:[a-z0-9-]+:\d{12}:cluster\/[^/]+\/[^/]+$/.test(source.clusterArn)
    ) {
      fail(
        'source.clusterArn',
        `must be an MSK cluster ARN (arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>), got ${JSON.stringify(source.clusterArn)}`,
      );
    }
    const auth = source.authentication;
    if (auth !== undefined && auth.kind !== 'iam' && auth.kind !== 'sasl-scram-512') {
      fail(
        'source.authentication.kind',
        `must be iam or sasl-scram-512 for MSK, got ${JSON.stringify((auth as { kind: string }).kind)}`,
      );
    }
  } else if (source?.kind === 'self-managed') {
    if (!Token.isUnresolved(source.bootstrapServers)) {
      if (source.bootstrapServers.length === 0)
        fail('source.bootstrapServers', 'must name at least one broker (host:port)');
      for (const server of source.bootstrapServers) {
        if (!Token.isUnresolved(server) && !/^[^\s:,]+:\d{1,5}$/.test(server)) {
          fail('source.bootstrapServers', `must be host:port entries, got ${JSON.stringify(server)}`);
        }
      }
    }
    if (source.vpc !== undefined && source.securityGroup === undefined)
      fail('source.securityGroup', 'must be set when providing vpc');
    if (source.securityGroup !== undefined && source.vpc === undefined)
      fail('source.vpc', 'must be set when providing securityGroup');
    if (source.vpcSubnets !== undefined && source.vpc === undefined)
      fail('source.vpc', 'must be set when providing vpcSubnets');
    const auth = source.authentication;
    if (auth !== undefined && !(auth.kind in KAFKA_AUTH)) {
      fail(
        'source.authentication.kind',
        `must be one of ${Object.keys(KAFKA_AUTH).join(', ')}, got ${JSON.stringify(auth.kind)}`,
      );
    }
  } else {
    fail(
      'source.kind',
      `must be 'msk' or 'self-managed', got ${JSON.stringify((source as { kind?: unknown } | undefined)?.kind)}`,
    );
  }
  const onFailure = props.onFailure;
  if (onFailure !== undefined && onFailure.kind !== 'sqs' && onFailure.kind !== 's3') {
    fail(
      'onFailure.kind',
      `must be 'sqs' or 's3', got ${JSON.stringify((onFailure as { kind: unknown }).kind)}`,
    );
  }
}
