/**
 * Cold start of the bundled handler (`npm run bench -- --cold-start`): examples/bids-per-auction.ts
 * bundled as a deployment bundles it (cli/bundle.ts), its size and gzip size (what a zip upload
 * roughly costs), and its init time in Lambda's Runtime Interface Emulator: the INIT REPORT
 * duration the RIE logs (from starting the runtime to its first request for an invocation: Node
 * start, module load, job definition), and the time to the first response (init plus the first
 * batch: stores, first Parquet writes). Median over fresh emulators.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { bundleJobHandler } from '../cli/bundle.ts';
import { startEmulator } from '../cli/lambda-emulator.ts';

const ROOT = join(import.meta.dirname, '..');

export interface ColdStart {
  readonly bundleBytes: number;
  readonly bundleGzipBytes: number;
  /** Median INIT REPORT duration, ms. */
  readonly initMs: number;
  /** Median time from the first invoke's request to its response (init included), ms. */
  readonly firstResponseMs: number;
  readonly runs: number;
}

export async function measureColdStart(runs = 5): Promise<ColdStart> {
  const scratch = await mkdtemp(join(tmpdir(), 'floe-cold-start-'));
  try {
    const bundle = await bundleJobHandler(
      join(ROOT, 'examples', 'bids-per-auction.ts'),
      join(scratch, 'bundle', 'handler.mjs'),
    );
    const bundleGzipBytes = gzipSync(readFileSync(bundle.outfile)).length;
    const event = JSON.parse(readFileSync(join(ROOT, 'examples', 'events', 'msk-bids.json'), 'utf8'));
    const inits: number[] = [];
    const firsts: number[] = [];
    for (let run = 0; run < runs; run++) {
      const emulator = await startEmulator({
        bundle: bundle.outfile,
        env: { FLOE_RUN_DIR: join(scratch, `run-${run}`) },
      });
      try {
        const first = await emulator.invoke(event);
        if (first.failed) throw new Error(`The handler failed: ${JSON.stringify(first.body)}`);
        inits.push(emulator.initMs ?? Number.NaN);
        firsts.push(first.ms);
      } finally {
        await emulator.stop();
      }
    }
    return {
      bundleBytes: bundle.bytes,
      bundleGzipBytes,
      initMs: round(median(inits)),
      firstResponseMs: round(median(firsts)),
      runs,
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
