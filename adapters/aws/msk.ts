/**
 * The Amazon MSK control plane (the `kafka` API of @aws-sdk/client-kafka), for what the CLI needs
 * of a cluster named by its ARN: its bootstrap brokers (GetBootstrapBrokers), one listener per
 * authentication kind, and its state and settings for `floe doctor` (DescribeClusterV2). The
 * client's endpoint is the SDK's: `AWS_ENDPOINT_URL_KAFKA`, else `AWS_ENDPOINT_URL`, else the
 * region's, and the region is the cluster's (from its ARN).
 *
 * The Kafka protocol itself (topics, records) is cli/kafka-client.ts, over @platformatic/kafka.
 */
import {
  type Cluster,
  DescribeClusterV2Command,
  GetBootstrapBrokersCommand,
  type GetBootstrapBrokersResponse,
  KafkaClient as MskClient,
  type KafkaClientConfig as MskClientConfig,
} from '@aws-sdk/client-kafka';
import { FloeConfigError } from '../../runtime/errors.ts';
import { awsErrorName } from './dynamodb-client.ts';

export { MskClient };

/** How a client authenticates to the brokers; MSK serves each kind on its own port. */
export type MskAuth = 'iam' | 'sasl-scram' | 'tls' | 'plaintext';

export const MSK_AUTH_KINDS: readonly MskAuth[] = ['iam', 'sasl-scram', 'tls', 'plaintext'];

const AUTH_NAMES: Readonly<Record<MskAuth, string>> = {
  iam: 'IAM',
  'sasl-scram': 'SASL/SCRAM',
  tls: 'TLS',
  plaintext: 'plaintext',
};

/** The parts of an MSK cluster ARN. */
export interface MskClusterArn {
  readonly arn: string;
  readonly partition: string;
  readonly region: string;
  readonly account: string;
}

/**
 * Checks an MSK cluster ARN (`arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>`, provisioned
 * or serverless) and returns its parts.
 */
export function parseClusterArn(arn: string): MskClusterArn {
  const match = /^arn:(aws[a-z-]*):kafka:([a-z0-9-]+):(\d{12}):(?:serverless-)?cluster\/\S+$/.exec(arn);
  if (match === null) {
    throw new FloeConfigError(
      `"${arn}" is not an MSK cluster ARN: expected arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid> (the cluster's ARN in the MSK console or \`aws kafka list-clusters-v2\`).`,
    );
  }
  return { arn, partition: match[1]!, region: match[2]!, account: match[3]! };
}

export interface MskClientOptions {
  /** @default - `AWS_ENDPOINT_URL_KAFKA`, else `AWS_ENDPOINT_URL`, else the AWS endpoint of the region */
  readonly endpoint?: string;
  /** @default - the region of the cluster's ARN, else `AWS_REGION` */
  readonly region?: string;
  /** Tries per call, the first included. @default 3 */
  readonly maxAttempts?: number;
}

/** An MSK control-plane client, in the cluster's region when given its ARN. */
export function createMskClient(options: MskClientOptions = {}): MskClient {
  const endpoint = options.endpoint ?? (process.env.AWS_ENDPOINT_URL_KAFKA || process.env.AWS_ENDPOINT_URL);
  const config: MskClientConfig = {
    maxAttempts: options.maxAttempts ?? 3,
    retryMode: 'standard',
    requestHandler: { requestTimeout: 10_000, connectionTimeout: 5_000 },
  };
  if (endpoint !== undefined && endpoint !== '') config.endpoint = endpoint;
  if (options.region !== undefined) config.region = options.region;
  return new MskClient(config);
}

/** The client for a cluster: the one given, else one in the cluster's region. */
function clientFor(cluster: MskClusterArn, client: MskClient | undefined): MskClient {
  return client ?? createMskClient({ region: cluster.region });
}

export interface MskListeners {
  /** The bootstrap brokers (`host:port,...`) of each authentication kind the cluster serves. */
  readonly brokers: Partial<Record<MskAuth, string>>;
}

export interface BootstrapOptions {
  readonly client?: MskClient;
  /** The public endpoints (public access turned on for the cluster) instead of those in its VPC. @default false */
  readonly publicAccess?: boolean;
}

/** GetBootstrapBrokers: each listener of the cluster, by authentication kind. */
export async function mskListeners(arn: string, options: BootstrapOptions = {}): Promise<MskListeners> {
  const cluster = parseClusterArn(arn);
  let response: GetBootstrapBrokersResponse;
  try {
    response = await clientFor(cluster, options.client).send(
      new GetBootstrapBrokersCommand({ ClusterArn: arn }),
    );
  } catch (error) {
    throw mskFailure(arn, 'read its bootstrap brokers (kafka:GetBootstrapBrokers)', error);
  }
  const r = response;
  const kinds: Record<MskAuth, string | undefined> = options.publicAccess
    ? {
        iam: r.BootstrapBrokerStringPublicSaslIam,
        'sasl-scram': r.BootstrapBrokerStringPublicSaslScram,
        tls: r.BootstrapBrokerStringPublicTls,
        plaintext: undefined,
      }
    : {
        iam: r.BootstrapBrokerStringSaslIam,
        'sasl-scram': r.BootstrapBrokerStringSaslScram,
        tls: r.BootstrapBrokerStringTls,
        plaintext: r.BootstrapBrokerString,
      };
  const brokers: Partial<Record<MskAuth, string>> = {};
  for (const kind of MSK_AUTH_KINDS) {
    const value = kinds[kind]?.trim();
    if (value !== undefined && value !== '') brokers[kind] = value;
  }
  return { brokers };
}

