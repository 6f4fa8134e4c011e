import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  App,
  Duration,
  aws_ec2 as ec2,
  aws_lambda as lambda,
  Stack,
  aws_secretsmanager as secretsmanager,
  Validations,
} from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleJobHandler } from '../cli/bundle.ts';
import { FloeMetrics } from '../functions/metric-names.ts';
import { scratchDir } from '../test/support/scratch.ts';
import { FloeJob, type FloeJobProps } from './floe-job.ts';
import { FloeJobStack, type FloeJobStackProps } from './floe-job-stack.ts';

/** An app whose cloud assembly goes to a scratch folder (an App without outdir leaves one in /tmp). */
const testApp = () => new App({ outdir: scratchDir('floe-cdk-out-') });

const JOB = 'examples/bids-per-auction.ts';
/** A job whose windows wait for every partition, with an idleness timeout: it needs the ticker. */
const IDLE_JOB = 'test/support/jobs/idle-bids-per-bidder.ts';
type Json = Record<string, unknown>;

/** Synthesizes a stack with cdk-nag's AwsSolutions pack on and returns the template and the pack's report. */
function synth(build: (app: App) => Stack): {
  template: Template;
  nag: Json;
  stack: Stack;
  assemblyDir: string;
} {
  const app = testApp();
  const stack = build(app);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const assembly = app.synth();
  const reportFile = join(assembly.directory, 'validation-report.json');
  const nag = existsSync(reportFile) ? (JSON.parse(readFileSync(reportFile, 'utf8')) as Json) : {};
  return {
    template: Template.fromJSON(assembly.getStackByName(stack.stackName).template as Json),
    nag,
    stack,
    assemblyDir: assembly.directory,
  };
}

function jobStack(props: Partial<FloeJobStackProps> = {}) {
  return (app: App) => new FloeJobStack(app, 'Floe', { jobFile: JOB, ...props });
}

/** A FloeJob without parameters, in a plain stack; jobName given so the module is not loaded. */
function plainJob(props: Partial<FloeJobProps>) {
  return (app: App) => {
    const stack = new Stack(app, 'Plain');
    new FloeJob(stack, 'Job', {
      jobFile: JOB,
      jobName: 'bids-per-auction',
      topic: 'bids',
      source: { kind: 'msk', clusterArn: 'arn:aws:kafka:eu-west-1:123456789012:cluster/prod/abc-1' },
      ...props,
    });
    return stack;
  };
}

/** Every statement of every IAM policy in the template. */
function statements(template: Template): Array<{ Action: string | string[]; Resource: unknown }> {
  return Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
    (policy) =>
      (policy as { Properties: { PolicyDocument: { Statement: [] } } }).Properties.PolicyDocument.Statement,
  );
}

/** Whether the nag report lists any violation (acknowledged ones are left out of it). */
function nagViolations(report: Json): unknown[] {
  const text = JSON.stringify(report);
  if (!text.includes('AwsSolutions')) return [];
  const runs = (report as { pluginReports?: Array<{ violations?: unknown[] }> }).pluginReports ?? [];
  return runs.flatMap((r) => r.violations ?? []);
}

