import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { StreamOptions } from '../../support/stream-generator.js';
import { KIB, walkFiles } from '../mirror/helpers.js';

// Shared by the offline-side tests (verify, import, receipt, serve of a bundle).

/** The stream the offline tests mirror and bundle: two releases, small payloads. */
export const offlineShape = {
  contents: ['ubuntu'],
  releases: ['jammy', 'noble'],
  arches: ['amd64'],
  versions: 2,
  payloadSizes: { squashfs: 96 * KIB + 5, 'boot-initrd': 24 * KIB, 'boot-kernel': 8 * KIB, manifest: 1 * KIB },
} satisfies Omit<StreamOptions, 'signingKey'>;

/** Every file under root (`.ferry/` included) with its bytes, inode and mtime: "left as it was" compares these. */
export async function snapshotTree(root: string): Promise<Map<string, { bytes: Buffer; ino: number; mtimeMs: number }>> {
  const snapshot = new Map<string, { bytes: Buffer; ino: number; mtimeMs: number }>();
  for (const path of await walkFiles(root, { includeState: true })) {
    const stats = await lstat(join(root, path));
    snapshot.set(path, { bytes: await readFile(join(root, path)), ino: stats.ino, mtimeMs: stats.mtimeMs });
  }
  return snapshot;
}

/** Two trees hold the same paths with the same bytes (state folders skipped). */
export async function expectSameTree(actual: string, expected: string): Promise<void> {
  const paths = await walkFiles(expected);
  expect(await walkFiles(actual)).toEqual(paths);
  for (const path of paths) {
    const [a, b] = await Promise.all([readFile(join(actual, path)), readFile(join(expected, path))]);
    expect(a.equals(b), `${path} differs`).toBe(true);
  }
}
