import { percentile, runFleet } from './fleet.ts';

for (const example of ['bids-per-auction', 'max-price'] as const) {
  for (const P of [1, 4]) {
    const r = await runFleet({ example, partitions: P, batchesPerPartition: 10, sim: { timeScale: 0.5 } });
    const { invocationModelMs, ioModelMs, requests, ...rest } = r;
    console.log(
      JSON.stringify({
        ...rest,
        req: requests.requests,
        p50: percentile(invocationModelMs, 50),
        p99: percentile(invocationModelMs, 99),
        io50: percentile(ioModelMs, 50),
        thr: r.records / (r.makespanModelMs / 1000),
      }),
    );
  }
}