describe('FloeJobStack on MSK with IAM (the cdk.json default)', () => {
  let template: Template;
  let nag: Json;
  beforeAll(() => {
    ({ template, nag } = synth(jobStack()));
  });

  it('declares the operator parameters with their defaults and limits', () => {
    template.hasParameter('Topic', { Type: 'String' });
    template.hasParameter('ClusterArn', { Type: 'String', AllowedPattern: Match.stringLikeRegexp('kafka') });
    template.hasParameter('BatchSize', { Type: 'Number', Default: 500, MinValue: 1, MaxValue: 10000 });
    template.hasParameter('BatchingWindowSeconds', {
      Type: 'Number',
      Default: 1,
      MinValue: 0,
      MaxValue: 300,
    });
    template.hasParameter('StartingPosition', {
      Default: 'TRIM_HORIZON',
      AllowedValues: ['TRIM_HORIZON', 'LATEST', 'AT_TIMESTAMP'],
    });
    template.hasParameter('StartingPositionTimestamp', { Type: 'Number', Default: 0 });
    template.hasParameter('ConsumerGroupId', { Default: 'floe-bids-per-auction' });
    template.hasParameter('MemorySize', { Type: 'Number', Default: 1024, MinValue: 128, MaxValue: 10240 });
    template.hasParameter('LogLevel', { Default: 'INFO', AllowedValues: ['DEBUG', 'INFO', 'WARN', 'ERROR'] });
    template.hasParameter('KeepCheckpoints', { Type: 'Number', Default: 10, MinValue: 1 });
    template.hasParameter('CheckpointCompression', {
      Default: 'zstd',
      AllowedValues: ['none', 'gzip', 'zstd'],
    });
    template.hasParameter('Delivery', { Default: 'exactly-once', AllowedValues: ['exactly-once'] });
    template.hasParameter('MaxCommitAttempts', { Type: 'Number', Default: 8, MinValue: 1, MaxValue: 100 });
    expect(template.findParameters('BootstrapServers')).toEqual({});
    expect(template.findParameters('AuthSecretArn')).toEqual({});
  });

  it('runs the job on Node 24, arm64, with its stores and settings in the environment', () => {
    // The processor and its ticker.
    template.resourceCountIs('AWS::Lambda::Function', 2);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Timeout: 300,
      MemorySize: { Ref: 'MemorySize' },
      Environment: {
        Variables: {
          FLOE_STATE_TABLE: { Ref: Match.stringLikeRegexp('^JobStateTable') },
          FLOE_CATALOG_TABLE: { Ref: Match.stringLikeRegexp('^JobCatalogTable') },
          FLOE_BUCKET: { Ref: Match.stringLikeRegexp('^JobBucket') },
          FLOE_PREFIX: 'floe',
          FLOE_CHECKPOINT_COMPRESSION: { Ref: 'CheckpointCompression' },
          FLOE_KEEP_CHECKPOINTS: { Ref: 'KeepCheckpoints' },
          FLOE_MAX_ATTEMPTS: { Ref: 'MaxCommitAttempts' },
          FLOE_PUBLISH_INTERVAL_MS: '10000',
          FLOE_DELIVERY: { Ref: 'Delivery' },
          FLOE_LOG_LEVEL: { Ref: 'LogLevel' },
          FLOE_PARTITION_LOGS: 'on',
          FLOE_CONSUME_INTERVAL_MS: '0',
        },
      },
    });
  });

  it('maps the topic to the function with every setting from a parameter', () => {
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { Ref: 'ClusterArn' },
      FunctionName: { Ref: Match.stringLikeRegexp('^JobProcessor') },
      Topics: [{ Ref: 'Topic' }],
      BatchSize: { Ref: 'BatchSize' },
      MaximumBatchingWindowInSeconds: { Ref: 'BatchingWindowSeconds' },
      StartingPosition: { Ref: 'StartingPosition' },
      StartingPositionTimestamp: {
        'Fn::If': [
          Match.stringLikeRegexp('StartsAtTimestamp'),
          { Ref: 'StartingPositionTimestamp' },
          { Ref: 'AWS::NoValue' },
        ],
      },
      AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: { Ref: 'ConsumerGroupId' } },
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('^JobFailedBatches'), 'Arn'] } },
      },
      SourceAccessConfigurations: Match.absent(),
      ProvisionedPollerConfig: Match.absent(),
      MaximumRetryAttempts: Match.absent(),
    });
    const conditions = template.toJSON().Conditions as Json;
    const condition = Object.entries(conditions).find(([id]) => id.includes('StartsAtTimestamp'));
    expect(condition?.[1]).toEqual({ 'Fn::Equals': [{ Ref: 'StartingPosition' }, 'AT_TIMESTAMP'] });
    // The mapping is created after the role's policy: Lambda checks its permissions on creation.
    const mapping = Object.values(template.findResources('AWS::Lambda::EventSourceMapping'))[0] as {
      DependsOn: string[];
    };
    expect(mapping.DependsOn).toEqual(
      expect.arrayContaining([expect.stringMatching(/^JobRoleDefaultPolicy/)]),
    );
  });

  it('creates the state and catalog tables: keys, on demand, PITR, TTL, AWS-managed encryption, retained', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 2);
    const common = {
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    };
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        ...common,
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      },
    });
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: {
        ...common,
        KeySchema: [
          { AttributeName: 'identifier', KeyType: 'HASH' },
          { AttributeName: 'namespace', KeyType: 'RANGE' },
        ],
        TimeToLiveSpecification: Match.absent(),
        GlobalSecondaryIndexes: Match.absent(),
      },
    });
  });

  it('creates the bucket encrypted, private, TLS-only, with the multipart lifecycle rule, retained', () => {
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: {
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        LifecycleConfiguration: {
          Rules: [
            {
              Id: 'abort-incomplete-multipart-uploads',
              Status: 'Enabled',
              AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
            },
          ],
        },
      },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('creates the on-failure queue encrypted and TLS-only', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('grants explicit actions only: no wildcard action anywhere, no wildcard resource on data', () => {
    const all = statements(template);
    const actions = all.flatMap((s) => [s.Action].flat());
    expect(actions.filter((a) => a.includes('*'))).toEqual([]);
    for (const s of all) {
      const wildcard = s.Resource === '*';
      if (wildcard) expect([s.Action].flat().every((a) => a.startsWith('ec2:'))).toBe(true);
    }
    expect(actions).toEqual(
      expect.arrayContaining([
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:DeleteItem',
        'dynamodb:Query',
        'dynamodb:BatchWriteItem',
        's3:GetObject',
        's3:PutObject',
        's3:DeleteObject',
        's3:AbortMultipartUpload',
        's3:ListBucket',
        'sqs:SendMessage',
        'kafka:DescribeClusterV2',
        'kafka:GetBootstrapBrokers',
        'kafka-cluster:Connect',
        'kafka-cluster:DescribeTopic',
        'kafka-cluster:ReadData',
        'kafka-cluster:DescribeGroup',
        'kafka-cluster:AlterGroup',
        'logs:CreateLogStream',
        'logs:PutLogEvents',
      ]),
    );
    // Objects only under the prefix; listing only of the prefix.
    const put = all.find((s) => [s.Action].flat().includes('s3:PutObject'));
    expect(JSON.stringify(put?.Resource)).toContain('/floe/*');
    const list = all.find((s) => [s.Action].flat().includes('s3:ListBucket')) as
      | { Condition?: unknown }
      | undefined;
    expect(list?.Condition).toEqual({ StringLike: { 's3:prefix': ['floe/*'] } });
    // Topic and group ARNs are derived from the cluster ARN parameter.
    const read = all.find((s) => [s.Action].flat().includes('kafka-cluster:ReadData'));
    expect(JSON.stringify(read?.Resource)).toContain(':topic/');
    expect(JSON.stringify(read?.Resource)).toContain('{"Ref":"Topic"}');
    const group = all.find((s) => [s.Action].flat().includes('kafka-cluster:AlterGroup'));
    expect(JSON.stringify(group?.Resource)).toContain('{"Ref":"ConsumerGroupId"}');
    // No AWS managed policies on the role (its log group is granted explicitly).
    template.hasResourceProperties('AWS::IAM::Role', { ManagedPolicyArns: Match.absent() });
  });

  it('alarms on errors, throttles, duration, offset lag, watermark lag, dead letters and failed batches', () => {
    // And the ticker's errors.
    template.resourceCountIs('AWS::CloudWatch::Alarm', 8);
    const alarm = (metric: string, extra: Json = {}) =>
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: metric,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        ...extra,
      });
    alarm('Errors', { Namespace: 'AWS/Lambda', Threshold: 1 });
    alarm('Throttles', { Namespace: 'AWS/Lambda', Threshold: 1 });
    alarm('Duration', { Namespace: 'AWS/Lambda', ExtendedStatistic: 'p99', Threshold: 240_000 });
    alarm('OffsetLag', { Namespace: 'AWS/Lambda', Statistic: 'Maximum', Threshold: 100_000 });
    alarm(FloeMetrics.watermarkLagMs, {
      Namespace: 'Floe',
      Dimensions: [{ Name: 'Job', Value: 'bids-per-auction' }],
      Threshold: 15 * 60_000,
    });
    alarm(FloeMetrics.deadLetters, {
      Namespace: 'Floe',
      Dimensions: [{ Name: 'Job', Value: 'bids-per-auction' }],
    });
    alarm('ApproximateNumberOfMessagesVisible', { Namespace: 'AWS/SQS', Threshold: 1 });
  });

  it("draws a dashboard of the function, the mapping and Floe's metrics", () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const dashboard = Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0] as {
      Properties: { DashboardBody: unknown };
    };
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    for (const name of [
      'Errors',
      'Throttles',
      'Duration',
      'OffsetLag',
      FloeMetrics.watermarkLagMs,
      FloeMetrics.lateRecords,
      FloeMetrics.deadLetters,
      FloeMetrics.storeRequests,
      FloeMetrics.storeRoundTrips,
      FloeMetrics.commitLatencyMs,
      FloeMetrics.records,
      FloeMetrics.rows,
    ]) {
      expect(body).toContain(`\\"${name}\\"`);
    }
    expect(body).toContain('\\"Floe\\",\\"');
    expect(body).toContain('alarm');
  });

  it('passes the cdk-nag AwsSolutions checks, every acknowledged finding with a reason', () => {
    expect(nagViolations(nag)).toEqual([]);
  });
});

