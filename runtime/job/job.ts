import type { JobPlan } from './plan.ts';

/**
 * A complete job: source, event time, windows and table. One definition serves the Lambda
 * handler, `floe invoke` and the local runner.
 *
 * @typeParam Row - the rows the job writes to its table.
 */
export class Job<Row> {
  declare private readonly rowType?: Row;

  private constructor(readonly plan: JobPlan) {}

  /** @internal Built by ResultStream.sinkTo. */
  static fromPlan<Row>(plan: JobPlan): Job<Row> {
    return new Job<Row>(plan);
  }

  get name(): string {
    return this.plan.name;
  }

  toString(): string {
    const { plan } = this;
    const key = plan.keySelector
      ? `keyBy(${plan.scope === 'partition' ? 'Kafka key' : 'field'})`
      : 'windowAll';
    return `Job(${plan.name}: ${plan.source.value} -> ${plan.watermarks.description} -> ${key} -> ${plan.assigner} -> ${plan.table.name})`;
  }
}
