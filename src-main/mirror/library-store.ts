import { createHash } from 'node:crypto';
import { statfs } from 'node:fs/promises';
import { FerryError } from '../base/errors.js';
import { lstatIfExists, mtimeMsOf } from '../base/files.js';
import { isSha256Hex, type Library } from '../library/index.js';
import type { FileStore, VerifiedFile } from './apply.js';
import { hashFile } from '../base/hashing.js';
import { contentKey } from './file-checks.js';
import type { WantedFile } from './plan.js';

/**
 * The library as a place for mirrored files: content-addressed blobs (the same bytes under two
 * paths are stored once) recorded in the catalog. Item paths live only in the held items; files
 * are never removed here, because other sources and older snapshots may share them: the
 * library's garbage collection deletes what nothing references. Its methods throw what BlobStore
 * throws (FERRY_UNSAFE_PATH, FERRY_PATH_BLOCKED, FERRY_HASH_MISMATCH, FERRY_DISK_FULL, FERRY_IO) and FERRY_IO for a
 * non-file at a blob's name.
 */
export class LibraryStore implements FileStore {
  readonly #library: Pick<Library, 'dir' | 'blobs' | 'catalog'>;
  readonly #sourceId: number;
  /** Partial-download key → the path whose download writes it in this run. */
  readonly #partialOwners = new Map<string, string>();

  constructor(library: Pick<Library, 'dir' | 'blobs' | 'catalog'>, sourceId: number) {
    this.#library = library;
    this.#sourceId = sourceId;
  }

  async present(file: WantedFile, rehash: boolean): Promise<string | undefined> {
    const sha256 = this.#expectedSha256(file);
    if (sha256 === undefined) return undefined;
    const { blobs, catalog } = this.#library;
    const blobPath = await blobs.checkedPathFor(sha256);
    const stats = await lstatIfExists(blobPath);
    const record = catalog.getBlob(sha256);
    if (stats === undefined) {
      // Deleted behind the catalog's back: the items that relied on it are no longer held.
      if (record !== undefined) catalog.removeBlob(sha256);
      return undefined;
    }
    if (!stats.isFile()) {
      throw new FerryError('FERRY_IO', `${blobPath} is not a regular file, so the library cannot store ${file.path} there.`, {
        path: blobPath,
        hint: 'Move it out of the library folder and run again.',
      });
    }
    const vouched = record !== undefined && record.size === stats.size && record.mtimeMs === mtimeMsOf(stats);
    if (vouched && !rehash) return stats.size === file.size ? sha256 : undefined;

    // Unknown to the catalog, changed since it was verified, or --verify-existing: one read gives
    // both the digest the blob's name promises and the one the metadata lists.
    const digests = await hashFile(blobPath, file.checksum.algorithm);
    if (digests.sha256 !== sha256) {
      // Row first, then the file (see Catalog.removeBlob): a crash in between leaves only a file to re-check.
      catalog.removeBlob(sha256);
      await blobs.remove(sha256);
      return undefined;
    }
    catalog.recordBlob({ sha256, size: stats.size, mtimeMs: mtimeMsOf(stats) });
    return stats.size === file.size && digests.listed === file.checksum.hex ? sha256 : undefined;
  }

  partialPath(file: WantedFile): string {
    const key = contentKey(file);
    const owner = this.#partialOwners.get(key);
    if (owner === undefined) this.#partialOwners.set(key, file.path);
    if (owner === undefined || owner === file.path) return this.#library.blobs.partialPath(key);
    // Another path with the same bytes is downloading in this run: one partial file must never
    // have two writers. The second copy is dropped when it is adopted.
    return this.#library.blobs.partialPath(createHash('sha256').update(`${key}\0${file.path}`).digest('hex'));
  }

  async place(_file: WantedFile, partialPath: string, verified: VerifiedFile): Promise<void> {
    const { blobs, catalog } = this.#library;
    // A blob file the catalog does not vouch for is re-hashed before it stands in for these bytes.
    const verifyExisting = catalog.getBlob(verified.sha256) === undefined;
    const blob = await blobs.adopt(partialPath, verified.sha256, verified.size, { verifyExisting });
    // The file is in place before its row is written: a crash in between leaves a file that the next
    // start hashes and records, never a row without its file.
    catalog.recordBlob(blob);
  }

  remove(): Promise<boolean> {
    return Promise.resolve(false);
  }

  async peek(file: WantedFile): Promise<boolean> {
    const sha256 = this.#expectedSha256(file);
    return sha256 !== undefined && (await this.#library.blobs.has(sha256, file.size));
  }

  async freeBytes(): Promise<number | undefined> {
    const stats = await statfs(this.#library.dir).catch(() => undefined);
    return stats === undefined ? undefined : stats.bavail * stats.bsize;
  }

  /**
   * The blob a wanted file would be: its listed sha256, or else the sha256 of the bytes this source
   * holds at its path. Those were verified against the listed checksum when they were fetched, and
   * paths in a stream are immutable (plan.ts rejects a path listed with two contents), so an item
   * listing only sha512 or md5 is found again on the next run instead of being downloaded again.
   */
  #expectedSha256(file: WantedFile): string | undefined {
    if (file.sha256 !== undefined) {
      const listed = file.sha256.toLowerCase();
      // A malformed digest names no blob; the download then fails its checksum with a clear message.
      return isSha256Hex(listed) ? listed : undefined;
    }
    const held = this.#library.catalog.heldFileAtPath(this.#sourceId, file.path);
    return held !== undefined && held.size === file.size ? held.sha256 : undefined;
  }
}
