/**
 * CloudWatch embedded metric format (EMF): one JSON object per line on stdout, which CloudWatch
 * Logs turns into metrics of the log group's account and region. A handful of lines, instead of
 * a dependency (docs/design.md, "Dependencies").
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 */
import { FloeMetrics } from './metric-names.ts';

export type EmfUnit = 'Count' | 'Milliseconds';

export interface EmfMetric {
  readonly name: string;
  readonly unit: EmfUnit;
  readonly value: number;
}

/** Writes one EMF line; the default writes to stdout directly (not through Lambda's console, which prefixes lines). */
export type MetricsWriter = (line: string) => void;

export const stdoutMetrics: MetricsWriter = (line) => {
  process.stdout.write(`${line}\n`);
};

/**
 * One EMF object: the metrics under one namespace and one dimension set, as of `timestamp`
 * (milliseconds). Non-finite values are left out (EMF accepts only numbers). `properties` are
 * extra top-level fields, searchable in Logs Insights, not metrics.
 */
export function emfLine(input: {
  readonly namespace: string;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly metrics: readonly EmfMetric[];
  readonly timestamp: number;
  readonly properties?: Readonly<Record<string, string | number | boolean>>;
}): string {
  const metrics = input.metrics.filter((m) => Number.isFinite(m.value));
  const line: Record<string, unknown> = {
    _aws: {
      Timestamp: Math.round(input.timestamp),
      CloudWatchMetrics: [
        {
          Namespace: input.namespace,
          Dimensions: [Object.keys(input.dimensions)],
          Metrics: metrics.map((m) => ({ Name: m.name, Unit: m.unit })),
        },
      ],
    },
  };
  // Properties first: the dimension values and metric values win over a clashing name.
  Object.assign(line, input.properties, input.dimensions);
  for (const m of metrics) line[m.name] = m.value;
  return JSON.stringify(line);
}

/** What an invocation of the handler or the ticker reports. */
export interface InvocationMetrics {
  readonly records: number;
  readonly rows: number;
  readonly late: number;
  readonly deadLetters: number;
  /** The job watermark after the invocation. */
  readonly watermark: number;
  /** Processing time at the end of the invocation (the watermark lag is measured from it). */
  readonly now: number;
  /** The EMF timestamp. @default now */
  readonly timestamp?: number;
  /** Milliseconds of the invocation's commits; undefined when nothing committed. */
  readonly commitLatencyMs?: number;
  /** Store requests and round trips, when the stores are metered. */
  readonly store?: { readonly requests: number; readonly roundTrips: number };
}

/** The EMF line of one invocation of a job's handler or ticker, in namespace `Floe`, dimension `Job`. */
export function floeMetricsLine(
  job: string,
  m: InvocationMetrics,
  properties?: Readonly<Record<string, string>>,
): string {
  const count = (name: string, value: number): EmfMetric => ({ name, unit: 'Count', value });
  const ms = (name: string, value: number): EmfMetric => ({ name, unit: 'Milliseconds', value });
  const metrics = [
    count(FloeMetrics.records, m.records),
    count(FloeMetrics.rows, m.rows),
    count(FloeMetrics.lateRecords, m.late),
    count(FloeMetrics.deadLetters, m.deadLetters),
  ];
  // A watermark of ±Infinity (nothing read yet, or drained) has no lag: left out.
  if (Number.isFinite(m.watermark)) metrics.push(ms(FloeMetrics.watermarkLagMs, m.now - m.watermark));
  if (m.commitLatencyMs !== undefined) metrics.push(ms(FloeMetrics.commitLatencyMs, m.commitLatencyMs));
  if (m.store !== undefined) {
    metrics.push(count(FloeMetrics.storeRequests, m.store.requests));
    metrics.push(count(FloeMetrics.storeRoundTrips, m.store.roundTrips));
  }
  return emfLine({
    namespace: FloeMetrics.namespace,
    dimensions: { [FloeMetrics.jobDimension]: job },
    metrics,
    timestamp: m.timestamp ?? m.now,
    properties,
  });
}
