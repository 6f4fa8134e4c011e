/**
 * Real processes killed at a chosen moment, for the crash tests (test/crash/): runs the `floe`
 * command and kills it with SIGKILL after a delay, unless it ended first.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { track } from './cleanup.ts';

const PROJECT = join(import.meta.dirname, '..', '..');
const FLOE = join(PROJECT, 'bin', 'floe.js');

export interface KillOutcome {
  /** True when SIGKILL ended it; false when it exited by itself. */
  readonly killed: boolean;
  readonly code: number | null;
  readonly stderr: string;
}

/** Runs `floe ...args` from the project root; kills it with SIGKILL after `killAfterMs` (never when undefined). */
export function floeOrKill(args: readonly string[], killAfterMs: number | undefined): Promise<KillOutcome> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = track(
      spawn(process.execPath, [FLOE, ...args], { cwd: PROJECT, stdio: ['ignore', 'ignore', 'pipe'] }),
    );
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    let killed = false;
    const timer =
      killAfterMs === undefined
        ? undefined
        : setTimeout(() => {
            killed = child.kill('SIGKILL');
          }, killAfterMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ killed: killed && code === null, code, stderr });
    });
  });
}
