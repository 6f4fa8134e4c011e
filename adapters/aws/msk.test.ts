/**
 * The MSK control plane against moto (AWS_ENDPOINT_URL_KAFKA = the DynamoDB server): moto serves
 * CreateClusterV2 and DescribeClusterV2 (its clusters stay CREATING); it has no
 * GetBootstrapBrokers, whose answers are stubbed at the HTTP handler (test/local-aws/msk-stub.ts),
 * as are ACTIVE and the errors.
 */
import { describe, expect, it } from 'vitest';
import { FloeConfigError } from '../../runtime/errors.ts';
import { createMotoCluster, localMskEndpoint, stubbedMskClient } from '../../test/local-aws/msk-stub.ts';
import {
  bootstrapBrokers,
  createMskClient,
  describeListeners,
  describeMskCluster,
  mskListeners,
  parseClusterArn,
} from './msk.ts';

const LISTENERS = {
  bootstrapBrokerStringSaslIam:
    'b-1.c.kafka.eu-west-1.amazonaws.com:9098,b-2.c.kafka.eu-west-1.amazonaws.com:9098',
  bootstrapBrokerStringTls:
    'b-1.c.kafka.eu-west-1.amazonaws.com:9094,b-2.c.kafka.eu-west-1.amazonaws.com:9094',
  bootstrapBrokerStringPublicSaslIam: 'b-1-public.c.kafka.eu-west-1.amazonaws.com:9198',
};

describe('MSK cluster ARNs', () => {
  it('takes provisioned and serverless ARNs, and names the region', () => {
    expect(parseClusterArn('arn:aws:kafka:eu-west-1:123456789012:cluster/prod/abc-1')).toMatchObject({
      region: 'eu-west-1',
      account: '123456789012',
      partition: 'aws',
    });
    expect(parseClusterArn('arn:aws:kafka:us-east-1:123456789012:cluster/9f1c1a3e').region).toBe('us-east-1');
    expect(parseClusterArn('arn:aws-cn:kafka:cn-north-1:123456789012:serverless-cluster/x/y').partition).toBe(
      'aws-cn',
    );
  });

  it('refuses anything else with the expected form', () => {
    for (const bad of ['b-1:9092', 'arn:aws:s3:::bucket', 'arn:aws:kafka:eu-west-1:123:cluster/x']) {
      expect(() => parseClusterArn(bad)).toThrow(
        /is not an MSK cluster ARN: expected arn:aws:kafka:<region>/,
      );
    }
  });

  it('the client sends to AWS_ENDPOINT_URL_KAFKA', async () => {
    const endpoint = localMskEndpoint();
    const resolved = await createMskClient({ region: 'us-east-1' }).config.endpoint!();
    expect(`${resolved.protocol}//${resolved.hostname}:${resolved.port}`).toBe(endpoint);
  });
});

describe('DescribeClusterV2 on moto', () => {
  it("reads the cluster's name, state, type and size", async () => {
    const arn = await createMotoCluster('floe-msk-describe');
    expect(await describeMskCluster(arn, { client: stubbedMskClient() })).toEqual({
      name: 'floe-msk-describe',
      state: 'CREATING',
      type: 'PROVISIONED',
      kafkaVersion: '3.9.x',
      brokerNodes: 3,
    });
    const active = stubbedMskClient({ clusterInfo: { state: 'ACTIVE' } });
    expect((await describeMskCluster(arn, { client: active })).state).toBe('ACTIVE');
  });

  it('a missing cluster and denied access are one line each, with what to do', async () => {
    const arn = 'arn:aws:kafka:us-east-1:123456789012:cluster/gone/abc';
    const missing = stubbedMskClient({ error: { status: 404, type: 'NotFoundException' } });
    await expect(describeMskCluster(arn, { client: missing })).rejects.toThrow(
      new FloeConfigError(
        `The MSK cluster ${arn} does not exist (or not in region us-east-1 of this account): check the ARN.`,
      ),
    );
    const denied = stubbedMskClient({ error: { status: 403, type: 'ForbiddenException' } });
    await expect(mskListeners(arn, { client: denied })).rejects.toThrow(
      /read its bootstrap brokers \(kafka:GetBootstrapBrokers\).*access denied.*Allow kafka:DescribeClusterV2 and kafka:GetBootstrapBrokers/,
    );
  });
});

describe('GetBootstrapBrokers (stubbed: moto has none)', () => {
  const arn = 'arn:aws:kafka:us-east-1:123456789012:cluster/prod/abc-1';
  const client = stubbedMskClient({ bootstrapBrokers: LISTENERS });

  it('lists the listeners by authentication kind', async () => {
    const listeners = await mskListeners(arn, { client });
    expect(listeners.brokers).toEqual({
      iam: LISTENERS.bootstrapBrokerStringSaslIam,
      tls: LISTENERS.bootstrapBrokerStringTls,
    });
    expect(describeListeners(listeners)).toBe('IAM (2 brokers), TLS (2 brokers)');
    const publicOnes = await mskListeners(arn, { client, publicAccess: true });
    expect(publicOnes.brokers).toEqual({ iam: LISTENERS.bootstrapBrokerStringPublicSaslIam });
  });

  it('picks the first listener of the wanted kinds', async () => {
    expect(await bootstrapBrokers(arn, 'iam', { client })).toEqual({
      auth: 'iam',
      brokers: LISTENERS.bootstrapBrokerStringSaslIam,
    });
    expect(await bootstrapBrokers(arn, ['sasl-scram', 'tls', 'iam'], { client })).toEqual({
      auth: 'tls',
      brokers: LISTENERS.bootstrapBrokerStringTls,
    });
  });

  it('a cluster without the wanted kind says which it has', async () => {
    await expect(bootstrapBrokers(arn, ['plaintext', 'sasl-scram'], { client })).rejects.toThrow(
      `The MSK cluster ${arn} has no plaintext or SASL/SCRAM listener; it has: IAM (2 brokers), TLS (2 brokers).`,
    );
    const none = stubbedMskClient({ bootstrapBrokers: {} });
    await expect(bootstrapBrokers(arn, 'iam', { client: none })).rejects.toThrow(/it has: none\./);
  });
});
