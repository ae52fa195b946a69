import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { readdir, rmdir, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { FerryError, errnoCode } from '../base/errors.js';
import type { Catalog } from '../library/catalog.js';
import {
  checkFinishedFile,
  fileKindOf,
  lstatIfExists,
  mtimeMsOf,
  renameIntoPlace,
  resolveInsideTree,
  withFileErrors,
} from '../base/files.js';
import type { TempArea } from '../library/temp-area.js';
import { assertSafeItemPath } from '../streams/index.js';
import type { FileStore, VerifiedFile } from './apply.js';
import { hashFile } from '../base/hashing.js';
import { contentKey } from './file-checks.js';
import type { WantedFile } from './plan.js';

/** Hex digits of the path's sha256 in a partial file's name: 64 bits, so paths of a stream never collide. */
const PATH_KEY_LENGTH = 16;

/**
 * The absolute path of `treePath` in the tree at `root`, once it is safe to touch (the guard of
 * every TreeStore access, and of `ferry import`). With `final: 'file'`, what is at
 * the path itself must be a regular file or nothing (its lstat is answered); with 'replace' (a
 * removal, or a rename over it) only the way there is checked, since unlink and rename act on a
 * link itself, never through it. Throws FERRY_UNSAFE_PATH or FERRY_PATH_BLOCKED.
 */
export async function checkTreePath(root: string, treePath: string, final: 'file' | 'replace'): Promise<{ path: string; stats: Stats | undefined }> {
  assertSafeItemPath(treePath, () => `the mirror at ${root}`);
  const path = resolveInsideTree(root, treePath);
  if (path === undefined) {
    throw new FerryError('FERRY_UNSAFE_PATH', `Refusing to write ${treePath} outside the mirror at ${root}.`, { path: treePath });
  }
  const segments = treePath.split('/');
  let current = root;
  for (const segment of segments.slice(0, -1)) {
    current = join(current, segment);
    const stats = await lstatIfExists(current);
    // Missing levels are created as real directories when the file is placed.
    if (stats === undefined) return { path, stats: undefined };
    if (stats.isSymbolicLink()) {
      throw pathBlocked(current, `A symbolic link is at ${current}, on the way to ${treePath}; Stream Ferry never writes through links.`);
    }
    if (!stats.isDirectory()) {
      throw pathBlocked(current, `${fileKindOf(stats)} is at ${current}, where the directory holding ${treePath} belongs.`);
    }
  }
  const stats = await lstatIfExists(path);
  if (final === 'replace' || stats === undefined || stats.isFile()) return { path, stats };
  if (stats.isSymbolicLink()) {
    throw pathBlocked(path, `A symbolic link is at ${path}, where the file ${treePath} belongs; Stream Ferry never writes through links.`);
  }
  throw pathBlocked(path, `${fileKindOf(stats)} is at ${path}, where the file ${treePath} belongs.`);
}

/**
 * A plain SimpleStreams tree: each file at its item path under the root, as sstream-mirror writes
 * it, with the catalog in `<root>/.ferry/` recording what was verified and when.
 *
 * Every read, write and removal of a tree path goes through #checkedPath: the path must pass the
 * metadata check again (nothing in `.ferry/`, nothing outside the root), and nothing below the root
 * on the way to it may be a link or a non-directory, so no write leaves the tree through a link
 * someone placed in it (the root itself may be a link: the operator chose it). The check runs just
 * before each step; it does not defend against a process racing us inside the tree, which Node
 * cannot do without openat(). Its methods throw FERRY_UNSAFE_PATH, FERRY_PATH_BLOCKED (naming
 * what is in the way), FERRY_DISK_FULL and FERRY_IO (naming the path).
 */
export class TreeStore implements FileStore {
  readonly #root: string;
  readonly #catalog: Catalog;
  readonly #temp: TempArea;
  /** Verified files waiting in partial/ for publishStaged, because something else is at their path. */
  readonly #staged: Array<{ file: WantedFile; partialPath: string; verified: VerifiedFile }> = [];

  constructor(root: string, catalog: Catalog, temp: TempArea) {
    this.#root = root;
    this.#catalog = catalog;
    this.#temp = temp;
  }

  #checkedPath(treePath: string, final: 'file' | 'replace'): Promise<{ path: string; stats: Stats | undefined }> {
    return checkTreePath(this.#root, treePath, final);
  }

  /**
   * Present and verified against the metadata being mirrored: its sha256; undefined when the file
   * must be fetched. Never deletes or replaces anything: whatever else is at the path (a published
   * older file, a re-spin, damage, a leftover of sstream-mirror, recorded or not) stays until the
   * publish step renames the verified new bytes over it (place, publishStaged), so a run that
   * cannot publish leaves the published tree as it was (docs/ARCHITECTURE.md, "Nothing reaches a
   * final path unverified"). Throws FERRY_PATH_BLOCKED, FERRY_UNSAFE_PATH, FERRY_IO.
   */
  async present(file: WantedFile, rehash: boolean): Promise<string | undefined> {
    const { path: finalPath, stats } = await this.#checkedPath(file.path, 'file');
    const record = this.#catalog.getTreeFile(file.path);
    if (stats === undefined) {
      if (record !== undefined) this.#catalog.deleteTreeFile(file.path);
      return undefined;
    }
    const recorded = record !== undefined && record.size === stats.size && record.mtimeMs === mtimeMsOf(stats);
    const listedHere = file.sha256 === undefined || record?.sha256 === file.sha256;
    if (stats.size === file.size && recorded && listedHere && !rehash) return record.sha256;
    // Another size, or recorded with other bytes: not this file, and no need to read it.
    if (stats.size !== file.size || (recorded && !listedHere && !rehash)) return undefined;
    const digests = await hashFile(finalPath, file.checksum.algorithm);
    if (digests.listed === file.checksum.hex) {
      this.#catalog.putTreeFile({ path: file.path, sha256: digests.sha256, size: stats.size, mtimeMs: mtimeMsOf(stats) });
      return digests.sha256;
    }
    // Not the bytes the catalog recorded either (damage): the record no longer vouches for it.
    if (record !== undefined && record.sha256 !== digests.sha256) this.#catalog.deleteTreeFile(file.path);
    return undefined;
  }

  /**
   * `partial/<content key>-<16 hex of the path's sha256>`: stable across runs, so a download
   * resumes, and one per final path, so two paths wanting the same bytes never share (and never
   * move away) each other's partial file.
   */
  partialPath(file: WantedFile): string {
    const pathKey = createHash('sha256').update(file.path).digest('hex').slice(0, PATH_KEY_LENGTH);
    return this.#temp.partialPath(`${contentKey(file)}-${pathKey}`);
  }

  /**
   * Moves a verified partial file to its path when nothing is there; when anything is (present()
   * found other bytes: the published metadata may list them), only flushes it and holds it back in
   * partial/ for publishStaged, so a run that cannot publish replaces nothing.
   */
  async place(file: WantedFile, partialPath: string, verified: VerifiedFile): Promise<void> {
    const { path: finalPath, stats } = await this.#checkedPath(file.path, 'file');
    // Flushed before the rename, as the library flushes a blob: after a power cut the final path
    // holds the whole verified file or nothing, never a name whose bytes were still in cache.
    await checkFinishedFile(partialPath, verified.size, file.path, { flush: true });
    if (stats !== undefined) {
      this.#staged.push({ file, partialPath, verified });
      return;
    }
    await this.#moveIntoPlace(file, partialPath, verified, finalPath);
  }

  /**
   * The publish step's first half: renames every file place() held back over what is at its path,
   * in plan order; the caller writes the metadata right after (see docs/ARCHITECTURE.md, "All or
   * nothing" for the window between the two). All or nothing as far as renames allow: every held
   * partial file must still be there with its verified size, and every final path pass the guard,
   * before the first rename; otherwise nothing is renamed. Answers the tree paths replaced.
   * Throws FERRY_IO (naming the partial file that is gone or changed), FERRY_PATH_BLOCKED,
   * FERRY_UNSAFE_PATH, FERRY_DISK_FULL.
   */
  async publishStaged(): Promise<string[]> {
    const staged = this.#staged.splice(0);
    const ready: Array<{ file: WantedFile; partialPath: string; verified: VerifiedFile; finalPath: string }> = [];
    for (const entry of staged) {
      const stats = await lstatIfExists(entry.partialPath);
      if (stats?.isFile() !== true || stats.size !== entry.verified.size) {
        throw new FerryError('FERRY_IO', `The verified new bytes of ${entry.file.path} are no longer at ${entry.partialPath}, so nothing was published.`, {
          path: entry.partialPath,
          expected: `${String(entry.verified.size)} bytes`,
          actual: stats === undefined ? 'missing' : `${fileKindOf(stats)} of ${String(stats.size)} bytes`,
          hint: 'Something removed or changed a file in .ferry/tmp/partial/ during the run. Run the mirror again; it fetches the file anew.',
        });
      }
      ready.push({ ...entry, finalPath: (await this.#checkedPath(entry.file.path, 'file')).path });
    }
    for (const { file, partialPath, verified, finalPath } of ready) await this.#moveIntoPlace(file, partialPath, verified, finalPath);
    return ready.map(({ file }) => file.path);
  }

  async #moveIntoPlace(file: WantedFile, partialPath: string, verified: VerifiedFile, finalPath: string): Promise<void> {
    await renameIntoPlace(partialPath, finalPath);
    const stats = await withFileErrors(finalPath, 'inspect the file just written', () => stat(finalPath));
    this.#catalog.putTreeFile({ path: file.path, sha256: verified.sha256, size: verified.size, mtimeMs: mtimeMsOf(stats) });
  }

  async remove(path: string): Promise<boolean> {
    const { path: finalPath } = await this.#checkedPath(path, 'replace');
    await this.#unlink(finalPath);
    this.#catalog.deleteTreeFile(path);
    await this.#pruneEmptyParents(dirname(finalPath));
    return true;
  }

  async peek(file: WantedFile): Promise<boolean> {
    const checked = await this.#checkedPath(file.path, 'file').catch(() => undefined);
    return checked?.stats !== undefined && checked.stats.size === file.size;
  }

  async freeBytes(): Promise<number | undefined> {
    const stats = await statfs(this.#root).catch(() => undefined);
    return stats === undefined ? undefined : stats.bavail * stats.bsize;
  }

  /** Writes a metadata file through a temporary name, flushed, then renamed: never half-written. */
  async writeMetadata(relativePath: string, bytes: Uint8Array): Promise<void> {
    const { path: finalPath } = await this.#checkedPath(relativePath, 'file');
    const tempPath = this.#temp.tempPath(relativePath);
    // 'wx' (O_EXCL) never opens what is already there, so a link planted at the name is refused.
    await withFileErrors(tempPath, 'write', () => writeFile(tempPath, bytes, { flag: 'wx' }));
    await checkFinishedFile(tempPath, bytes.byteLength, relativePath, { flush: true });
    await renameIntoPlace(tempPath, finalPath);
  }

  async #unlink(path: string): Promise<void> {
    await withFileErrors(path, 'remove', async () => {
      try {
        await unlink(path);
      } catch (error) {
        if (errnoCode(error) !== 'ENOENT') throw error;
      }
    });
  }

  /** sstream-mirror leaves emptied directories behind; we remove them up to the mirror root. */
  async #pruneEmptyParents(directory: string): Promise<void> {
    for (let current = directory; current !== this.#root && current.startsWith(this.#root + sep); current = dirname(current)) {
      const entries = await readdir(current).catch(() => undefined);
      if (entries === undefined || entries.length > 0) return;
      try {
        await rmdir(current);
      } catch (error) {
        // Someone wrote into it meanwhile, or it is already gone: either way it is not ours to remove.
        if (errnoCode(error) === 'ENOTEMPTY' || errnoCode(error) === 'ENOENT') return;
        throw error;
      }
    }
  }
}

/** Stream Ferry neither writes through nor replaces what someone else put in the tree. */
function pathBlocked(path: string, message: string): FerryError {
  return new FerryError('FERRY_PATH_BLOCKED', message, {
    path,
    hint: `Move ${path} out of the mirror (for a link, put a real directory or file there instead), then run again.`,
  });
}
