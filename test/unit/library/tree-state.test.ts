import { execFile } from 'node:child_process';
import { mkdir, readdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { FerryError } from '../../../src-main/base/errors.js';
import {
  openLibrary,
  openLibraryForReading,
  openTreeState,
  openTreeStateForReading,
  openTrustedLibrary,
} from '../../../src-main/library/library.js';
import type { TreeState } from '../../../src-main/library/library.js';
import { deadPid, sha256Hex, useTempDirs } from './helpers.js';

const execFileAsync = promisify(execFile);
const tempDir = useTempDirs();
const openStates: TreeState[] = [];
afterEach(() => {
  for (const state of openStates.splice(0)) state.close();
});

async function open(targetDir: string): Promise<TreeState> {
  const state = await openTreeState(targetDir);
  openStates.push(state);
  return state;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

const AN_HOUR_AGO = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000);

/** Writes a file into the tree and records it (and a held item at its path) as a mirror run would. */
async function placeAndRecord(state: TreeState, path: string, content: string): Promise<void> {
  const absolutePath = join(state.targetDir, path);
  await mkdir(dirname(absolutePath), { recursive: true });
  await writeFile(absolutePath, content);
  const stats = await stat(absolutePath);
  const sha256 = sha256Hex(content);
  const sourceId = state.catalog.upsertSource('https://images.maas.io/ephemeral-v3/stable/', 'streams/v1/index.sjson');
  state.catalog.transaction(() => {
    state.catalog.putTreeFile({ path, sha256, size: stats.size, mtimeMs: Math.trunc(stats.mtimeMs) });
    state.catalog.addHeldItems([
      { sourceId, contentId: 'c', product: path, version: '1', item: 'file', path, size: stats.size, sha256 },
    ]);
  });
}

describe('openTreeState', () => {
  it('keeps its catalog and temp files in <target>/.ferry', async () => {
    const target = join(await tempDir('tree'), 'mirror');
    const state = await open(target);
    expect(state.targetDir).toBe(target);
    expect(state.stateDir).toBe(join(target, '.ferry'));
    expect(state.catalog.file).toBe(join(target, '.ferry', 'catalog.db'));
    expect(state.temp.dir).toBe(join(target, '.ferry', 'tmp'));
    expect(await exists(join(target, '.ferry', 'tmp', 'partial'))).toBe(true);
    expect(state.repaired).toEqual({ finding: 'interrupted-run', tempFilesRemoved: 0, partialFilesKept: 0, treeFilesDropped: 0, heldItemsDropped: 0 });
  });

  it('drops records of tree files that went missing or changed, with the items at their paths', async () => {
    const target = await tempDir('tree');
    const first = await open(target);
    await placeAndRecord(first, 'noble/amd64/20250101/squashfs', 'squashfs');
    await placeAndRecord(first, 'noble/amd64/20250101/ga/boot-kernel', 'kernel');
    await placeAndRecord(first, 'noble/amd64/20250101/ga/boot-initrd', 'initrd');
    await placeAndRecord(first, 'streams/v1/index.sjson', 'index');
    first.close();
    await writeFile(join(target, 'noble/amd64/20250101/squashfs'), 'squashfs plus more');
    await utimes(join(target, 'noble/amd64/20250101/ga/boot-kernel'), AN_HOUR_AGO, AN_HOUR_AGO);
    await rm(join(target, 'noble/amd64/20250101/ga/boot-initrd'));

    const second = await open(target);
    expect(second.repaired).toMatchObject({ finding: 'tampering-or-lost-catalog', treeFilesDropped: 3, heldItemsDropped: 3 });
    expect(second.catalog.listTreeFiles().map((file) => file.path)).toEqual(['streams/v1/index.sjson']);
    expect(second.catalog.referencesToPath('noble/amd64/20250101/squashfs')).toBe(0);
    expect(second.catalog.referencesToPath('streams/v1/index.sjson')).toBe(1);
  });

  it('drops a record whose path would leave the tree, without looking outside it', async () => {
    const parent = await tempDir('tree');
    const target = join(parent, 'mirror');
    const first = await open(target);
    await writeFile(join(parent, 'outside'), 'x');
    const stats = await stat(join(parent, 'outside'));
    first.catalog.putTreeFile({ path: '../outside', sha256: sha256Hex('x'), size: 1, mtimeMs: Math.trunc(stats.mtimeMs) });
    first.close();

    const second = await open(target);
    expect(second.repaired.treeFilesDropped).toBe(1);
    expect(second.catalog.getTreeFile('../outside')).toBeUndefined();
  });

  it('drops held items whose path has no verified tree file', async () => {
    const target = await tempDir('tree');
    const first = await open(target);
    const sourceId = first.catalog.upsertSource('https://example.org/m/', 'streams/v1/index.sjson');
    first.catalog.addHeldItems([
      { sourceId, contentId: 'c', product: 'p', version: '1', item: 'i', path: 'never/verified', size: 1, sha256: sha256Hex('x') },
    ]);
    first.close();

    const second = await open(target);
    expect(second.repaired).toMatchObject({ treeFilesDropped: 0, heldItemsDropped: 1 });
    expect(second.catalog.heldItems(sourceId)).toEqual([]);
  });

  it('removes leftover temp files and keeps resumable partials', async () => {
    const target = await tempDir('tree');
    const first = await open(target);
    first.close();
    const leftover = join(first.temp.dir, `squashfs.${String(deadPid())}.0123456789abcdef.tmp`);
    const partial = first.temp.partialPath(sha256Hex('half'));
    for (const path of [leftover, partial]) {
      await writeFile(path, 'bytes');
      await utimes(path, AN_HOUR_AGO, AN_HOUR_AGO);
    }

    const second = await open(target);
    expect(second.repaired).toMatchObject({ tempFilesRemoved: 1, partialFilesKept: 1 });
    expect(await exists(leftover)).toBe(false);
    expect(await exists(partial)).toBe(true);
  });
});

describe('state folders that are links or files', () => {
  // Issue 7 §6: the catalog and partial downloads would be written through the link, outside TARGET.
  it.each([
    ['.ferry', 'link'],
    ['.ferry/tmp', 'link'],
    ['.ferry/tmp/partial', 'link'],
    ['.ferry/tmp', 'file'],
  ])('refuses %s as a %s before writing anything, naming it', async (folder, kind) => {
    const target = await tempDir('tree-state-link');
    const outside = await tempDir('outside');
    await mkdir(dirname(join(target, folder)), { recursive: true });
    if (kind === 'link') await symlink(outside, join(target, folder));
    else await writeFile(join(target, folder), 'a file');
    await expect(openTreeState(target)).rejects.toMatchObject({
      code: 'FERRY_PATH_BLOCKED',
      path: join(target, folder),
      message: expect.stringContaining(kind === 'link' ? 'is a symbolic link' : 'is not a directory') as unknown,
    });
    expect(await readdir(outside), 'nothing was written through the link').toEqual([]);
  });
});

// What is at the catalog's path is named before SQLite opens it: a FIFO gave a bare "disk I/O error".
describe('a catalog path that is not a regular file', () => {
  const blockers: Array<[string, (path: string) => Promise<void>]> = [
    ['A FIFO (named pipe)', async (path) => execFileAsync('mkfifo', [path]).then(() => undefined)],
    ['A directory', async (path) => mkdir(path)],
    ['A symbolic link', async (path) => symlink('/etc/hostname', path)],
  ];
  it.each(blockers)('names %s at .ferry/catalog.db, for a mirror, a library and a dry run', async (kind, make) => {
    const target = await tempDir('tree');
    const catalogFile = join(target, '.ferry', 'catalog.db');
    await mkdir(dirname(catalogFile), { recursive: true });
    await make(catalogFile);
    const library = await tempDir('library');
    await make(join(library, 'catalog.db'));
    const attempts = [
      () => openTreeState(target),
      () => openTreeStateForReading(target),
      () => openLibrary(library),
      () => openTrustedLibrary(library),
      () => openLibraryForReading(library, { trusted: true }),
    ];
    for (const attempt of attempts) {
      const error: unknown = await attempt().then(
        (opened) => {
          opened.close();
          return undefined;
        },
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(FerryError);
      expect((error as FerryError).code).toBe('FERRY_PATH_BLOCKED');
      expect((error as FerryError).message).toMatch(new RegExp(`^${kind.replace(/[()]/g, '\\$&')} is at .*catalog\\.db, where Stream Ferry's catalog`));
    }
    // Nothing was made beside it: the refusal comes before the temp area is created.
    expect(await exists(join(target, '.ferry', 'tmp'))).toBe(false);
  });
});
