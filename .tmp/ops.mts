import { runFleet } from '/work/wt/partition-logs/bench/fleet.ts';

for (const partitionLogs of [true, false]) {
  const r = await runFleet({
    example: 'max-price',
    partitions: 4,
    batchesPerPartition: 20,
    batchSize: 125,
    eventsPerSecond: 1000,
    intervalModelMs: 500,
    sim: { timeScale: 0.1 },
    check: false,
    partitionLogs,
  });
  console.log(partitionLogs ? 'logs' : 'head', 'invocations', r.invocations);
  for (const [op, v] of Object.entries(r.requests.operations))
    console.log('  ', op, (v as { requests: number }).requests);
}
