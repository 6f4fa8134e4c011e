/**
 * An MSK control-plane client for tests: requests go to moto (AWS_ENDPOINT_URL_KAFKA, the same
 * server as DynamoDB), which serves CreateClusterV2 and DescribeClusterV2 but not
 * GetBootstrapBrokers, and whose clusters stay CREATING (scripts/local-aws-moto.py gives their
 * creation time the UTC offset the SDK needs). Answers that moto cannot give are stubbed
 * at the HTTP request handler: the SDK still serializes the request and deserializes the stubbed
 * response's JSON, as it would AWS's.
 */
import { CreateClusterV2Command, KafkaClient } from '@aws-sdk/client-kafka';
import { localAws } from '../support/local-aws.ts';

/** The answers to stub, by operation (the service's wire JSON, camelCase fields). */
export interface MskStubs {
  /** GET /v1/clusters/{arn}/bootstrap-brokers: e.g. `{ bootstrapBrokerString: '127.0.0.1:9092' }`. */
  readonly bootstrapBrokers?: Record<string, string>;
  /** Replaces fields of DescribeClusterV2's `clusterInfo` from moto, e.g. `{ state: 'ACTIVE' }`. */
  readonly clusterInfo?: Record<string, unknown>;
  /** Every request fails with this error, e.g. `{ status: 404, type: 'NotFoundException' }`. */
  readonly error?: { readonly status: number; readonly type: string };
}

type Handler = KafkaClient['config']['requestHandler'];
type HandlerArgs = Parameters<Handler['handle']>;

/** The moto endpoint, set as AWS_ENDPOINT_URL_KAFKA for clients the code under test creates. */
export function localMskEndpoint(): string {
  const endpoint = localAws().dynamodbEndpoint;
  process.env.AWS_ENDPOINT_URL_KAFKA = endpoint;
  return endpoint;
}

/** A client on moto whose answers `stubs` replaces. */
export function stubbedMskClient(stubs: MskStubs = {}): KafkaClient {
  const aws = localAws();
  const config = { endpoint: localMskEndpoint(), region: aws.region, credentials: aws.credentials };
  const real = new KafkaClient(config).config.requestHandler;
  const json = (body: unknown) => ({
    response: {
      statusCode: 200,
      headers: { 'content-type': 'application/json' },
      body: new TextEncoder().encode(JSON.stringify(body)),
    },
  });
  const handler = {
    async handle(request: HandlerArgs[0], options?: HandlerArgs[1]) {
      if (stubs.error !== undefined) {
        const { status, type } = stubs.error;
        return {
          response: {
            statusCode: status,
            headers: { 'content-type': 'application/json', 'x-amzn-errortype': type },
            body: new TextEncoder().encode(JSON.stringify({ message: `stubbed ${type}` })),
          },
        };
      }
      if (request.path.endsWith('/bootstrap-brokers')) {
        if (stubs.bootstrapBrokers === undefined)
          throw new Error('moto has no GetBootstrapBrokers: pass stubs.bootstrapBrokers');
        return json(stubs.bootstrapBrokers);
      }
      const answer = await real.handle(request, options);
      if (
        request.method === 'GET' &&
        request.path.includes('/api/v2/clusters/') &&
        answer.response.statusCode === 200
      ) {
        const chunks: Buffer[] = [];
        for await (const chunk of answer.response.body as AsyncIterable<Buffer>) chunks.push(chunk);
        const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { clusterInfo: object };
        const info = parsed.clusterInfo;
        return json({ clusterInfo: { ...info, ...stubs.clusterInfo } });
      }
      return answer;
    },
  } as unknown as Handler;
  return new KafkaClient({ ...config, requestHandler: handler });
}

/** Creates a provisioned cluster on moto (state CREATING there) and returns its ARN. */
export async function createMotoCluster(name: string): Promise<string> {
  const client = stubbedMskClient();
  const created = await client.send(
    new CreateClusterV2Command({
      ClusterName: name,
      Provisioned: {
        KafkaVersion: '3.9.x',
        NumberOfBrokerNodes: 3,
        BrokerNodeGroupInfo: {
          ClientSubnets: ['subnet-1', 'subnet-2', 'subnet-3'],
          InstanceType: 'kafka.m7g.large',
        },
      },
    }),
  );
  return created.ClusterArn!;
}
