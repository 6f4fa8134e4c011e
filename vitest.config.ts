import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'runtime/**/*.test.ts',
      'adapters/**/*.test.ts',
      'functions/**/*.test.ts',
      'cli/**/*.test.ts',
      'examples/**/*.test.ts',
      'test/**/*.test.ts',
    ],
    testTimeout: 60_000,
  },
});
