import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { blobStoragePaths, parseBundleManifest, type BundleManifest } from '../../../src-main/media/bundle/manifest.js';
import { describeRun, sha256OfFile, walkFiles } from '../mirror/helpers.js';
import type { FerryRun } from '../../support/run-ferry.js';

const execFileAsync = promisify(execFile);

/** The last line of stdout: the bundle's directory, as `ferry export` promises. */
export function lastLine(run: FerryRun): string {
  const lines = run.stdout.trimEnd().split('\n');
  return lines.at(-1) ?? '';
}

export function expectOk(run: FerryRun): FerryRun {
  expect(run.code, describeRun(run)).toBe(0);
  return run;
}

export async function readManifest(bundleDir: string): Promise<BundleManifest> {
  return parseBundleManifest(await readFile(join(bundleDir, 'bundle.json'), 'utf8'), join(bundleDir, 'bundle.json'));
}

/** `sha256sum -c SHA256SUMS` in the bundle directory: coreutils as the judge of every blob and part. */
export async function expectChecksumsPass(bundleDir: string): Promise<void> {
  const { stdout } = await execFileAsync('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: bundleDir });
  expect(stdout).not.toMatch(/FAILED/);
}

/**
 * A finished volume is whole: every blob or part its manifest lists is there with its sha256, the
 * blobs re-assemble to their sha256, and nothing partial is left.
 */
export async function expectCompleteVolume(bundleDir: string): Promise<BundleManifest> {
  const manifest = await readManifest(bundleDir);
  for (const blob of manifest.blobs) {
    for (const stored of blobStoragePaths(blob)) expect(await sha256OfFile(join(bundleDir, stored.path)), stored.path).toBe(stored.sha256);
  }
  const files = await walkFiles(bundleDir, { includeState: true });
  expect(files.filter((file) => file.endsWith('.partial'))).toEqual([]);
  await expectChecksumsPass(bundleDir);
  return manifest;
}

/** Bundle directories under `<target>/FERRY/`. */
export async function bundleDirs(target: string): Promise<string[]> {
  const folder = join(target, 'FERRY');
  const names = await readdir(folder).catch(() => []);
  return names.sort().map((name) => join(folder, name));
}

export function fileSet(manifest: BundleManifest): string[] {
  return manifest.files.map((file) => `${file.role} ${file.path} ${file.size} ${file.sha256}`).sort();
}

export function blobSet(manifests: readonly BundleManifest[]): string[] {
  return manifests.flatMap((manifest) => manifest.blobs.map((blob) => blob.sha256)).sort();
}

/** An export target folder, made first: `ferry export --to` never creates one (a mistyped mount point). */
export async function targetFolder(path: string): Promise<string> {
  await mkdir(path, { recursive: true });
  return path;
}
