import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { track } from './cleanup.ts';

const run = promisify(execFile);
const PROJECT = join(import.meta.dirname, '..', '..');
const FLOE = join(PROJECT, 'bin', 'floe.js');

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the real `floe` command in a child process, from the project root, and never throws. */
export async function floe(...args: string[]): Promise<CliResult> {
  return floeIn(PROJECT, ...args);
}

/** Runs the real `floe` command in a child process from the directory `cwd`, and never throws. */
export async function floeIn(cwd: string, ...args: string[]): Promise<CliResult> {
  try {
    const pending = run(process.execPath, [FLOE, ...args], { cwd });
    // Tracked, so that a test file's cleanup can end a run its timed-out test left behind.
    track(pending.child);
    const { stdout, stderr } = await pending;
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
