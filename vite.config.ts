import { svelte } from '@sveltejs/vite-plugin-svelte';
import { svelteTesting } from '@testing-library/svelte/vite';
import { defineConfig } from 'vitest/config';
import ClosingLineReporter from './test/support/closing-line-reporter.js';

const here = import.meta.dirname;

// One file for the renderer's build (src-renderer/ -> dist-renderer/, which `ferry ui` and the
// Electron shell serve) and for the tests: the engine's node tests and the renderer's component
// tests run as two vitest projects, since they need different environments (node vs jsdom).
export default defineConfig({
  root: `${here}/src-renderer`,
  // Relative asset URLs: the same build is served over HTTP (browser mode) and loaded from a file (Electron).
  base: './',
  plugins: [svelte()],
  build: { outDir: `${here}/dist-renderer`, emptyOutDir: true, target: 'es2022', rolldownOptions: { checks: { pluginTimings: false } } },
  test: {
    reporters: ['default', new ClosingLineReporter()],
    projects: [
      {
        test: {
          name: 'node',
          root: here,
          include: ['test/**/*.test.ts'],
          exclude: ['test/renderer/**'],
          // Integration tests start servers and child processes; separate processes keep them apart.
          pool: 'forks',
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        // Svelte's browser build, but every other package as Node resolves it: these tests talk to
        // a real `ferry ui` through jsdom's WebSocket, whose `ws` has only a stub under `browser`.
        plugins: [svelte(), svelteTesting({ resolveBrowser: false })],
        resolve: { alias: [{ find: /^svelte$/, replacement: `${here}/node_modules/svelte/src/index-client.js` }] },
        test: {
          name: 'renderer',
          root: here,
          include: ['test/renderer/**/*.test.ts'],
          environment: 'jsdom',
          setupFiles: ['test/renderer/setup.ts'],
          globalSetup: ['test/renderer/global-setup.ts'],
        },
      },
    ],
  },
});
