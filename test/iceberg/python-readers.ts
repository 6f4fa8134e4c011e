/**
 * The independent readers' Python: the project-local venv that scripts/setup-pyiceberg.sh builds
 * (pinned pyiceberg, pyarrow, DuckDB). Shared by the test files that read tables with it.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const PYTHON = join(ROOT, '.venv-iceberg', 'bin', 'python');

/**
 * Creates the venv if needed (idempotent, locked against parallel test files). Throws, never
 * skips: a machine that cannot build it must fail the Iceberg reader tests, not pass them.
 */
export function setUpPyiceberg(): void {
  const setup = spawnSync('bash', [join(ROOT, 'scripts', 'setup-pyiceberg.sh')], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (setup.status !== 0) {
    throw new Error(
      `scripts/setup-pyiceberg.sh failed (exit ${setup.status}); the Iceberg reader tests need it. Run it by hand to see why (Python >= 3.10 with venv, and access to PyPI).`,
    );
  }
}
