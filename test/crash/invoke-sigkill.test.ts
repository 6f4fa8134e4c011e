/**
 * Crash tests with real processes for partition logs: `floe invoke` runs a job whose windows merge
 * partitions as the deployed handler does (each partition's batch appended to its log, then the
 * logs consumed under the lease). One loop per partition delivers that partition's batches in
 * order, as the event source mapping does, all partitions at once; invocations are killed with
 * SIGKILL at random moments and the same batch is delivered again until one completes. A killed
 * consumer leaves its lease behind, so later invocations only append until it lapses. At the end
 * a drain consumes what is left, and the tables must hold the reference rows, each once.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { localCheckpointStores } from '../../adapters/local/run-directory.ts';
import { mulberry32 } from '../../runtime/seeded-random.ts';
import { processorFor, workload } from '../support/checkpoint-runs.ts';
import { removeScratch } from '../support/cleanup.ts';
import { floeOrKill } from '../support/kill.ts';
import { expectExactlyOnce, LOGS, partitionEvents } from '../support/log-scenarios.ts';
import { localLocation } from '../support/store-locations.ts';

/** The share of invocations killed, at a random moment within KILL_WINDOW_MS of their start. */
const KILL_SHARE = 0.5;
const KILL_WINDOW_MS = 2_500;

const scratch = mkdtempSync(join(tmpdir(), 'floe-invoke-crash-'));
afterAll(() => removeScratch(scratch));

describe.each(['max-price', 'bidder-sessions'] as const)(
  'floe invoke %s through partition logs, one process per partition at once, killed with SIGKILL',
  (name) => {
    it('redelivering every killed batch ends with the reference rows, each once', async () => {
      const random = mulberry32(name.length * 31);
      const w = workload({ count: 270, batchSize: 30, partitions: 3 });
      const dir = join(scratch, name);
      const perPartition = partitionEvents(w).map((events, p) =>
        events.map((event, k) => {
          const file = join(scratch, `${name}-p${p}-${k}.json`);
          writeFileSync(file, JSON.stringify(event));
          return file;
        }),
      );
      let kills = 0;
      await Promise.all(
        perPartition.map(async (files) => {
          for (const file of files) {
            for (let tries = 1; ; tries++) {
              const kill = tries <= 3 && random() < KILL_SHARE ? random() * KILL_WINDOW_MS : undefined;
              const args = ['invoke', join('examples', `${name}.ts`), '--event', file, '--dir', dir];
              const outcome = await floeOrKill([...args, '--no-typecheck', '--json'], kill);
              if (outcome.killed) {
                kills++;
                continue;
              }
              expect(outcome.code, outcome.stderr).toBe(0);
              break;
            }
          }
        }),
      );
      expect(kills).toBeGreaterThan(0);
      // The end of the input: whoever holds the lease, everything appended is consumed.
      await processorFor(name, localCheckpointStores(dir), w, LOGS).drain();
      await expectExactlyOnce(name, localLocation(dir), w);
    });
  },
);
