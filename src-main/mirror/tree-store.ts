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
  /** Verified files waiting in partial/ for publishStaged, because a recorded file of other content is at their path. */
  readonly #staged: Array<{ file: WantedFile; partialPath: string; verified: VerifiedFile }> = [];

  constructor(root: string, catalog: Catalog, temp: TempArea) {
    this.#root = root;
    this.#catalog = catalog;
    this.#temp = temp;
  }

  /**
   * The absolute path of `treePath`, once it is safe to touch. With `final: 'file'`, what is at
   * the path itself must be a regular file or nothing (its lstat is answered); with 'replace' (a
   * removal, or a rename over it) only the way there is checked, since unlink and rename act on a
   * link itself, never through it. Throws FERRY_UNSAFE_PATH or FERRY_PATH_BLOCKED.
   */
  async #checkedPath(treePath: string, final: 'file' | 'replace'): Promise<{ path: string; stats: Stats | undefined }> {
    assertSafeItemPath(treePath, () => `the mirror at ${this.#root}`);
    const path = resolveInsideTree(this.#root, treePath);
    if (path === undefined) {
      throw new FerryError('FERRY_UNSAFE_PATH', `Refusing to write ${treePath} outside the mirror at ${this.#root}.`, { path: treePath });
    }
    const segments = treePath.split('/');
    let current = this.#root;
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
   * Present and verified against the metadata being mirrored: its sha256. A file there that the
   * catalog recorded as verified (so published metadata may list it: a re-spin changes the bytes at
   * an existing path) stays while it differs from the new metadata; its replacement waits in
   * partial/ until publishStaged. Only a file matching neither (damage) is deleted here.
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
    if (recorded && !listedHere && !rehash) return undefined;
    if (stats.size === file.size || recorded) {
      const digests = await hashFile(finalPath, file.checksum.algorithm);
      if (stats.size === file.size && digests.listed === file.checksum.hex) {
        this.#catalog.putTreeFile({ path: file.path, sha256: digests.sha256, size: stats.size, mtimeMs: mtimeMsOf(stats) });
        return digests.sha256;
      }
      if (recorded && digests.sha256 === record.sha256) return undefined;
    }
    // Neither the new metadata's file nor the one verified earlier: it must not stay at a final
    // path, even if the new download fails.
    await this.#unlink(finalPath);
    this.#catalog.deleteTreeFile(file.path);
    return undefined;
  }

  partialPath(file: WantedFile): string {
    return this.#temp.partialPath(contentKey(file));
  }

  /**
   * Moves a verified partial file to its path, or, when a recorded file of other content is there
   * (present() kept it: the published metadata may list it), only flushes it and holds it back in
   * partial/ for publishStaged, so a run that cannot publish replaces nothing published.
   */
  async place(file: WantedFile, partialPath: string, verified: VerifiedFile): Promise<void> {
    const { path: finalPath, stats } = await this.#checkedPath(file.path, 'file');
    // Flushed before the rename, as the library flushes a blob: after a power cut the final path
    // holds the whole verified file or nothing, never a name whose bytes were still in cache.
    await checkFinishedFile(partialPath, verified.size, file.path, { flush: true });
    const record = this.#catalog.getTreeFile(file.path);
    if (stats !== undefined && record !== undefined && record.sha256 !== verified.sha256) {
      this.#staged.push({ file, partialPath, verified });
      return;
    }
    await this.#moveIntoPlace(file, partialPath, verified, finalPath);
  }

  /**
   * The publish step's first half: renames every file place() held back over the verified file it
   * replaces, in plan order; the caller writes the metadata right after (see docs/ARCHITECTURE.md,
   * "All or nothing" for the window between the two). Answers the tree paths replaced.
   * Throws FERRY_PATH_BLOCKED, FERRY_UNSAFE_PATH, FERRY_IO, FERRY_DISK_FULL.
   */
  async publishStaged(): Promise<string[]> {
    const replaced: string[] = [];
    for (const { file, partialPath, verified } of this.#staged.splice(0)) {
      const { path: finalPath } = await this.#checkedPath(file.path, 'file');
      await this.#moveIntoPlace(file, partialPath, verified, finalPath);
      replaced.push(file.path);
    }
    return replaced;
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
