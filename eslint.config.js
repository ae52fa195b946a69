// Lint = typescript-eslint's strict type-checked rules + the layer table and file-size limit in
// eslint.layers.js. Import cycles, which a per-file rule cannot see, are test/unit/lint/import-graph.test.ts.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { fileSizeConfig, layerConfigs } from './eslint.layers.js';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test/lint-fixtures/**', 'dist-renderer/**', 'src-renderer/**', 'test/renderer/**', 'bin/**'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // The Electron shell has its own project (electron's types, the DOM for the preload).
    files: ['src-main/desktop/**/*.ts', 'src-main/desktop/**/*.cts'],
    languageOptions: { parserOptions: { projectService: false, project: ['./tsconfig.desktop.json'], tsconfigRootDir: import.meta.dirname } },
  },
  { files: ['*.js', '*.config.ts'], ...tseslint.configs.disableTypeChecked },
  ...layerConfigs,
  fileSizeConfig,
);
