import { availableParallelism } from 'node:os';
import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // The repository's own files import `floe` by self-reference; the `floe-source` condition
  // resolves it to the TypeScript sources rather than dist/ (package.json "exports").
  // Vite's default server conditions start with 'module', which picks the AWS SDK's bundler-only
  // `dist-es` build (extensionless imports that Node cannot load); Node's own resolution does not.
  ssr: {
    resolve: { conditions: ['floe-source', ...defaultServerConditions.filter((c) => c !== 'module')] },
  },
  test: {
    include: [
      'runtime/**/*.test.ts',
      'adapters/**/*.test.ts',
      'functions/**/*.test.ts',
      'cli/**/*.test.ts',
      'examples/**/*.test.ts',
      'test/**/*.test.ts',
      'lib/**/*.test.ts',
      'bench/**/*.test.ts',
    ],
    // Each test file in its own child process. Vitest's default of one worker per core minus one
    // gives a single worker on 2 cores; the heavy files spend much of their time waiting on
    // child processes (`floe run`, racing writers, Python readers), so two workers finish them
    // sooner: the crash, fault-injection and `floe run` tests took 115 s with 2 workers against
    // 131 s with 1 on a loaded 2-core machine.
    pool: 'forks',
    maxWorkers: Math.max(2, availableParallelism() - 1),
    // Limits that catch a hung test, not a slow machine. The slowest test took 10 s at a load
    // average of 2 and 17 s at 8-13 (2 cores); test/iceberg/examples.test.ts, whose beforeAll runs
    // every example job and the Python readers, took 45 s after its venv setup at a load of 17.
    // Under load the whole suite has run 4 times slower than in CI. The hooks that create the
    // Python venv set their own, longer limit (pip downloads).
    testTimeout: 300_000,
    hookTimeout: 300_000,
    teardownTimeout: 60_000,
    // Local DynamoDB/Glue (moto) and S3 (versitygw) servers for the run: scripts/local-aws; and a
    // Kafka broker (scripts/local-kafka), started only when a test asks for it.
    globalSetup: ['test/support/local-aws-setup.ts', 'test/support/local-kafka-setup.ts'],
    setupFiles: ['test/support/scratch-setup.ts'],
  },
});
