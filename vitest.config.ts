import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // The repository's own files import `floe` by self-reference; the `floe-source` condition
  // resolves it to the TypeScript sources rather than dist/ (package.json "exports").
  ssr: { resolve: { conditions: ['floe-source', ...defaultServerConditions] } },
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