describe('FloeJobStack on self-managed Kafka with SASL/SCRAM', () => {
  it('takes the brokers and the secret from parameters, and reads the secret', () => {
    const { template, nag } = synth(
      jobStack({ source: 'self-managed', auth: 'sasl-scram-512', job: { jobName: 'bids-per-auction' } }),
    );
    template.hasParameter('BootstrapServers', { Type: 'CommaDelimitedList' });
    template.hasParameter('AuthSecretArn', { Type: 'String' });
    expect(template.findParameters('ClusterArn')).toEqual({});
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: Match.absent(),
      SelfManagedEventSource: { Endpoints: { KafkaBootstrapServers: { Ref: 'BootstrapServers' } } },
      SelfManagedKafkaEventSourceConfig: { ConsumerGroupId: { Ref: 'ConsumerGroupId' } },
      SourceAccessConfigurations: [{ Type: 'SASL_SCRAM_512_AUTH', URI: { Ref: 'AuthSecretArn' } }],
    });
    const actions = statements(template).flatMap((s) => [s.Action].flat());
    expect(actions).toContain('secretsmanager:GetSecretValue');
    expect(actions.filter((a) => a.startsWith('kafka') || a.startsWith('ec2:'))).toEqual([]);
    expect(nagViolations(nag)).toEqual([]);
  });
});

