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
  /** Processing time minus the job watermark at the end of a batch, in milliseconds. */
  watermarkLagMs: 'WatermarkLagMs',
  /** Records late for every window they belong to (they go to the `_late` table). */
  lateRecords: 'LateRecords',
  /** Records that could not be decoded or processed (they go to the `_dead_letters` table). */
  deadLetters: 'DeadLetters',
  /** Requests made to DynamoDB and S3 by a batch. */
  storeRequests: 'StoreRequests',
  /** From the start of a batch to its commit and publish, in milliseconds. */
  commitLatencyMs: 'CommitLatencyMs',
} as const;

export type FloeMetricName = Exclude<keyof typeof FloeMetrics, 'namespace' | 'jobDimension'>;
