import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The Electron executable under `root`'s node_modules, as the electron package records it
 * (path.txt, relative to its dist/ folder), or undefined when the binary was never downloaded.
 */
export function electronBinary(root: string): string | undefined {
  const packageDir = join(root, 'node_modules', 'electron');
  const pathFile = join(packageDir, 'path.txt');
  if (!existsSync(join(packageDir, 'dist')) || !existsSync(pathFile)) return undefined;
  const binary = join(packageDir, 'dist', readFileSync(pathFile, 'utf8').trim());
  return existsSync(binary) ? binary : undefined;
}
