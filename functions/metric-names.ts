/**
 * The names of Floe's own CloudWatch metrics, in one place: the handler emits them in the
 * embedded metric format (EMF) and the CDK construct (lib/floe-job.ts) builds its alarms and
 * dashboard from the same names. A pure module, so both sides import it without pulling anything in.
 */
export const FloeMetrics = {
  /** CloudWatch namespace of every Floe metric. */
  namespace: 'Floe',
  /** The one dimension: the job's name (`job('name')`). */
  jobDimension: 'Job',
  /** Records delivered to an invocation (redeliveries included; 0 for a tick). */
  records: 'Records',
  /** Rows an invocation wrote to the job's table. */
  rows: 'Rows',
  /** Wall clock minus the job watermark after an invocation, in milliseconds (when finite). */
  watermarkLagMs: 'WatermarkLagMs',
  /** Records late for every window they belong to (they go to the `_late` table). */
  lateRecords: 'LateRecords',
  /** Records that could not be decoded or processed (they go to the `_dead_letters` table). */
  deadLetters: 'DeadLetters',
  /** Requests made to DynamoDB and S3 by an invocation. */
  storeRequests: 'StoreRequests',
  /** Sequential waits on DynamoDB and S3 of an invocation (parallel requests share one). */
  storeRoundTrips: 'StoreRoundTrips',
  /** From the start of an invocation to its commits and publishes, in milliseconds (invocations that commit). */
  commitLatencyMs: 'CommitLatencyMs',
} as const;

export type FloeMetricName = Exclude<keyof typeof FloeMetrics, 'namespace' | 'jobDimension'>;
