import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { lstat, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { FerryError, errnoCode, isFerryError } from '../base/errors.js';
import {
  checkFinishedFile,
  ensureDirectoryDurably,
  fileKindOf,
  fileSystemError,
  lstatIfExists,
  mtimeMsOf,
  readdirIfExists,
  renameIntoPlace,
  withFileErrors,
} from '../base/files.js';
import { hashFile } from '../base/hashing.js';
import { TempArea } from './temp-area.js';

const SHA256_HEX = /^[0-9a-f]{64}$/;
const FAN_OUT = /^[0-9a-f]{2}$/;

/** Whether `value` is 64 lower-case hex digits, the only form a blob name takes. Throws nothing. */
export function isSha256Hex(value: string): boolean {
  return SHA256_HEX.test(value);
}

/**
 * A digest becomes a file name, so anything but 64 lower-case hex characters (upper case, `..`,
 * a separator) is refused before it can name a path outside the store or a second copy of a blob.
 * Throws FERRY_UNSAFE_PATH.
 */
function assertSha256Hex(value: string): void {
  if (!isSha256Hex(value)) {
    throw new FerryError('FERRY_UNSAFE_PATH', `Not a sha256 digest (64 lower-case hex characters): ${JSON.stringify(value)}`);
  }
}

/** What the store holds under one digest, as the catalog records it. */
export interface StoredBlob {
  readonly sha256: string;
  readonly size: number;
  readonly mtimeMs: number;
}

/** `replaced-corrupt`: a file with the wrong size (or content, when checked) held the name and was replaced. */
export type AdoptOutcome = 'stored' | 'already-present' | 'replaced-corrupt';

export interface AdoptedBlob extends StoredBlob {
  readonly outcome: AdoptOutcome;
}

export interface AdoptOptions {
  /** Re-hash a blob that is already present instead of trusting its size. */
  readonly verifyExisting?: boolean;
}

export type BlobCheck =
  | { readonly status: 'ok'; readonly blob: StoredBlob }
  | { readonly status: 'missing' }
  | { readonly status: 'size-mismatch'; readonly expectedSize: number; readonly actualSize: number }
  | { readonly status: 'digest-mismatch'; readonly actualSha256: string }
  | { readonly status: 'unreadable'; readonly error: FerryError };

/**
 * Content-addressed files at `<library>/blobs/sha256/ab/<hex>`: the same bytes are stored once
 * whatever paths refer to them. A blob appears only by an atomic rename of a flushed file from
 * `<library>/tmp/` (same file system), and an existing blob is checked, never overwritten while good.
 * Recording blobs in the catalog is the caller's job, after the file is in place (pnpm's CAS:
 * writeBufferToCafs, checkPkgFilesIntegrity). Its methods throw FERRY_UNSAFE_PATH (a name that is
 * not a sha256 digest), FERRY_PATH_BLOCKED (a fan-out folder that is a link or not a directory), FERRY_HASH_MISMATCH (a blob whose bytes changed), FERRY_DISK_FULL and
 * FERRY_IO naming the path.
 */
export class BlobStore {
  readonly root: string;
  readonly temp: TempArea;

  constructor(libraryDir: string) {
    this.root = join(libraryDir, 'blobs');
    this.temp = new TempArea(join(libraryDir, 'tmp'));
  }

  async ensureDirectories(): Promise<void> {
    await ensureDirectoryDurably(join(this.root, 'sha256'));
    await this.temp.ensure();
  }

  pathFor(sha256: string): string {
    assertSha256Hex(sha256);
    return join(this.root, 'sha256', sha256.slice(0, 2), sha256);
  }

  /**
   * pathFor, once the blob's fan-out folder (`blobs/sha256/ab/`) is a real directory or absent: a
   * link there would make every write, read and deletion of its blobs act outside the library.
   * Throws FERRY_UNSAFE_PATH (not a digest), FERRY_PATH_BLOCKED naming the folder, FERRY_IO.
   */
  async checkedPathFor(sha256: string): Promise<string> {
    const path = this.pathFor(sha256);
    const fanOut = dirname(path);
    const stats = await withFileErrors(fanOut, 'inspect the blob folder', () => lstatIfExists(fanOut));
    if (stats === undefined || stats.isDirectory()) return path;
    const what = stats.isSymbolicLink() ? 'A symbolic link' : fileKindOf(stats);
    throw new FerryError('FERRY_PATH_BLOCKED', `${what} is at ${fanOut}, where the library's blob folder belongs; Stream Ferry never reads, writes or deletes blobs through it.`, {
      path: fanOut,
      hint: `Move ${fanOut} out of the library (for a link, put a real directory with its blobs there instead), then run again.`,
    });
  }

  tempPath(label: string): string {
    return this.temp.tempPath(label);
  }

  /** Where an interrupted download of this blob is kept for resuming; see TempArea. */
  partialPath(sha256: string): string {
    assertSha256Hex(sha256);
    return this.temp.partialPath(sha256);
  }

  /**
   * Takes a finished temporary file whose content the caller has verified as `sha256` (while
   * downloading, so it is not read again here) and makes it the blob. The temporary file is gone
   * afterwards, moved or, when a good copy already exists, deleted.
   */
  async adopt(tempPath: string, sha256: string, size: number, options: AdoptOptions = {}): Promise<AdoptedBlob> {
    const finalPath = await this.checkedPathFor(sha256);
    const existing = await this.check(sha256, size, options.verifyExisting === true);
    if (existing.status === 'ok') {
      // No flush: these bytes are about to be deleted.
      await checkFinishedFile(tempPath, size, `blob ${sha256}`, { flush: false });
      await withFileErrors(tempPath, 'remove the duplicate', () => rm(tempPath, { force: true }));
      return { ...existing.blob, outcome: 'already-present' };
    }
    await checkFinishedFile(tempPath, size, `blob ${sha256}`, { flush: true });
    // Two processes adopting the same digest at once may both get here; the second rename then
    // replaces identical verified bytes, which readers cannot tell from the first.
    await renameIntoPlace(tempPath, finalPath);
    const stats = await withFileErrors(finalPath, 'inspect the new blob', () => lstat(finalPath));
    return {
      sha256,
      size,
      mtimeMs: mtimeMsOf(stats),
      outcome: existing.status === 'missing' ? 'stored' : 'replaced-corrupt',
    };
  }

  /** Whether a file of exactly this size is stored under the digest; a file of the wrong size is never trusted. */
  async has(sha256: string, size: number): Promise<boolean> {
    return (await this.check(sha256, size, false)).status === 'ok';
  }

  /** Re-reads the whole blob (streaming) and says whether it still is what its name promises. */
  async verify(sha256: string, expectedSize?: number): Promise<BlobCheck> {
    return this.check(sha256, expectedSize, true);
  }

  /** Deletes the blob file; answers whether there was one. The catalog row is the caller's to remove first. */
  async remove(sha256: string): Promise<boolean> {
    const path = await this.checkedPathFor(sha256);
    try {
      await unlink(path);
      return true;
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return false;
      throw fileSystemError(error, path, 'remove the blob');
    }
  }

  /** Stores bytes held in memory (metadata files). An existing copy is re-hashed, since that is cheap here. */
  async writeBytes(bytes: Uint8Array): Promise<AdoptedBlob> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const tempPath = this.tempPath(`blob-${sha256.slice(0, 16)}`);
    try {
      await withFileErrors(tempPath, 'write', () => writeFile(tempPath, bytes, { flag: 'wx' }));
      return await this.adopt(tempPath, sha256, bytes.byteLength, { verifyExisting: true });
    } catch (error) {
      await removeLeftover(tempPath);
      throw error;
    }
  }

  /** The bytes of a (small) blob, checked against its digest: a metadata file is never used unverified. */
  async readBytes(sha256: string): Promise<Buffer> {
    const path = await this.checkedPathFor(sha256);
    const bytes = await withFileErrors(path, 'read the blob', () => readFile(path));
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== sha256) {
      throw new FerryError('FERRY_HASH_MISMATCH', `The blob ${path} no longer has the content its name promises`, {
        path,
        expected: sha256,
        actual,
        hint: 'The library file was changed or damaged on disk; run the sync again to fetch it anew.',
      });
    }
    return bytes;
  }

  /** Every file in the store named like a blob, as found on disk (for startup repair). */
  async *list(): AsyncGenerator<StoredBlob> {
    const digestsDir = join(this.root, 'sha256');
    for (const fanOut of await readdirIfExists(digestsDir)) {
      if (!fanOut.isDirectory() || !FAN_OUT.test(fanOut.name)) continue;
      for (const entry of await readdirIfExists(join(digestsDir, fanOut.name))) {
        if (!entry.isFile() || !isSha256Hex(entry.name) || !entry.name.startsWith(fanOut.name)) continue;
        const stats = await lstatIfExists(join(digestsDir, fanOut.name, entry.name));
        if (stats === undefined) continue;
        yield { sha256: entry.name, size: stats.size, mtimeMs: mtimeMsOf(stats) };
      }
    }
  }

  private async check(sha256: string, expectedSize: number | undefined, rehash: boolean): Promise<BlobCheck> {
    // A name that is not a digest is the caller's error and throws; a blocked fan-out folder is this blob's.
    assertSha256Hex(sha256);
    let path: string;
    let stats: Stats;
    try {
      path = await this.checkedPathFor(sha256);
    } catch (error) {
      if (isFerryError(error)) return { status: 'unreadable', error };
      throw error;
    }
    try {
      stats = await lstat(path);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return { status: 'missing' };
      return { status: 'unreadable', error: fileSystemError(error, path, 'inspect the blob') };
    }
    if (!stats.isFile()) {
      return { status: 'unreadable', error: new FerryError('FERRY_IO', `${path} is not a regular file`, { path }) };
    }
    if (expectedSize !== undefined && stats.size !== expectedSize) {
      return { status: 'size-mismatch', expectedSize, actualSize: stats.size };
    }
    if (rehash) {
      let actualSha256: string;
      try {
        actualSha256 = (await hashFile(path, 'sha256')).sha256;
      } catch (error) {
        return { status: 'unreadable', error: fileSystemError(error, path, 'read the blob') };
      }
      if (actualSha256 !== sha256) return { status: 'digest-mismatch', actualSha256 };
    }
    return { status: 'ok', blob: { sha256, size: stats.size, mtimeMs: mtimeMsOf(stats) } };
  }
}

async function removeLeftover(path: string): Promise<void> {
  try {
    await rm(path, { force: true });
  } catch {
    // The failure that brought us here is the one to report; the next startup sweep removes this file.
  }
}
