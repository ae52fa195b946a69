// The partial file of one download and the state that goes with it: how many of its bytes are on
// disk and the running hashes of exactly those bytes. A partial file left by an earlier run is read
// once, only to rebuild the hash state before resuming (see resume.ts).
//
// Invariant: whenever an attempt has settled, the first `written` bytes of the partial file are
// exactly what the running hashes have seen. Every decision (resume, start over, give up) keeps
// that true, so any attempt can resume.

import { createHash, type Hash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { FerryError, redactUrl } from '../base/errors.js';
import { fileSystemError } from '../base/files.js';
import { CHECKSUM_HEX_LENGTHS, hashOpenFile, type Checksum, type ChecksumAlgorithm } from '../base/hashing.js';
import { headerValue, parseHttpUrl, type OpenedResponse } from './http.js';

export interface DownloadRequest {
  url: string;
  /** Where the bytes go; the caller renames the verified file into place. */
  tempPath: string;
  expectedSize: number;
  checksum: Checksum;
}

export interface DownloadResult {
  sha256: string;
  size: number;
  /** Bytes received from the source in this call, including any that had to be discarded. */
  bytesTransferred: number;
  /** Bytes of the result taken from a partial file that existed before this call. */
  resumedFrom: number;
  /** Requests made; 0 when an existing partial file was already complete. */
  attempts: number;
}

/**
 * Opening a partial file never follows a link at its name (ELOOP instead) nor waits for a FIFO's
 * other end. Windows has neither flag; creating links there needs privileges.
 */
const OPEN_OWN_FILE_ONLY = ((fsConstants.O_NOFOLLOW as number | undefined) ?? 0) | ((fsConstants.O_NONBLOCK as number | undefined) ?? 0);

interface ResourceValidator {
  etag: string | undefined;
  lastModified: string | undefined;
}

/** The state of one file across attempts: how much is on disk, and the hashes of those bytes. */
export class PartialDownload {
  readonly url: string;
  readonly path: string;
  readonly expectedSize: number;
  readonly algorithm: ChecksumAlgorithm;
  readonly expectedHex: string;
  readonly sourcePath: string | undefined;
  readonly #onBytes: (delta: number) => void;
  /** Bytes in the file that the hashes have seen. */
  written = 0;
  transferred = 0;
  resumedFrom = 0;
  /** Bytes reported through onBytes: ahead of `written` while the sink holds some back. */
  #counted = 0;
  /** Counts restarts; see landing(). */
  #generation = 0;
  /** Set when the file on disk must go; acted on once the file is closed. */
  discardRequested = false;
  #validator: ResourceValidator | undefined;
  #listedHash!: Hash;
  #sha256Hash: Hash | undefined;

  constructor(request: DownloadRequest, onBytes: ((delta: number) => void) | undefined) {
    const { url, tempPath, expectedSize, checksum } = request;
    if (!Number.isSafeInteger(expectedSize) || expectedSize < 0) {
      throw new FerryError('FERRY_NO_CHECKSUM', `${redactUrl(url)}: the size ${expectedSize} is not a byte count`, { url });
    }
    if (!new RegExp(`^[0-9a-fA-F]{${CHECKSUM_HEX_LENGTHS[checksum.algorithm]}}$`).test(checksum.hex)) {
      throw new FerryError('FERRY_NO_CHECKSUM', `${redactUrl(url)}: "${checksum.hex}" is not a ${checksum.algorithm} checksum`, {
        url,
      });
    }
    this.url = url;
    this.path = tempPath;
    this.expectedSize = expectedSize;
    this.algorithm = checksum.algorithm;
    this.expectedHex = checksum.hex.toLowerCase();
    if (url.startsWith('file:')) {
      this.sourcePath = localSourcePath(url);
    } else {
      parseHttpUrl(url);
      this.sourcePath = undefined;
    }
    this.#onBytes = onBytes ?? (() => {});
    this.#startHashes();
  }

  /** The running hash states, for bytes read back from a partial file (then adopt them). */
  hashes(): Hash[] {
    return this.#sha256Hash === undefined ? [this.#listedHash] : [this.#listedHash, this.#sha256Hash];
  }

  /** A chunk from the source, hashed as it is handed to the disk. */
  receive(chunk: Buffer): void {
    this.#listedHash.update(chunk);
    this.#sha256Hash?.update(chunk);
    this.transferred += chunk.length;
    this.#count(chunk.length);
  }

  /**
   * Where a sink reports that `length` more hashed bytes are in the file. A write still in flight
   * when the download restarts lands in a file that is being replaced: it no longer counts.
   */
  landing(): (length: number) => void {
    const generation = this.#generation;
    return (length) => {
      if (generation === this.#generation) this.written += length;
    };
  }

  /** The first `length` bytes of a partial file from an earlier run, already hashed. */
  adopt(length: number): void {
    this.written = length;
    this.resumedFrom = length;
    this.#count(length);
  }

  #count(length: number): void {
    this.#counted += length;
    this.#onBytes(length);
  }

  /** Back to zero bytes: a fresh hash state, and the progress already reported taken back. */
  restart(): void {
    if (this.#counted > 0) this.#onBytes(-this.#counted);
    this.#counted = 0;
    this.#generation += 1;
    this.written = 0;
    this.resumedFrom = 0;
    this.#startHashes();
  }

  /** Start over, and delete the file once it is closed: it holds bytes that must not be resumed. */
  discard(): void {
    this.restart();
    this.discardRequested = true;
  }

  /** Ends the hash states (a later restart makes new ones) and compares with the listed checksum. */
  finishHashes(): { matches: boolean; listed: string; sha256: string } {
    const listed = this.#listedHash.digest('hex');
    const sha256 = this.#sha256Hash?.digest('hex') ?? listed;
    return { matches: listed === this.expectedHex, listed, sha256 };
  }

  /** Records the answer's validator; true when it differs from the one seen earlier in this run. */
  noteValidator(response: OpenedResponse): boolean {
    const current = {
      etag: headerValue(response.headers, 'etag'),
      lastModified: headerValue(response.headers, 'last-modified'),
    };
    const previous = this.#validator;
    this.#validator = current;
    if (previous === undefined) return false;
    if (previous.etag !== undefined && current.etag !== undefined) return previous.etag !== current.etag;
    if (previous.lastModified !== undefined && current.lastModified !== undefined) {
      return previous.lastModified !== current.lastModified;
    }
    return false;
  }

  /** If-Range needs a strong ETag or a date (RFC 9110 §13.1.5). */
  ifRange(): string | undefined {
    const etag = this.#validator?.etag;
    if (etag !== undefined && !etag.startsWith('W/')) return etag;
    return this.#validator?.lastModified;
  }

  result(sha256: string, attempts: number): DownloadResult {
    return {
      sha256,
      size: this.expectedSize,
      bytesTransferred: this.transferred,
      resumedFrom: this.resumedFrom,
      attempts,
    };
  }

  #startHashes(): void {
    this.#listedHash = createHash(this.algorithm);
    this.#sha256Hash = this.algorithm === 'sha256' ? undefined : createHash('sha256');
  }
}

/**
 * A temp file from an earlier run is hashed so the download can continue where it stopped; one
 * longer than the listed size is discarded. Throws FERRY_CANCELLED, FERRY_IO, FERRY_DISK_FULL.
 */
export async function adoptPartialFile(download: PartialDownload, signal: AbortSignal): Promise<void> {
  const handle = await openPartialFile(download, 'read');
  if (handle === undefined) return;
  try {
    const { size } = await handle.stat();
    if (size > download.expectedSize) {
      download.discard();
      return;
    }
    const adopted = await hashOpenFile(handle, download.hashes(), { length: size, signal });
    if (adopted > 0) download.adopt(adopted);
  } catch (error) {
    throw diskError(error, download);
  } finally {
    await handle.close();
    if (download.discardRequested) await removeTempFile(download);
  }
}

/**
 * Opens the partial file without ever following a link or waiting on a FIFO (O_NOFOLLOW,
 * O_NONBLOCK). A link at that name was planted by someone else (we only create regular files):
 * the link itself is removed and the download starts from zero in a new file, instead of writing
 * its bytes wherever the link leads. Anything else that is not a regular file (a FIFO, a device)
 * is left alone and refused with FERRY_IO. For 'read', answers undefined when there is no file
 * to resume.
 */
export async function openPartialFile(download: PartialDownload, mode: 'write'): Promise<FileHandle>;
export async function openPartialFile(download: PartialDownload, mode: 'read'): Promise<FileHandle | undefined>;
export async function openPartialFile(download: PartialDownload, mode: 'read' | 'write'): Promise<FileHandle | undefined> {
  // Positional writes, so no O_APPEND (which would ignore the position) and no O_TRUNC.
  const flags = (mode === 'read' ? fsConstants.O_RDONLY : fsConstants.O_RDWR | fsConstants.O_CREAT) | OPEN_OWN_FILE_ONLY;
  let handle: FileHandle | undefined;
  // Bounded: a process that keeps planting links gets an error, not a busy loop.
  for (let attempt = 1; handle === undefined; attempt += 1) {
    try {
      handle = await open(download.path, flags, 0o644);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && mode === 'read') return undefined;
      // ELOOP: a link at the name (FreeBSD says EMLINK).
      if ((code !== 'ELOOP' && code !== 'EMLINK') || attempt === 3) throw diskError(error, download);
      await removeTempFile(download);
      // Bytes already hashed went to the link's target, not to the file about to be created.
      download.restart();
    }
  }
  if ((await handle.stat()).isFile()) return handle;
  await handle.close();
  throw new FerryError('FERRY_IO', `${download.path} is not a regular file (downloading ${redactUrl(download.url)})`, {
    path: download.path,
    url: download.url,
    hint: 'Something other than Stream Ferry put it there; remove it, then run again.',
  });
}

/** Deletes the partial file (gone already is fine). Throws FERRY_IO. */
export async function removeTempFile(download: PartialDownload): Promise<void> {
  download.discardRequested = false;
  try {
    await unlink(download.path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw diskError(error, download);
  }
}

function localSourcePath(url: string): string {
  try {
    return fileURLToPath(url);
  } catch (error) {
    throw new FerryError('FERRY_SOURCE_INVALID', `${redactUrl(url)} is not a usable file URL`, { url, cause: error });
  }
}

/** A failure of the partial file, through the one disk-error builder (base/files.ts). */
export function diskError(error: unknown, download: PartialDownload): FerryError {
  return fileSystemError(error, download.path, 'write the partial download', { url: download.url });
}

/** FERRY_SIZE_MISMATCH: the listed size against `what` the source or the transfer showed. */
export function sizeMismatchError(download: PartialDownload, what: string, actual: string): FerryError {
  return new FerryError('FERRY_SIZE_MISMATCH', `${redactUrl(download.url)}: the metadata lists ${download.expectedSize} bytes but ${what}`, {
    url: download.url,
    expected: String(download.expectedSize),
    actual,
  });
}
