import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The engine runs from src-main/ under vitest and from dist/src-main/ once built (and from an
// Electron app.asar later), so the install root is found by walking up to our package.json rather
// than by a fixed number of '..'.
function findInstallRoot(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(directory, 'package.json');
    if (existsSync(candidate)) {
      const manifest: unknown = JSON.parse(readFileSync(candidate, 'utf8'));
      if (typeof manifest === 'object' && manifest !== null && 'name' in manifest && manifest.name === 'stream-ferry') {
        return directory;
      }
    }
    const parent = dirname(directory);
    if (parent === directory) throw new Error('Stream Ferry is damaged: its package.json could not be found.');
    directory = parent;
  }
}

let cachedRoot: string | undefined;
let cachedVersion: string | undefined;

export function installRoot(): string {
  cachedRoot ??= findInstallRoot();
  return cachedRoot;
}

export function productVersion(): string {
  if (cachedVersion === undefined) {
    const manifest = JSON.parse(readFileSync(join(installRoot(), 'package.json'), 'utf8')) as { version: string };
    cachedVersion = manifest.version;
  }
  return cachedVersion;
}

export function userAgent(): string {
  return `stream-ferry/${productVersion()}`;
}

/**
 * The folder of the keyrings shipped with Stream Ferry, for an install root `root`: `<root>/resources/keyrings`
 * in a checkout or an npm install; beside the archive (`<resources>/keyrings`) when `root` is an
 * Electron app.asar, where electron-builder.yml's extraResources puts them once, readable by the
 * operator and by gpgv outside the archive.
 */
export function keyringsDirFor(root: string): string {
  return basename(root) === 'app.asar' ? join(dirname(root), 'keyrings') : join(root, 'resources', 'keyrings');
}

/** The Ubuntu cloud image keyring shipped with the app: the default trust root for images.maas.io. */
export function bundledKeyringPath(): string {
  return join(keyringsDirFor(installRoot()), 'ubuntu-cloudimage-keyring.gpg');
}

/** Where the built renderer (Vite's output) is: what `ferry ui` and the desktop shell serve. */
export function rendererDir(): string {
  return join(installRoot(), 'dist-renderer');
}