describe('FloeJob props', () => {
  it('sets a VPC, provisioned pollers, retries, an S3 destination and literal settings', () => {
    const { template, nag } = synth((app) => {
      const stack = new Stack(app, 'Vpc');
      const vpc = new ec2.Vpc(stack, 'Vpc', {
        maxAzs: 2,
        natGateways: 0,
        subnetConfiguration: [{ name: 'p', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
      });
      Validations.of(vpc).acknowledge({
        id: 'AwsSolutions-VPC7',
        reason: "The test's stand-in for the user's VPC.",
      });
      const securityGroup = new ec2.SecurityGroup(stack, 'Sg', { vpc });
      const secret = secretsmanager.Secret.fromSecretCompleteArn(
        stack,
        'S',
        'arn:aws:secretsmanager:eu-west-1:123456789012:secret:kafka-AbCdEf',
      );
      new FloeJob(stack, 'Job', {
        jobFile: JOB,
        jobName: 'bids-per-auction',
        topic: 'bids',
        source: {
          kind: 'self-managed',
          bootstrapServers: ['b1:9096', 'b2:9096'],
          authentication: { kind: 'sasl-scram-256', secret },
          vpc,
          vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
          securityGroup,
        },
        batchSize: 1000,
        maxBatchingWindow: Duration.seconds(5),
        startingPosition: lambda.StartingPosition.AT_TIMESTAMP,
        startingPositionTimestamp: 1_700_000_000,
        consumerGroupId: 'bids-group',
        provisionedPollers: { minimum: 2, maximum: 10 },
        retryAttempts: 3,
        onFailure: { kind: 's3' },
        memorySize: 2048,
        timeout: Duration.minutes(10),
        reservedConcurrentExecutions: 20,
        logLevel: 'DEBUG',
        checkpointCompression: 'gzip',
        keepCheckpoints: 5,
        maxCommitAttempts: 3,
        prefix: 'jobs/bids',
        retainCheckpoints: false,
      });
      return stack;
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      Topics: ['bids'],
      BatchSize: 1000,
      MaximumBatchingWindowInSeconds: 5,
      StartingPosition: 'AT_TIMESTAMP',
      StartingPositionTimestamp: 1_700_000_000,
      SelfManagedEventSource: { Endpoints: { KafkaBootstrapServers: ['b1:9096', 'b2:9096'] } },
      SelfManagedKafkaEventSourceConfig: { ConsumerGroupId: 'bids-group' },
      ProvisionedPollerConfig: { MinimumPollers: 2, MaximumPollers: 10 },
      MaximumRetryAttempts: 3,
      DestinationConfig: {
        OnFailure: {
          Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('^JobFailedBatchesBucket'), 'Arn'] },
        },
      },
      SourceAccessConfigurations: Match.arrayWith([
        {
          Type: 'SASL_SCRAM_256_AUTH',
          URI: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:kafka-AbCdEf',
        },
        { Type: 'VPC_SUBNET', URI: { 'Fn::Join': ['', ['subnet:', { Ref: Match.anyValue() }]] } },
        {
          Type: 'VPC_SECURITY_GROUP',
          URI: { 'Fn::Join': ['', ['security_group:', { 'Fn::GetAtt': [Match.anyValue(), 'GroupId'] }]] },
        },
      ]),
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 2048,
      Timeout: 600,
      ReservedConcurrentExecutions: 20,
      Environment: {
        Variables: Match.objectLike({
          FLOE_PREFIX: 'jobs/bids',
          FLOE_CHECKPOINT_COMPRESSION: 'gzip',
          FLOE_KEEP_CHECKPOINTS: '5',
          FLOE_MAX_ATTEMPTS: '3',
          FLOE_DELIVERY: 'exactly-once',
          FLOE_LOG_LEVEL: 'DEBUG',
        }),
      },
    });
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete' });
    template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Delete' });
    const all = statements(template);
    expect(all.flatMap((s) => [s.Action].flat()).filter((a) => a.includes('*'))).toEqual([]);
    expect(all.some((s) => [s.Action].flat().includes('ec2:CreateNetworkInterface'))).toBe(true);
    const put = all.find((s) => [s.Action].flat().includes('s3:GetObject'));
    expect(JSON.stringify(put?.Resource)).toContain('/jobs/bids/*');
    // No failure queue, so no failed-batches alarm.
    template.resourceCountIs('AWS::SQS::Queue', 0);
    template.resourceCountIs('AWS::CloudWatch::Alarm', 7);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Duration', Threshold: 480_000 });
    expect(nagViolations(nag)).toEqual([]);
  });

  const msk = { kind: 'msk', clusterArn: 'arn:aws:kafka:eu-west-1:123456789012:cluster/prod/abc-1' } as const;
  const invalid: Array<[string, Partial<FloeJobProps>, RegExp]> = [
    ['batchSize', { batchSize: 0 }, /batchSize must be an integer from 1 to 10000, got 0/],
    ['batchSize', { batchSize: 20_000 }, /batchSize must be an integer from 1 to 10000/],
    [
      'maxBatchingWindow',
      { maxBatchingWindow: Duration.minutes(6) },
      /maxBatchingWindow must be at most 300 seconds/,
    ],
    [
      'startingPositionTimestamp',
      { startingPosition: lambda.StartingPosition.AT_TIMESTAMP },
      /startingPositionTimestamp must be set when startingPosition is AT_TIMESTAMP/,
    ],
    [
      'startingPositionTimestamp',
      { startingPosition: lambda.StartingPosition.LATEST, startingPositionTimestamp: 1 },
      /startingPositionTimestamp must only be set when startingPosition is AT_TIMESTAMP/,
    ],
    ['timeout', { timeout: Duration.minutes(15) }, /timeout must be from 10 seconds to 14 minutes/],
    ['memorySize', { memorySize: 64 }, /memorySize must be an integer from 128 to 10240/],
    ['retryAttempts', { retryAttempts: 3 }, /retryAttempts needs provisionedPollers/],
    [
      'provisionedPollers',
      { provisionedPollers: { minimum: 5, maximum: 2 } },
      /provisionedPollers.minimum must not exceed provisionedPollers.maximum/,
    ],
    ['logLevel', { logLevel: 'TRACE' as 'INFO' }, /logLevel must be one of DEBUG, INFO, WARN, ERROR/],
    [
      'checkpointCompression',
      { checkpointCompression: 'lz4' as 'zstd' },
      /checkpointCompression must be one of none, gzip, zstd/,
    ],
    [
      'delivery',
      { delivery: 'at-least-once' as 'exactly-once' },
      /delivery must be one of exactly-once, got "at-least-once" \(at-least-once is not implemented yet\)/,
    ],
    ['keepCheckpoints', { keepCheckpoints: 0 }, /keepCheckpoints must be an integer from 1/],
    ['maxCommitAttempts', { maxCommitAttempts: 0 }, /maxCommitAttempts must be an integer from 1 to 100/],
    [
      'ticker.schedule',
      { ticker: { schedule: Duration.seconds(30) } },
      /ticker.schedule must be whole minutes, at least one/,
    ],
    ['prefix', { prefix: '/floe/' }, /prefix must be a key prefix without leading or trailing/],
    ['topic', { topic: 'bad topic' }, /topic must be a Kafka topic name/],
    ['consumerGroupId', { consumerGroupId: 'a b' }, /consumerGroupId must be/],
    [
      'source.clusterArn',
      { source: { ...msk, clusterArn: 'arn:aws:s3:::bucket' } },
      /source.clusterArn must be an MSK cluster ARN/,
    ],
    [
      'source.bootstrapServers',
      { source: { kind: 'self-managed', bootstrapServers: [] } },
      /source.bootstrapServers must name at least one broker/,
    ],
    [
      'source.bootstrapServers',
      { source: { kind: 'self-managed', bootstrapServers: ['broker'] } },
      /source.bootstrapServers must be host:port entries/,
    ],
    [
      'source.kind',
      { source: { kind: 'kinesis' } as unknown as FloeJobProps['source'] },
      /source.kind must be 'msk' or 'self-managed'/,
    ],
    [
      'onFailure.kind',
      { onFailure: { kind: 'sns' } as unknown as FloeJobProps['onFailure'] },
      /onFailure.kind must be 'sqs' or 's3'/,
    ],
  ];
  it('refuses a consume interval without partition logs, naming the prop', () => {
    expect(() =>
      plainJob({ partitionLogs: { enabled: false, consumeInterval: Duration.seconds(5) } })(testApp()),
    ).toThrow('FloeJob: partitionLogs.consumeInterval needs partition logs (partitionLogs.enabled is false)');
  });

  it.each(invalid)('refuses an invalid %s, naming it', (_prop, props, message) => {
    expect(() => plainJob(props)(testApp())).toThrow(message);
  });

  it('refuses a security group without a VPC and a VPC without a security group', () => {
    const app = testApp();
    const stack = new Stack(app, 'S');
    const vpc = new ec2.Vpc(stack, 'Vpc', { natGateways: 0 });
    const securityGroup = new ec2.SecurityGroup(stack, 'Sg', { vpc });
    const base = { jobFile: JOB, jobName: 'j', topic: 't' };
    expect(
      () =>
        new FloeJob(stack, 'A', {
          ...base,
          source: { kind: 'self-managed', bootstrapServers: ['b:9092'], vpc },
        }),
    ).toThrow('FloeJob: source.securityGroup must be set when providing vpc');
    expect(
      () =>
        new FloeJob(stack, 'B', {
          ...base,
          source: { kind: 'self-managed', bootstrapServers: ['b:9092'], securityGroup },
        }),
    ).toThrow('FloeJob: source.vpc must be set when providing securityGroup');
  });

  it('refuses a job file that exports no job, naming jobFile', () => {
    const app = testApp();
    const stack = new Stack(app, 'S');
    expect(
      () => new FloeJob(stack, 'J', { jobFile: 'examples/nexmark/bid.ts', topic: 't', source: msk }),
    ).toThrow(/jobFile .*bid\.ts could not be loaded: its default export is not a Floe job/);
  });
});

