// The architecture (docs/ARCHITECTURE.md) as lint rules: each src-main folder lists the sibling
// folders and the npm packages it may import. Kept apart from eslint.config.js so that
// test/unit/lint/ can prove each rule fires on the files in test/lint-fixtures/.
import { builtinModules } from 'node:module';

const domainFolders = ['streams', 'pgp', 'net', 'library', 'mirror', 'media', 'serve'];
const allFolders = ['base', 'contract', ...domainFolders, 'engine', 'cli', 'desktop', 'web'];

/** folder → { folders it may import, packages it may import, whether Node built-ins are allowed } */
// base/ is the ground floor: it imports nothing of ours, and every folder may import it.
export const layers = {
  base: { folders: [], packages: [], node: true },
  // The API contract, imported by the renderer too: pure (no Node built-ins), zod its one package,
  // and of ours only base/errors.ts, base/progress.ts and base/cancel.ts (which import nothing).
  contract: { folders: ['base'], packages: ['zod'], node: false },
  streams: { folders: ['base'], packages: [], node: false },
  pgp: { folders: ['base'], packages: ['openpgp'], node: true },
  net: { folders: ['base'], packages: ['undici'], node: true },
  library: { folders: ['base'], packages: ['better-sqlite3'], node: true },
  mirror: { folders: ['base', 'streams', 'net', 'library'], packages: [], node: true },
  // media/ parses receipts with the contract's schema (contract/records.ts), the one definition the
  // API answers receipts.write with; the contract imports nothing of media/, so no cycle.
  media: { folders: ['base', 'contract', 'streams', 'library'], packages: ['zod'], node: true },
  serve: { folders: ['base', 'streams', 'library'], packages: ['range-parser', 'fresh', 'etag'], node: true },
  engine: { folders: ['base', 'contract', ...domainFolders], packages: ['zod'], node: true },
  // cli/ starts browser mode (`ferry ui`), so it may import web/, the face that serves it.
  cli: { folders: ['base', 'engine', 'web'], packages: ['log-update'], node: true },
  web: { folders: ['base', 'contract', 'engine'], packages: ['ws'], node: true },
  desktop: { folders: ['base', 'contract', 'engine'], packages: ['electron'], node: true },
};
const thirdPartyPackages = ['openpgp', 'undici', 'better-sqlite3', 'electron', 'range-parser', 'fresh', 'etag', 'zod', 'ws', 'log-update'];

/** @param {keyof typeof layers} folder @returns {import('eslint').Linter.Config} */
export function restrictionsFor(folder) {
  const rule = layers[folder];
  const patterns = [];
  for (const other of allFolders) {
    if (other === folder || rule.folders.includes(other)) continue;
    patterns.push({ group: [`**/${other}/*`], message: `src-main/${folder}/ may not import src-main/${other}/ (see docs/ARCHITECTURE.md).` });
  }
  const forbiddenPackages = thirdPartyPackages.filter((name) => !rule.packages.includes(name));
  const paths = forbiddenPackages.map((name) => ({
    name,
    message: `${name} is not allowed in src-main/${folder}/ (see the layer table in eslint.layers.js).`,
  }));
  if (!rule.node) {
    patterns.push({ group: ['node:*'], message: `src-main/${folder}/ is pure: no Node built-ins.` });
    paths.push(...builtinModules.map((name) => ({ name, message: `src-main/${folder}/ is pure: no Node built-ins.` })));
  }
  return { files: [`src-main/${folder}/**/*.ts`], rules: { 'no-restricted-imports': ['error', { paths, patterns }] } };
}

export const layerConfigs = /** @type {Array<keyof typeof layers>} */ (Object.keys(layers)).map(restrictionsFor);

/**
 * No source file over 600 lines, counting everything (issue 8): past that a file does several jobs,
 * and its section comments mark where to split it.
 * @type {import('eslint').Linter.Config}
 */
export const fileSizeConfig = {
  files: ['src-main/**/*.ts'],
  rules: { 'max-lines': ['error', { max: 600, skipBlankLines: false, skipComments: false }] },
};
