import { defineConfig } from 'vitest/config';

// Unit tests live beside the code in `src/`; e2e tests (root, runc, CNI, a registry)
// live in `e2e/`. e2e files share host resources (cgroups, iptables, the registry),
// so they run one file at a time.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'e2e/**/*.e2e.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    pool: 'forks',
  },
});