describe('FloeJob bundling', () => {
  it("deploys cli/bundle.ts's bundle of the job: the bytes the emulator test runs", async () => {
    const { template, assemblyDir } = synth(plainJob({}));
    const fn = Object.values(template.findResources('AWS::Lambda::Function'))[0] as {
      Properties: { Code: { S3Key: string } };
    };
    const asset = join(assemblyDir, `asset.${fn.Properties.Code.S3Key.replace(/\.zip$/, '')}`);
    const deployed = readFileSync(join(asset, 'index.mjs'));
    const bundle = await bundleJobHandler(JOB, join(scratchDir('floe-cdk-bundle-'), 'index.mjs'));
    expect(deployed.equals(readFileSync(bundle.outfile))).toBe(true);
    expect(existsSync(join(asset, 'index.mjs.map'))).toBe(true);
  });
});

describe('FloeJob ticker', () => {
  it('is on for a job whose state ticks cannot change too, since every tick publishes; off on request, with a warning', () => {
    const { template, stack } = synth(plainJob({}));
    template.resourceCountIs('AWS::Lambda::Function', 2);
    template.resourceCountIs('AWS::Events::Rule', 1);
    expect(Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('ticker'))).toEqual([]);
    const off = synth(plainJob({ ticker: { enabled: false } }));
    off.template.resourceCountIs('AWS::Lambda::Function', 1);
    Annotations.fromStack(off.stack).hasWarning(
      '/Plain/Job',
      Match.stringLikeRegexp('no ticker deployed.*stay unpublished until the next batch commits'),
    );
    // Publishing every commit needs no ticker for that (the job's idleness may still need one).
    const everyCommit = synth(plainJob({ ticker: { enabled: false }, publishInterval: Duration.seconds(0) }));
    expect(
      Annotations.fromStack(everyCommit.stack).findWarning('*', Match.stringLikeRegexp('ticker')),
    ).toEqual([]);
    everyCommit.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ FLOE_PUBLISH_INTERVAL_MS: '0' }) },
    });
    expect(() => synth(plainJob({ publishInterval: Duration.hours(2) }))).toThrow(
      /FloeJob: publishInterval must be at most one hour, got 2 hours/,
    );
  });

  it('gives a job whose windows merge partitions its partition log settings, the consume interval included', () => {
    const { template } = synth((app) => {
      const stack = new Stack(app, 'Interval');
      new FloeJob(stack, 'Job', {
        jobFile: 'examples/max-price.ts',
        topic: 'bids',
        source: { kind: 'msk', clusterArn: 'arn:aws:kafka:eu-west-1:123456789012:cluster/prod/abc-1' },
        partitionLogs: { consumeInterval: Duration.seconds(5) },
      });
      return stack;
    });
    template.resourceCountIs('AWS::Lambda::Function', 2);
    template.resourceCountIs('AWS::Events::Rule', 1);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ FLOE_PARTITION_LOGS: 'on', FLOE_CONSUME_INTERVAL_MS: '5000' }),
      },
    });
    // Without partition logs: the ticker only publishes (every job has one), and the environment says so.
    const { template: plain } = synth((app) => {
      const stack = new Stack(app, 'NoLogs');
      new FloeJob(stack, 'Job', {
        jobFile: 'examples/max-price.ts',
        topic: 'bids',
        source: { kind: 'msk', clusterArn: 'arn:aws:kafka:eu-west-1:123456789012:cluster/prod/abc-1' },
        partitionLogs: { enabled: false },
      });
      return stack;
    });
    plain.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ FLOE_PARTITION_LOGS: 'off' }) },
    });
  });

  it('is on every minute for a job with idleness: same bundle kind, environment and store grants, its own alarm', () => {
    const { template, nag, stack } = synth((app) => {
      const stack = new Stack(app, 'Idle');
      new FloeJob(stack, 'Job', {
        jobFile: IDLE_JOB,
        topic: 'bids',
        source: { kind: 'msk', clusterArn: 'arn:aws:kafka:eu-west-1:123456789012:cluster/prod/abc-1' },
      });
      return stack;
    });
    template.resourceCountIs('AWS::Lambda::Function', 2);
    const functions = template.findResources('AWS::Lambda::Function') as Record<
      string,
      { Properties: { Environment: unknown; Handler: string; Runtime: string; Role: unknown } }
    >;
    const [processorId, tickerId] = [
      Object.keys(functions).find((id) => id.startsWith('JobProcessor'))!,
      Object.keys(functions).find((id) => id.startsWith('JobTicker'))!,
    ];
    const processor = functions[processorId]!.Properties;
    const ticker = functions[tickerId]!.Properties;
    expect(ticker.Environment).toEqual(processor.Environment);
    expect(ticker).toMatchObject({ Handler: 'index.handler', Runtime: 'nodejs24.x' });
    expect(ticker.Role).not.toEqual(processor.Role);
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [tickerId, 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 },
        }),
      ],
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [tickerId, 'Arn'] },
      Principal: 'events.amazonaws.com',
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: tickerId },
      MaximumRetryAttempts: 0,
    });
    // The ticker's role: the stores, as the processor's; no Kafka.
    const policies = template.findResources('AWS::IAM::Policy') as Record<
      string,
      {
        Properties: {
          Roles: { Ref: string }[];
          PolicyDocument: { Statement: { Action: string | string[] }[] };
        };
      }
    >;
    const tickerPolicy = Object.values(policies).find((p) =>
      p.Properties.Roles.some((r) => r.Ref.startsWith('JobTickerRole')),
    )!;
    const actions = tickerPolicy.Properties.PolicyDocument.Statement.flatMap((st) => [st.Action].flat());
    expect(actions).toEqual(
      expect.arrayContaining([
        'dynamodb:PutItem',
        's3:GetObject',
        's3:PutObject',
        's3:ListBucket',
        'logs:PutLogEvents',
      ]),
    );
    expect(actions.filter((a) => a.startsWith('kafka'))).toEqual([]);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Errors',
      Namespace: 'AWS/Lambda',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: tickerId } }],
      Threshold: 1,
    });
    template.resourceCountIs('AWS::CloudWatch::Alarm', 8);
    expect(Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('ticker'))).toEqual([]);
    expect(nagViolations(nag)).toEqual([]);
  });

  it('takes a schedule, and can be turned off whatever the job says', () => {
    const custom = synth(plainJob({ jobFile: IDLE_JOB, ticker: { schedule: Duration.minutes(5) } })).template;
    custom.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(5 minutes)' });
    const off = synth(plainJob({ jobFile: IDLE_JOB, ticker: { enabled: false } }));
    off.template.resourceCountIs('AWS::Lambda::Function', 1);
    off.template.resourceCountIs('AWS::Events::Rule', 0);
  });
});
