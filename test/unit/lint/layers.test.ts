import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';
import { fileSizeConfig, layerConfigs } from '../../../eslint.layers.js';

const fixturesDir = join(import.meta.dirname, '../../lint-fixtures');

/** Lints a fixture as if it lived at src-main/<folder>/<file>, with only the layer rules on. */
async function layerViolations(folder: string, file: string): Promise<string[]> {
  const linter = new Linter({ configType: 'flat' });
  const code = await readFile(join(fixturesDir, folder, file), 'utf8');
  const messages = linter.verify(
    code,
    [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } }, ...layerConfigs],
    { filename: `src-main/${folder}/${file}` },
  );
  return messages.map((message) => `${message.ruleId ?? 'parse'}: ${message.message}`);
}

describe('layer rules', () => {
  it.each([
    ['streams', 'reads-files.ts', 'is pure: no Node built-ins'],
    ['streams', 'imports-net.ts', 'src-main/streams/ may not import src-main/net/'],
    ['cli', 'skips-engine.ts', 'src-main/cli/ may not import src-main/streams/'],
    ['library', 'uses-undici.ts', 'undici is not allowed in src-main/library/'],
    ['net', 'uses-electron.ts', 'electron is not allowed in src-main/net/'],
    ['base', 'imports-engine.ts', 'src-main/base/ may not import src-main/engine/'],
    ['streams', 'imports-engine.ts', 'src-main/streams/ may not import src-main/engine/'],
  ])('%s/%s is refused', async (folder, file, expected) => {
    const violations = await layerViolations(folder, file);
    expect(violations).toHaveLength(1);
    expect(violations[0]).toContain('no-restricted-imports');
    expect(violations[0]).toContain(expected);
  });

  it('lets every layer use the ground floor, base/', async () => {
    expect(await layerViolations('streams', 'uses-base.ts')).toEqual([]);
  });
});

describe('file size rule', () => {
  /** Lints `lines` lines of code as src-main/<file>, with only the file-size rule on. */
  function sizeViolations(lines: number, file: string): string[] {
    const code = Array.from({ length: lines }, (_, index) => `export const line${index} = ${index};`).join('\n');
    const linter = new Linter({ configType: 'flat' });
    const messages = linter.verify(code, [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } }, fileSizeConfig], {
      filename: file,
    });
    return messages.map((message) => `${message.ruleId ?? 'parse'}: ${message.message}`);
  }

  it('refuses a src-main file of 601 lines', () => {
    const violations = sizeViolations(601, 'src-main/library/catalog.ts');
    expect(violations).toHaveLength(1);
    expect(violations[0]).toContain('max-lines');
    expect(violations[0]).toContain('600');
  });

  it('accepts 600 lines', () => {
    expect(sizeViolations(600, 'src-main/library/catalog.ts')).toEqual([]);
  });
});
