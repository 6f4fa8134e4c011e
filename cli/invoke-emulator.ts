import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { toJson } from '../runtime/output-json.ts';
import type { KafkaEvent } from '../runtime/source/kafka-event.ts';
import { bundleJobHandler } from './bundle.ts';
import { jsonLogLines, startEmulator } from './lambda-emulator.ts';

export interface EmulatorInvokeOptions {
  readonly jobPath: string;
  readonly event: KafkaEvent;
  /** The run directory the function's stores use (FLOE_RUN_DIR). */
  readonly dir: string;
  readonly json: boolean;
}

/**
 * `floe invoke --emulator`: the job's handler bundled as a deployment bundles it (cli/bundle.ts),
 * run by Lambda's Runtime Interface Emulator through the Runtime API, invoked once over HTTP.
 * Prints the handler's response and the function's logs. Same stores as `floe invoke` (the run
 * directory), so invoking again is a redelivery.
 */
export async function invokeInEmulator(
  options: EmulatorInvokeOptions,
  out: (text: string) => void,
): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), 'floe-lambda-'));
  try {
    const bundle = await bundleJobHandler(options.jobPath, join(scratch, 'handler.mjs'));
    const emulator = await startEmulator({
      bundle: bundle.outfile,
      env: { FLOE_RUN_DIR: resolve(options.dir) },
    });
    try {
      const result = await emulator.invoke(options.event);
      if (options.json) {
        out(
          toJson({
            dir: options.dir,
            bundleBytes: bundle.bytes,
            initMs: emulator.initMs,
            failed: result.failed,
            response: result.body,
            logs: jsonLogLines(result.logs),
          }),
        );
      } else {
        out(`Bundle: ${bundle.bytes} bytes; run directory: ${options.dir}`);
        out(`\nLogs:\n${result.logs.trimEnd()}`);
        const init = emulator.initMs === undefined ? '' : ` (init ${emulator.initMs.toFixed(0)} ms)`;
        out(`\nResponse${init}, ${result.ms.toFixed(0)} ms:\n${JSON.stringify(result.body, null, 2)}`);
      }
      if (result.failed) process.exitCode = 1;
    } finally {
      await emulator.stop();
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
