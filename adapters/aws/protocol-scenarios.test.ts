/**
 * The scenarios of runtime/checkpoint/checkpointed-processor.test.ts (test/support/protocol-scenarios.ts)
 * on the AWS stores as a deployment assembles them (awsCheckpointStores), against moto and
 * versitygw: redelivered, overlapping and re-split batches, two invocations racing on one
 * partition, a zombie whose head write lands late, and one that wakes up after cleanup fenced its
 * attempt. Each asserts what the local suite asserts (the brute-force reference's rows, no row
 * twice), and then that the tables equal a clean run's on the local stores.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { ExampleName } from '../../examples/index.ts';
import { awsLocations } from '../../test/support/aws-locations.ts';
import { cleanRun, tablesOf, type Workload } from '../../test/support/checkpoint-runs.ts';
import {
  overlappingBatch,
  racingInvocations,
  recutRedelivery,
  redeliveredBatch,
  type ScenarioRun,
  zombieAfterCleanup,
  zombieHeadWrite,
} from '../../test/support/protocol-scenarios.ts';
import type { StoreFactory } from '../../test/support/store-locations.ts';

const aws = awsLocations();
afterAll(() => aws.cleanup());

type Scenario = (name: ExampleName, stores: StoreFactory) => Promise<ScenarioRun>;

const SCENARIOS: readonly { what: string; run: Scenario }[] = [
  { what: 'a redelivered batch commits nothing and changes no table, warm or cold', run: redeliveredBatch },
  {
    what: 'an overlapping batch (offsets 0-49, then 25-74) commits only the records after 49',
    run: overlappingBatch,
  },
  {
    what: 'a redelivery cut into different batches than the first delivery gives the same tables',
    run: recutRedelivery,
  },
  {
    what: 'two invocations racing with the same and with overlapping events write every row once',
    run: racingInvocations,
  },
  {
    what: 'a zombie whose head write comes after a newer commit fails its condition, reloads and skips',
    run: zombieHeadWrite,
  },
  {
    what: 'a zombie that wakes up after cleanup fenced its attempt fails its head write and commits again',
    run: zombieAfterCleanup,
  },
];

const EXAMPLES: readonly { name: ExampleName; scope: string }[] = [
  { name: 'bids-per-auction', scope: 'a commit group per partition' },
  { name: 'max-price', scope: 'one job group' },
];

describe.each(EXAMPLES)('$name ($scope) on the AWS stores', ({ name }) => {
  /** The local clean run's tables, per workload (the scenarios use the default one). */
  const clean = new Map<Workload, Promise<Record<string, string[]>>>();
  const cleanTables = (w: Workload) => {
    if (!clean.has(w))
      clean.set(
        w,
        cleanRun(name, w).then(({ dir }) => tablesOf(dir)),
      );
    return clean.get(w)!;
  };

  for (const { what, run } of SCENARIOS) {
    it(what, async () => {
      const { location, workload } = await run(name, aws.factory);
      expect(await tablesOf(location.open())).toEqual(await cleanTables(workload));
    });
  }
});
