// Issue 8 §5: below the faces, errors carry facts and remedies in the field's terms; option names,
// `ferry ...` commands and FERRY_USAGE belong to the CLI (cli/hints.ts words the hints). This
// reads every string and template literal of the domain folders (media/ and serve/ included), of
// base/ (below them all) and of the engine (which every face shares) with the TypeScript parser, so
// comments (which may explain the CLI behaviour a function serves) are not counted.

import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../../..');
const DOMAIN_FOLDERS = ['base', 'streams', 'pgp', 'net', 'library', 'mirror', 'media', 'serve', 'engine'];

/**
 * What is a fact, not CLI wording: the filter grammar's group separator, GnuPG's own command, the
 * arguments media/ passes to lsblk when it lists drives, and the commands a bundle's README names.
 */
const ALLOWED = [
  { file: 'src-main/streams/filters.ts', text: /^--or$/ },
  { file: /^src-main\/pgp\//, text: /gpg --export( --armor)?/g },
  { file: 'src-main/media/detect.ts', text: /^--(json|bytes|output)$/ },
  // A bundle's README.txt tells the offline operator the commands to run; it is the bundle's text, not a message.
  { file: 'src-main/media/bundle/readme.ts', text: /ferry (verify|import)( \.)?( --into)?|--into TARGET_DIR/g },
  // import.sh is the bundle's own script: its usage text and its advice to run ferry verify are its words.
  { file: 'src-main/media/bundle/import-script.ts', text: /--help|ferry verify/g },
];
const CLI_WORDING = [/--[a-z]/, /ferry /, /FERRY_USAGE/];

/** Every piece of literal text in `source`: string literals and the fixed parts of templates. */
function literalTexts(fileName: string, source: string): string[] {
  const texts: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteralLike(node) || ts.isTemplateHead(node) || ts.isTemplateMiddle(node) || ts.isTemplateTail(node)) {
      texts.push(node.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(ts.createSourceFile(fileName, source, ts.ScriptTarget.ES2022, true));
  return texts;
}

function cliWordingIn(file: string, source: string): string[] {
  return literalTexts(file, source)
    .map((text) =>
      ALLOWED.reduce((rest, allowed) => {
        const applies = typeof allowed.file === 'string' ? allowed.file === file : allowed.file.test(file);
        return applies ? rest.replace(allowed.text, '') : rest;
      }, text),
    )
    .filter((text) => CLI_WORDING.some((pattern) => pattern.test(text)));
}

async function sourceFiles(folder: string): Promise<string[]> {
  const entries = await readdir(join(ROOT, 'src-main', folder), { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile() && entry.name.endsWith('.ts')).map((entry) => join(entry.parentPath, entry.name));
}

describe('domain folders leave the wording to the faces', () => {
  it('finds option names, ferry commands and FERRY_USAGE in literals, and only there', () => {
    const sample = [
      "// a comment may say --keyring or ferry sync",
      "const hint = 'pass --keyring FILE';",
      'const again = `run ferry sync ${name}`;',
      "throw new FerryError('FERRY_USAGE', 'bad');",
      "const fine = 'gpg --export KEYID';",
    ].join('\n');
    expect(cliWordingIn('src-main/pgp/sample.ts', sample)).toEqual(['pass --keyring FILE', 'run ferry sync ', 'FERRY_USAGE']);
  });

  it.each(DOMAIN_FOLDERS)('src-main/%s/ words no CLI option or command in its strings', async (folder) => {
    const files = await sourceFiles(folder);
    expect(files.length).toBeGreaterThan(0);
    const found: string[] = [];
    for (const path of files) {
      const file = relative(ROOT, path);
      for (const text of cliWordingIn(file, await readFile(path, 'utf8'))) found.push(`${file}: ${text}`);
    }
    expect(found).toEqual([]);
  });
});
