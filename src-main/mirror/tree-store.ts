import { open, readdir, rmdir, stat, statfs, unlink } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { FerryError } from '../engine/errors.js';
import type { Catalog } from '../library/catalog.js';
import { checkFinishedFile, errnoCode, lstatIfExists, mtimeMsOf, renameIntoPlace, withFileErrors } from '../library/files.js';
import type { TempArea } from '../library/temp-area.js';
import type { FileStore, VerifiedFile } from './apply.js';
import { contentKey, hashFile } from './file-checks.js';
import type { WantedFile } from './plan.js';

/**
 * A plain SimpleStreams tree: each file at its item path under the root, as sstream-mirror writes
 * it, with the catalog in `<root>/.ferry/` recording what was verified and when.
 */
export class TreeStore implements FileStore {
  readonly #root: string;
  readonly #catalog: Catalog;
  readonly #temp: TempArea;

  constructor(root: string, catalog: Catalog, temp: TempArea) {
    this.#root = root;
    this.#catalog = catalog;
    this.#temp = temp;
  }

  finalPath(relativePath: string): string {
    const full = join(this.#root, relativePath);
    // Item paths were checked when the metadata was parsed; this guards the file system itself.
    if (relative(this.#root, full).startsWith(`..${sep}`)) {
      throw new FerryError('FERRY_UNSAFE_PATH', `Refusing to write ${relativePath} outside the mirror at ${this.#root}.`, { path: relativePath });
    }
    return full;
  }

  async present(file: WantedFile, rehash: boolean): Promise<string | undefined> {
    const finalPath = this.finalPath(file.path);
    const stats = await lstatIfExists(finalPath);
    const record = this.#catalog.getTreeFile(file.path);
    if (stats === undefined) {
      if (record !== undefined) this.#catalog.deleteTreeFile(file.path);
      return undefined;
    }
    if (!stats.isFile()) {
      throw new FerryError('FERRY_IO', `${finalPath} is not a regular file, so the mirror cannot place ${file.path} there.`, {
        path: finalPath,
        hint: 'Move it out of the mirror directory and run again.',
      });
    }
    const vouched =
      record !== undefined &&
      record.size === stats.size &&
      record.mtimeMs === mtimeMsOf(stats) &&
      (file.sha256 === undefined || record.sha256 === file.sha256);
    if (stats.size === file.size && vouched && !rehash) return record.sha256;
    if (stats.size === file.size) {
      const digests = await hashFile(finalPath, file.checksum.algorithm);
      if (digests.listed === file.checksum.hex) {
        this.#catalog.putTreeFile({ path: file.path, sha256: digests.sha256, size: stats.size, mtimeMs: mtimeMsOf(stats) });
        return digests.sha256;
      }
    }
    // Wrong size or content: it must not stay at a final path, even if the new download fails.
    await this.#unlink(finalPath);
    this.#catalog.deleteTreeFile(file.path);
    return undefined;
  }

  partialPath(file: WantedFile): string {
    return this.#temp.partialPath(contentKey(file));
  }

  async place(file: WantedFile, partialPath: string, verified: VerifiedFile): Promise<void> {
    const finalPath = this.finalPath(file.path);
    // Flushed before the rename, as the library flushes a blob: after a power cut the final path
    // holds the whole verified file or nothing, never a name whose bytes were still in cache.
    await checkFinishedFile(partialPath, verified.size, file.path, { flush: true });
    await renameIntoPlace(partialPath, finalPath);
    const stats = await withFileErrors(finalPath, 'inspect the file just written', () => stat(finalPath));
    this.#catalog.putTreeFile({ path: file.path, sha256: verified.sha256, size: verified.size, mtimeMs: mtimeMsOf(stats) });
  }

  async remove(path: string): Promise<boolean> {
    const finalPath = this.finalPath(path);
    await this.#unlink(finalPath);
    this.#catalog.deleteTreeFile(path);
    await this.#pruneEmptyParents(dirname(finalPath));
    return true;
  }

  async peek(file: WantedFile): Promise<boolean> {
    const stats = await lstatIfExists(this.finalPath(file.path));
    return stats !== undefined && stats.isFile() && stats.size === file.size;
  }

  async freeBytes(): Promise<number | undefined> {
    const stats = await statfs(this.#root).catch(() => undefined);
    return stats === undefined ? undefined : stats.bavail * stats.bsize;
  }

  /** Writes a metadata file through a temporary name, flushed, then renamed: never half-written. */
  async writeMetadata(relativePath: string, bytes: Uint8Array): Promise<void> {
    const finalPath = this.finalPath(relativePath);
    const tempPath = this.#temp.tempPath(relativePath);
    await withFileErrors(tempPath, 'write', async () => {
      const handle = await open(tempPath, 'w');
      try {
        await handle.writeFile(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
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