/** "IAM (3 brokers), TLS (3 brokers)", or "none". */
export function describeListeners(listeners: MskListeners): string {
  const parts = MSK_AUTH_KINDS.flatMap((kind) => {
    const list = listeners.brokers[kind];
    if (list === undefined) return [];
    const n = list.split(',').length;
    return [`${AUTH_NAMES[kind]} (${n} broker${n === 1 ? '' : 's'})`];
  });
  return parts.length === 0 ? 'none' : parts.join(', ');
}

/**
 * The bootstrap brokers of the first listener of the wanted kinds, in the order given. A cluster
 * with none of them is an {@link MskListenerError} naming those it has.
 */
export async function bootstrapBrokers(
  arn: string,
  wanted: MskAuth | readonly MskAuth[],
  options: BootstrapOptions = {},
): Promise<{ readonly auth: MskAuth; readonly brokers: string }> {
  const kinds = typeof wanted === 'string' ? [wanted] : wanted;
  const listeners = await mskListeners(arn, options);
  for (const kind of kinds) {
    const brokers = listeners.brokers[kind];
    if (brokers !== undefined) return { auth: kind, brokers };
  }
  throw new MskListenerError(arn, kinds, listeners, options.publicAccess === true);
}

/** The cluster has no listener of the authentication kinds asked for. */
export class MskListenerError extends FloeConfigError {
  constructor(
    readonly clusterArn: string,
    readonly wanted: readonly MskAuth[],
    readonly listeners: MskListeners,
    publicAccess: boolean,
  ) {
    const names = wanted.map((k) => AUTH_NAMES[k]).join(' or ');
    super(
      `The MSK cluster ${clusterArn} has no ${names} listener${publicAccess ? ' with public access' : ''}; it has: ${describeListeners(listeners)}. Turn that authentication on for the cluster (MSK console → the cluster → Properties → Security settings), or pick one it has.`,
    );
    this.name = 'MskListenerError';
  }
}

/** What `floe doctor` reports of a cluster. */
export interface MskClusterSummary {
  readonly name: string;
  /** ACTIVE, CREATING, UPDATING, DELETING, FAILED, HEALING, MAINTENANCE, REBOOTING_BROKER. */
  readonly state: string;
  readonly type: 'PROVISIONED' | 'SERVERLESS' | string;
  readonly kafkaVersion: string | undefined;
  readonly brokerNodes: number | undefined;
}

/** DescribeClusterV2: the cluster's state, type and size (its listeners: {@link mskListeners}). */
export async function describeMskCluster(
  arn: string,
  options: { readonly client?: MskClient } = {},
): Promise<MskClusterSummary> {
  const cluster = parseClusterArn(arn);
  let info: Cluster | undefined;
  try {
    info = (await clientFor(cluster, options.client).send(new DescribeClusterV2Command({ ClusterArn: arn })))
      .ClusterInfo;
  } catch (error) {
    throw mskFailure(arn, 'describe it (kafka:DescribeClusterV2)', error);
  }
  if (info === undefined) throw new FloeConfigError(`MSK described no cluster for ${arn}.`);
  return {
    name: info.ClusterName ?? arn,
    state: info.State ?? 'UNKNOWN',
    type: info.ClusterType ?? (info.Serverless !== undefined ? 'SERVERLESS' : 'PROVISIONED'),
    kafkaVersion: info.Provisioned?.CurrentBrokerSoftwareInfo?.KafkaVersion,
    brokerNodes: info.Provisioned?.NumberOfBrokerNodes,
  };
}

/** A failed control-plane call as one line naming the cluster and what to do. */
function mskFailure(arn: string, action: string, error: unknown): Error {
  const name = awsErrorName(error);
  const reason = error instanceof Error ? error.message : String(error);
  if (name === 'NotFoundException') {
    return new FloeConfigError(
      `The MSK cluster ${arn} does not exist (or not in region ${parseClusterArn(arn).region} of this account): check the ARN.`,
      { cause: error },
    );
  }
  if (
    name === 'AccessDeniedException' ||
    name === 'ForbiddenException' ||
    name === 'UnauthorizedException' ||
    name === 'UnrecognizedClientException' ||
    name === 'InvalidSignatureException' ||
    name === 'ExpiredTokenException'
  ) {
    return new FloeConfigError(
      `Could not ${action} for the MSK cluster ${arn}: access denied (${name}: ${reason}). Allow kafka:DescribeClusterV2 and kafka:GetBootstrapBrokers on the cluster, and check the credentials.`,
      { cause: error },
    );
  }
  return new FloeConfigError(
    `Could not ${action} for the MSK cluster ${arn}: ${name ?? 'Error'}: ${reason}`,
    { cause: error },
  );
}
