import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The repository's root: the nearest folder with a package.json above `from` (works from test/ and dist/test/ alike). */
export function findRepoRoot(from: string): string {
  for (let directory = from; ; directory = dirname(directory)) {
    if (existsSync(join(directory, 'package.json'))) return directory;
    if (dirname(directory) === directory) throw new Error(`no package.json above ${from}`);
  }
}
