/**
 * Scratch folders for tests, removed when their test file ends (./scratch-setup.ts, a vitest
 * setup file, adds the afterAll hook to every file). A suite run creates thousands of run
 * directories; left behind they filled /dev/shm, which is memory, by gigabytes.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeScratch } from './cleanup.ts';

const created = new Set<string>();

/** A new empty folder under the OS temp folder, removed after the calling test file. */
export function scratchDir(label = 'floe-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), label));
  created.add(dir);
  return dir;
}

/** Like {@link scratchDir}, on /dev/shm when there is one: checkpoint runs fsync a lot. */
export function scratchRunDir(label = 'floe-checkpoint-'): string {
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), label));
  created.add(dir);
  return dir;
}

/** Ends the file's tracked children and removes every folder made with this module. */
export async function removeScratchDirs(): Promise<void> {
  const dirs = [...created];
  created.clear();
  // Children first (removeScratch stops them), so no writer recreates a folder being removed.
  await removeScratch(undefined);
  await Promise.all(dirs.map((dir) => removeScratch(dir)));
}
