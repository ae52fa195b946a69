// What can be checked of the desktop packaging without the internet (electron-builder would fetch
// Electron): the configuration loads, names every target the issue asks for, and its file list
// holds the main process, the preload, the engine process, the renderer and the keyrings.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { keyringsDirFor } from '../../../src-main/engine/install.js';

const root = join(import.meta.dirname, '..', '..', '..');

interface BuilderConfig {
  files: string[];
  extraResources: Array<{ from: string; to: string }>;
  asarUnpack: string[];
  npmRebuild: boolean;
  linux: { target: string[] };
  win: { target: string[] };
  mac: { target: string[] };
}

/** Whether one of electron-builder's `files` patterns (here only `dir/**` and exact names) takes `path`. */
function packed(patterns: readonly string[], path: string): boolean {
  return patterns.some((pattern) => (pattern.endsWith('/**') ? path.startsWith(pattern.slice(0, -2)) : pattern === path));
}

describe('electron-builder.yml', () => {
  it('loads, with AppImage, deb and snap, nsis and portable, and dmg', async () => {
    const config = parse(await readFile(join(root, 'electron-builder.yml'), 'utf8')) as BuilderConfig;
    expect(config.linux.target).toEqual(['AppImage', 'deb', 'snap']);
    expect(config.win.target).toEqual(['nsis', 'portable']);
    expect(config.mac.target).toEqual(['dmg']);
    expect(config.asarUnpack).toContain('node_modules/better-sqlite3/**');
    expect(config.npmRebuild).toBe(true);
  });

  it('packs the main process, the preload, the engine process, the renderer and the keyrings', async () => {
    const config = parse(await readFile(join(root, 'electron-builder.yml'), 'utf8')) as BuilderConfig;
    const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { main: string };
    expect(manifest.main).toBe('dist/src-main/desktop/main.js');
    const desktopSources = await readdir(join(root, 'src-main', 'desktop'));
    expect(desktopSources).toEqual(expect.arrayContaining(['main.ts', 'preload.cts', 'engine-process.ts']));
    for (const output of [manifest.main, 'dist/src-main/desktop/preload.cjs', 'dist/src-main/desktop/engine-process.js', 'dist-renderer/index.html', 'package.json']) {
      expect(packed(config.files, output), output).toBe(true);
    }
    const keyrings = config.extraResources.find((resource) => resource.to === 'keyrings');
    expect(keyrings?.from).toBe('resources/keyrings');
    expect((await readdir(join(root, keyrings?.from ?? 'missing'))).filter((name) => name.endsWith('.gpg')).length).toBeGreaterThan(0);
    // Once: not inside the archive as well.
    expect(packed(config.files, 'resources/keyrings/ubuntu-cloudimage-keyring.gpg')).toBe(false);
  });

  it('finds the keyrings where each kind of install puts them', () => {
    expect(keyringsDirFor('/opt/Stream Ferry/resources/app.asar')).toBe('/opt/Stream Ferry/resources/keyrings');
    expect(keyringsDirFor('/home/op/stream-ferry')).toBe('/home/op/stream-ferry/resources/keyrings');
  });
});
