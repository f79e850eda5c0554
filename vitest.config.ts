import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    // The WASM core is one instance per process (per test file); tests in a file run in order.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
