/**
 * `--cluster-arn <arn>`: the bootstrap brokers of an Amazon MSK cluster, from its control plane
 * (adapters/aws/msk.ts, GetBootstrapBrokers), for `floe run --kafka` and `floe doctor`. The AWS
 * SDK is loaded only when an ARN is given.
 *
 * The Kafka client of the CLI (cli/kafka-client.ts) speaks plaintext only: TLS, SASL/SCRAM and
 * IAM authentication are not implemented, so only a cluster's plaintext listener is usable here.
 * (A deployed job reads through Lambda's event source mapping, which authenticates itself.)
 */
import type { MskClient } from '../adapters/aws/msk.ts';
import { UsageError } from './usage-error.ts';

/** What floe's Kafka client cannot do yet, said wherever a listener of that kind is the only one. */
export const KAFKA_AUTH_NOT_IMPLEMENTED =
  "floe's Kafka client speaks plaintext only: TLS, SASL/SCRAM and IAM authentication are not implemented yet. Allow unauthenticated plaintext access on the cluster for this, or give --kafka brokers reachable in plaintext.";

/** The cluster's plaintext bootstrap brokers; a cluster without them is a UsageError naming what it has. */
export async function mskPlaintextBrokers(clusterArn: string, client?: MskClient): Promise<string> {
  const msk = await import('../adapters/aws/msk.ts');
  try {
    return (await msk.bootstrapBrokers(clusterArn, 'plaintext', client === undefined ? {} : { client }))
      .brokers;
  } catch (error) {
    if (error instanceof msk.MskListenerError) {
      throw new UsageError(
        `The MSK cluster ${clusterArn} has no plaintext listener (it has: ${msk.describeListeners(error.listeners)}). ${KAFKA_AUTH_NOT_IMPLEMENTED}`,
      );
    }
    throw error;
  }
}
