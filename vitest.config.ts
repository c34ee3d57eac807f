import { defineConfig } from 'vitest/config';

// Two cores on CI: at most two test files at a time; integration tests start real processes
// (jupyterhub-singleuser, JupyterHub, CHP) and get generous timeouts.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    minWorkers: 1,
    reporters: ['default'],
  },
});
