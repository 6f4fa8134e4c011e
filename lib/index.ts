/** CDK constructs for Floe jobs (`floe/cdk`). Needs aws-cdk-lib and constructs in the app. */
export { FloeMetrics } from '../functions/metric-names.ts';
export {
  type FloeCheckpointCompression,
  type FloeDelivery,
  FloeEnvironment,
  FloeJob,
  type FloeJobProps,
  type FloeKafkaSource,
  type FloeLogLevel,
  type FloeOnFailure,
  type FloeTickerProps,
  type KafkaAuthentication,
  type MskAuthentication,
  type MskSource,
  type ProvisionedPollers,
  type SelfManagedKafkaSource,
} from './floe-job.ts';
export {
  type FloeAuthKind,
  FloeJobStack,
  type FloeJobStackProps,
  type FloeSourceKind,
} from './floe-job-stack.ts';
