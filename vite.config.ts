import { defineConfig } from 'vitest/config';
import ClosingLineReporter from './test/support/closing-line-reporter.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start servers and child processes; separate processes keep them apart.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default', new ClosingLineReporter()],
  },
});
