import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TestContext } from 'vitest';
import { isFerryError } from '../../../src-main/base/errors.js';
import { openLibrary } from '../../../src-main/library/library.js';
import type { Library } from '../../../src-main/library/library.js';

// A real full disk: a 4 MiB ext4 image mounted on a loop device. It needs root and Linux; where
// mounting is refused, the tests say why and are skipped, rather than passing silently.
const DISK_BYTES = 4 * 1024 * 1024;

let workDir: string | undefined;
let mountDir: string | undefined;
let unavailableBecause: string | undefined;
const openLibraries: Library[] = [];

function commandFailure(error: unknown): string {
  if (error instanceof Error && 'stderr' in error && error.stderr instanceof Buffer && error.stderr.length > 0) {
    return error.stderr.toString().trim();
  }
  return error instanceof Error ? error.message : String(error);
}

beforeAll(async () => {
  if (process.platform !== 'linux') {
    unavailableBecause = `loop mounts need Linux (this is ${process.platform})`;
    return;
  }
  workDir = await mkdtemp(join(tmpdir(), 'ferry-disk-full-'));
  const image = join(workDir, 'disk.img');
  const mountPoint = join(workDir, 'mnt');
  await mkdir(mountPoint);
  await writeFile(image, '');
  await truncate(image, DISK_BYTES);
  try {
    // -m 0: no blocks reserved for root, or the tests (as root) would write into them.
    execFileSync('mkfs.ext4', ['-q', '-m', '0', image], { stdio: 'pipe' });
    execFileSync('mount', ['-o', 'loop', image, mountPoint], { stdio: 'pipe' });
    mountDir = mountPoint;
  } catch (error) {
    unavailableBecause = `could not mount a loop ext4 image: ${commandFailure(error)}`;
  }
});

afterEach(() => {
  for (const library of openLibraries.splice(0)) library.close();
});

afterAll(async () => {
  if (mountDir !== undefined) execFileSync('umount', [mountDir], { stdio: 'pipe' });
  if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
});

function requireMount(context: TestContext): string {
  if (mountDir === undefined) {
    console.warn(`disk-full test skipped: ${unavailableBecause ?? 'no mount'}`);
    context.skip();
  }
  return mountDir;
}

async function open(dir: string): Promise<Library> {
  const library = await openLibrary(dir);
  openLibraries.push(library);
  return library;
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

describe('on a full disk', () => {
  it('a blob write fails with FERRY_DISK_FULL naming the path, leaving no file and no row', async (context) => {
    const disk = requireMount(context);
    const library = await open(join(disk, 'library'));
    let failure: unknown;
    try {
      await library.blobs.writeBytes(randomBytes(2 * DISK_BYTES));
    } catch (error) {
      failure = error;
    }
    expect(isFerryError(failure, 'FERRY_DISK_FULL')).toBe(true);
    expect(isFerryError(failure) && failure.path?.startsWith(join(disk, 'library', 'tmp'))).toBe(true);
    expect(library.catalog.listBlobs()).toEqual([]);
    expect(await filesUnder(library.blobs.root)).toEqual([]);
    expect(await filesUnder(join(library.dir, 'tmp'))).toEqual([]);

    // The space is free again, and the library works as before.
    const small = await library.blobs.writeBytes(Buffer.from('metadata'));
    library.catalog.recordBlob(small);
    expect(library.catalog.getBlob(small.sha256)?.size).toBe(small.size);
  });

  it('a catalog write fails with FERRY_DISK_FULL naming the catalog, which stays as it was', async (context) => {
    const disk = requireMount(context);
    const library = await open(join(disk, 'library-2'));
    const filler = join(disk, 'filler');
    await expect(writeFile(filler, Buffer.alloc(2 * DISK_BYTES))).rejects.toMatchObject({ code: 'ENOSPC' });
    const profile = { name: 'huge', source: 'stable', path: null, filterGroups: [['x'.repeat(1024 * 1024)]], maxVersions: null, keep: false };
    try {
      expect(() => library.catalog.saveSelection(profile)).toThrow(
        expect.objectContaining({ code: 'FERRY_DISK_FULL', path: library.catalog.file }),
      );
      expect(library.catalog.listSelections()).toEqual([]);
    } finally {
      await rm(filler);
    }
    expect(library.catalog.saveSelection(profile).name).toBe('huge');
  });
});
