import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'runtime/**/*.test.ts',
      'functions/**/*.test.ts',
      'cli/**/*.test.ts',
      'examples/**/*.test.ts',
      'test/**/*.test.ts',
    ],
    testTimeout: 60_000,
    // Local DynamoDB/Glue (moto) and S3 (versitygw) servers for the run: scripts/local-aws.
    globalSetup: ['test/support/local-aws-setup.ts'],
  },
});
