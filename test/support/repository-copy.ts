/**
 * A copy of this repository's files (tracked, and new ones not ignored) in a temporary folder,
 * with node_modules linked: for tests that must run commands as a user would in a checkout of
 * their own (`npm start` with its default folders, `npm pack` with its prepack build) without
 * touching this checkout.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

export const REPOSITORY = join(import.meta.dirname, '..', '..');

export async function copyOfRepository(into: string): Promise<string> {
  const { stdout } = await promisify(execFile)('git', ['ls-files', '-co', '--exclude-standard', '-z'], {
    cwd: REPOSITORY,
    maxBuffer: 64 * 1024 * 1024,
  });
  for (const file of stdout.split('\0').filter((f) => f !== '')) {
    mkdirSync(dirname(join(into, file)), { recursive: true });
    cpSync(join(REPOSITORY, file), join(into, file));
  }
  symlinkSync(join(REPOSITORY, 'node_modules'), join(into, 'node_modules'));
  return into;
}

/**
 * The environment of a child `npm`: without the npm_* variables of an enclosing `npm test` (npm
 * reads them as its config) and this vitest's own, with plain output.
 */
export function npmEnvironment(): NodeJS.ProcessEnv {
  return {
    ...Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !/^(npm_|vitest|force_color)/i.test(name)),
    ),
    NO_COLOR: '1',
  };
}
