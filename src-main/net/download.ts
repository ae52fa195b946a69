// One file from http(s) or a file URL to a temporary path, verified in the same pass: the size and
// the listed checksum are checked as the bytes arrive, and sha256 is always computed alongside
// because the library is addressed by it. The bytes are read once; a partial file left by an
// earlier run is read once more, only to rebuild the hash state before resuming with Range.
//
// Invariant: whenever no write is in flight, the first `written` bytes of tempPath are exactly what
// the running hashes have seen. Every decision below (resume, start over, give up) keeps that true,
// so any attempt can resume.

import { createHash, type Hash } from 'node:crypto';
import { constants as fsConstants, createReadStream, fdatasync, writev } from 'node:fs';
import { open, stat, unlink, type FileHandle } from 'node:fs/promises';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { FerryError, describeError, redactUrl } from '../engine/errors.js';
import type { HttpClient } from './agent.js';
import { DEFAULT_MAX_REDIRECTS, discardBody, failForStatus, headerValue, networkError, openGet, parseHttpUrl, type OpenedResponse } from './http.js';
import { DEFAULT_RETRY_POLICY, cancelledError, withRetries, type RetryPolicy } from './retry.js';

export type ChecksumAlgorithm = 'sha512' | 'sha256' | 'md5';

export interface DownloadRequest {
  url: string;
  /** Where the bytes go; the caller renames the verified file into place. */
  tempPath: string;
  expectedSize: number;
  checksum: { algorithm: ChecksumAlgorithm; hex: string };
}

export interface DownloadOptions {
  client: HttpClient;
  signal?: AbortSignal;
  /** Default DEFAULT_RETRY_POLICY. */
  retry?: RetryPolicy;
  /** An attempt that receives no byte for this long is abandoned (and retried). */
  stallTimeoutMs: number;
  /**
   * Bytes that now count towards the file: positive as they are written (and once for a partial
   * file adopted from an earlier run), negative when a download has to start over.
   */
  onBytes?: (delta: number) => void;
  maxRedirects?: number;
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

/** How far undici reads ahead of the disk, how much the writer batches, and the re-hash buffer. */
const IO_CHUNK_BYTES = 1024 * 1024;
/**
 * Bytes written since a file's last flush after which the writer asks the disk for them while the
 * download goes on. Without it nothing reaches the disk until the caller's fsync before the rename,
 * which then waits for the whole file: with files of hundreds of MB that wait was ~1.3 s of a
 * 2.9 GiB mirror, while the disk idled during the transfers. The final fsync is kept; it only
 * finds less to do.
 */
const EARLY_FLUSH_BYTES = 32 * 1024 * 1024;
/** Early flushes at once, over all downloads: each holds a thread-pool thread the writes need too. */
const MAX_EARLY_FLUSHES = 1;
let earlyFlushesInFlight = 0;
const HEX_LENGTHS: Record<ChecksumAlgorithm, number> = { sha512: 128, sha256: 64, md5: 32 };

export async function downloadFile(request: DownloadRequest, options: DownloadOptions): Promise<DownloadResult> {
  const download = new PartialDownload(request, options.onBytes);
  const signal = options.signal ?? new AbortController().signal;
  if (signal.aborted) throw cancelledError(signal);
  await adoptPartialFile(download, signal);
  if (download.resumedFrom > 0 && download.written === request.expectedSize) {
    // A previous run got every byte but stopped before the rename; no request needed if they are right.
    const { matches, sha256 } = download.finishHashes();
    if (matches) return download.result(sha256, 0);
    download.discard();
    await removeTempFile(download);
  }
  let attempts = 0;
  const sha256 = await withRetries(
    (attempt, retrySignal) => {
      attempts = attempt;
      return transferOnce(download, options, retrySignal);
    },
    options.retry ?? DEFAULT_RETRY_POLICY,
    signal,
  );
  return download.result(sha256, attempts);
}

interface ResourceValidator {
  etag: string | undefined;
  lastModified: string | undefined;
}

/** The state of one file across attempts: how much is on disk, and the hashes of those bytes. */
class PartialDownload {
  readonly url: string;
  readonly path: string;
  readonly expectedSize: number;
  readonly algorithm: ChecksumAlgorithm;
  readonly expectedHex: string;
  readonly sourcePath: string | undefined;
  readonly #onBytes: (delta: number) => void;
  written = 0;
  transferred = 0;
  resumedFrom = 0;
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
    if (!new RegExp(`^[0-9a-fA-F]{${HEX_LENGTHS[checksum.algorithm]}}$`).test(checksum.hex)) {
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

  hash(chunk: Buffer): void {
    this.#listedHash.update(chunk);
    this.#sha256Hash?.update(chunk);
  }

  /** `length` bytes were written after the existing ones and hashed. */
  advance(length: number, fromSource: boolean): void {
    this.written += length;
    if (fromSource) this.transferred += length;
    this.#onBytes(length);
  }

  /** Back to zero bytes: a fresh hash state, and the progress already reported taken back. */
  restart(): void {
    if (this.written > 0) this.#onBytes(-this.written);
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

/** A temp file from an earlier run is hashed so the download can continue where it stopped. */
async function adoptPartialFile(download: PartialDownload, signal: AbortSignal): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(download.path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw diskError(error, download);
  }
  try {
    const { size } = await handle.stat();
    if (size > download.expectedSize) {
      download.discard();
      return;
    }
    const buffer = Buffer.allocUnsafe(Math.min(IO_CHUNK_BYTES, Math.max(size, 1)));
    let position = 0;
    while (position < size) {
      if (signal.aborted) throw cancelledError(signal);
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, size - position), position);
      if (bytesRead === 0) break;
      download.hash(buffer.subarray(0, bytesRead));
      position += bytesRead;
    }
    if (position > 0) {
      download.advance(position, false);
      download.resumedFrom = position;
    }
  } catch (error) {
    throw error instanceof FerryError ? error : diskError(error, download);
  } finally {
    await handle.close();
    if (download.discardRequested) await removeTempFile(download);
  }
}

/** One request (or one read of a local source) for the bytes still missing. Resolves to the sha256. */
async function transferOnce(download: PartialDownload, options: DownloadOptions, outerSignal: AbortSignal): Promise<string> {
  const attempt = new AbortController();
  const cancel = (): void => {
    attempt.abort(cancelledError(outerSignal));
  };
  outerSignal.addEventListener('abort', cancel, { once: true });
  const stallTimer = setTimeout(() => {
    attempt.abort(stalledError(download, options.stallTimeoutMs));
  }, options.stallTimeoutMs);
  const noteActivity = (): void => {
    stallTimer.refresh();
  };
  let handle: FileHandle | undefined;
  try {
    handle = await openTempFile(download);
    const source =
      download.sourcePath === undefined
        ? await openHttpSource(download, handle, options, attempt.signal)
        : await openFileSource(download, download.sourcePath, attempt.signal);
    const writer = new VerifyingWriter(handle.fd, download, noteActivity);
    try {
      await pipeline(source, writer);
    } finally {
      await writer.settled();
    }
    if (writer.flushError !== undefined) throw diskError(writer.flushError, download);
    if (download.written < download.expectedSize) throw truncatedError(download);
    return verifyHashes(download);
  } catch (error) {
    throw attempt.signal.aborted && attempt.signal.reason instanceof FerryError
      ? attempt.signal.reason
      : networkError(download.url, error);
  } finally {
    clearTimeout(stallTimer);
    outerSignal.removeEventListener('abort', cancel);
    await handle?.close();
    if (download.discardRequested) await removeTempFile(download);
  }
}

async function openHttpSource(
  download: PartialDownload,
  handle: FileHandle,
  options: DownloadOptions,
  signal: AbortSignal,
): Promise<Readable> {
  const offset = download.written;
  // Compressed transfer would make the byte counts meaningless for Range and size checks.
  const headers: Record<string, string> = { 'accept-encoding': 'identity' };
  if (offset > 0) {
    headers.range = `bytes=${offset}-`;
    const ifRange = download.ifRange();
    if (ifRange !== undefined) headers['if-range'] = ifRange;
  }
  const response = await openGet(options.client, download.url, {
    headers,
    signal,
    maxRedirects: options.maxRedirects ?? DEFAULT_MAX_REDIRECTS,
    highWaterMark: IO_CHUNK_BYTES,
    // The stall timer covers the gaps between chunks, with our own error code.
    bodyTimeoutMs: 0,
  });
  switch (response.statusCode) {
    case 200: {
      download.noteValidator(response);
      const declared = headerValue(response.headers, 'content-length');
      if (declared !== undefined && Number(declared) !== download.expectedSize) {
        await discardBody(response.body);
        download.discard();
        throw sizeMismatchError(download, `the server offers ${declared} bytes`, declared);
      }
      if (offset > 0) {
        // Range ignored, or If-Range found a newer file: this body is the whole file.
        download.restart();
        await handle.truncate(0).catch((error: unknown) => {
          throw diskError(error, download);
        });
      }
      return response.body;
    }
    case 206: {
      const changed = download.noteValidator(response);
      const range = parseContentRange(headerValue(response.headers, 'content-range'));
      const refusal = changed
        ? 'the file changed on the server'
        : range === undefined
          ? 'the answer has no usable Content-Range'
          : range.start !== offset
            ? `the server resumed at byte ${range.start}, not ${offset}`
            : undefined;
      if (refusal !== undefined) {
        await discardBody(response.body);
        download.discard();
        throw resumeRejected(download, refusal);
      }
      if (range?.total !== undefined && range.total !== download.expectedSize) {
        await discardBody(response.body);
        download.discard();
        throw sizeMismatchError(download, `the server has ${range.total} bytes`, String(range.total));
      }
      return response.body;
    }
    case 416:
      if (offset > 0) {
        await discardBody(response.body);
        download.discard();
        throw resumeRejected(download, `the server cannot send from byte ${offset}`);
      }
      return failForStatus(response);
    default:
      return failForStatus(response);
  }
}

async function openFileSource(download: PartialDownload, sourcePath: string, signal: AbortSignal): Promise<Readable> {
  let size: number;
  try {
    ({ size } = await stat(sourcePath));
  } catch (error) {
    // A filtered mirror keeps upstream's full metadata, so its listing names files it never held.
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new FerryError('FERRY_FETCH_FAILED', missing ? `${sourcePath} is listed by the source's metadata but is not in the local mirror` : `${sourcePath}: ${describeError(error)}`, {
      url: download.url,
      path: sourcePath,
      cause: error,
      hint: missing
        ? 'A mirror made with filters or --max still lists every upstream item: select only what it holds (e.g. --max 1), or mirror from the original source.'
        : 'Check that the local mirror is mounted and readable.',
    });
  }
  if (size !== download.expectedSize) {
    download.discard();
    throw sizeMismatchError(download, `the source file has ${size} bytes`, String(size));
  }
  return createReadStream(sourcePath, { start: download.written, highWaterMark: IO_CHUNK_BYTES, signal });
}

/**
 * Writes each batch at the position after the bytes already there and hashes it in the same pass.
 * A batch that would pass the declared size is refused whole: nothing beyond it is ever written.
 */
class VerifyingWriter extends Writable {
  readonly #fd: number;
  readonly #download: PartialDownload;
  readonly #noteActivity: () => void;
  /** Reused for single-chunk writes, so the common path allocates nothing. */
  readonly #single: Buffer[] = [];
  #chunks: Buffer[] = this.#single;
  #length = 0;
  #callback: ((error?: Error | null) => void) | undefined;
  #idleWaiters: Array<() => void> = [];
  /** Bytes written since the last early flush began. */
  #unflushed = 0;
  #flushing = false;
  /** A failed early flush; the file is discarded (see settled()). */
  flushError: NodeJS.ErrnoException | undefined;

  constructor(fd: number, download: PartialDownload, noteActivity: () => void) {
    super({ highWaterMark: IO_CHUNK_BYTES });
    this.#fd = fd;
    this.#download = download;
    this.#noteActivity = noteActivity;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#single[0] = chunk;
    this.#start(this.#single, chunk.length, callback);
  }

  override _writev(entries: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    let length = 0;
    const chunks = entries.map((entry) => {
      length += entry.chunk.length;
      return entry.chunk;
    });
    this.#start(chunks, length, callback);
  }

  /**
   * Resolves once no write or flush is in flight, so the next attempt sees a settled `written` and
   * the file can be closed. After a failed flush the file is discarded rather than resumed: Linux
   * may mark the pages clean after reporting the error, so a later fsync could succeed without
   * ever having written them.
   */
  async settled(): Promise<void> {
    if (this.#callback !== undefined || this.#flushing) await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    if (this.flushError !== undefined) this.#download.discard();
  }

  #start(chunks: Buffer[], length: number, callback: (error?: Error | null) => void): void {
    this.#noteActivity();
    const download = this.#download;
    if (this.flushError !== undefined) {
      callback(diskError(this.flushError, download));
      return;
    }
    if (download.written + length > download.expectedSize) {
      download.discard();
      callback(oversizeError(download));
      return;
    }
    this.#chunks = chunks;
    this.#length = length;
    this.#callback = callback;
    writev(this.#fd, chunks, download.written, this.#afterWrite);
    // Hashing while the thread pool writes the same (read-only) buffers takes the hash off the
    // critical path. The hashes now run ahead of `written` until the write lands; if it fails,
    // #afterWrite drops the hash state.
    for (const chunk of chunks) download.hash(chunk);
  }

  readonly #afterWrite = (error: NodeJS.ErrnoException | null, bytesWritten: number): void => {
    const download = this.#download;
    if (error !== null) {
      // The bytes on disk are fine for a later run, which re-hashes them; this run's hashes are not.
      download.restart();
      this.#finish(diskError(error, download));
      return;
    }
    download.advance(bytesWritten, true);
    this.#unflushed += bytesWritten;
    this.#flushEarly();
    if (bytesWritten === this.#length) {
      this.#finish(null);
      return;
    }
    // A short write (rare: the disk filling up, a signal): write the rest after what landed.
    const remaining: Buffer[] = [];
    let landed = bytesWritten;
    for (const chunk of this.#chunks) {
      if (landed >= chunk.length) landed -= chunk.length;
      else {
        remaining.push(chunk.subarray(landed));
        landed = 0;
      }
    }
    this.#chunks = remaining;
    this.#length -= bytesWritten;
    writev(this.#fd, remaining, download.written, this.#afterWrite);
  };

  /** Starts an early flush when enough is written and no other is running (see EARLY_FLUSH_BYTES). */
  #flushEarly(): void {
    if (this.#flushing || this.#unflushed < EARLY_FLUSH_BYTES || earlyFlushesInFlight >= MAX_EARLY_FLUSHES) return;
    this.#flushing = true;
    this.#unflushed = 0;
    earlyFlushesInFlight += 1;
    fdatasync(this.#fd, (error) => {
      earlyFlushesInFlight -= 1;
      this.#flushing = false;
      if (error !== null) this.flushError ??= error;
      this.#wakeIfIdle();
    });
  }

  #finish(error: Error | null): void {
    const callback = this.#callback;
    this.#callback = undefined;
    this.#single.length = 0;
    callback?.(error);
    this.#wakeIfIdle();
  }

  #wakeIfIdle(): void {
    if (this.#callback !== undefined || this.#flushing) return;
    const waiters = this.#idleWaiters;
    if (waiters.length > 0) {
      this.#idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }
}

/** Compares the finished hash with the listed one; a mismatch discards the file (retried from zero). */
function verifyHashes(download: PartialDownload): string {
  const { matches, listed, sha256 } = download.finishHashes();
  if (matches) return sha256;
  download.discard();
  throw new FerryError('FERRY_HASH_MISMATCH', `${redactUrl(download.url)}: the ${download.algorithm} checksum does not match`, {
    url: download.url,
    path: download.path,
    expected: download.expectedHex,
    actual: listed,
    hint: 'The bytes received differ from the signed metadata. The download starts again from zero; if this persists the mirror may be corrupt or mid-update.',
  });
}

async function openTempFile(download: PartialDownload): Promise<FileHandle> {
  try {
    // Positional writes, so no O_APPEND (which would ignore the position) and no O_TRUNC.
    return await open(download.path, fsConstants.O_RDWR | fsConstants.O_CREAT, 0o644);
  } catch (error) {
    throw diskError(error, download);
  }
}

async function removeTempFile(download: PartialDownload): Promise<void> {
  download.discardRequested = false;
  try {
    await unlink(download.path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw diskError(error, download);
  }
}

function parseContentRange(value: string | undefined): { start: number; total: number | undefined } | undefined {
  const match = value === undefined ? null : /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(value.trim());
  if (match === null) return undefined;
  const [, start, total] = match;
  return { start: Number(start), total: total === '*' || total === undefined ? undefined : Number(total) };
}

function localSourcePath(url: string): string {
  try {
    return fileURLToPath(url);
  } catch (error) {
    throw new FerryError('FERRY_SOURCE_INVALID', `${redactUrl(url)} is not a usable file URL`, { url, cause: error });
  }
}

function diskError(error: unknown, download: PartialDownload): FerryError {
  const code = (error as NodeJS.ErrnoException).code;
  const from = `(downloading ${redactUrl(download.url)})`;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new FerryError('FERRY_DISK_FULL', `No space left to write ${download.path} ${from}`, {
      path: download.path,
      url: download.url,
      cause: error,
      hint: 'Free some space and run again; the partial download is kept and resumes where it stopped.',
    });
  }
  return new FerryError('FERRY_IO', `${download.path}: ${describeError(error)} ${from}`, {
    path: download.path,
    url: download.url,
    cause: error,
    hint: ioHint(code),
  });
}

function ioHint(code: string | undefined): string {
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'Stream Ferry may not write there; check the permissions of the library folder.';
    case 'EROFS':
      return 'The filesystem is read-only; choose a writable library location.';
    case 'ENOENT':
    case 'ENOTDIR':
      return 'The folder for downloads does not exist; check the library location.';
    default:
      return 'Check the disk holding the library.';
  }
}

function stalledError(download: PartialDownload, stallTimeoutMs: number): FerryError {
  return new FerryError(
    'FERRY_DOWNLOAD_STALLED',
    `${redactUrl(download.url)}: no data for ${stallTimeoutMs} ms (at byte ${download.written} of ${download.expectedSize})`,
    { url: download.url },
  );
}

function truncatedError(download: PartialDownload): FerryError {
  return sizeMismatchError(
    download,
    `the transfer ended after ${download.written} bytes`,
    String(download.written),
  );
}

function oversizeError(download: PartialDownload): FerryError {
  return sizeMismatchError(download, 'the server sent more bytes than that', `more than ${download.expectedSize}`);
}

function sizeMismatchError(download: PartialDownload, what: string, actual: string): FerryError {
  return new FerryError('FERRY_SIZE_MISMATCH', `${redactUrl(download.url)}: the metadata lists ${download.expectedSize} bytes but ${what}`, {
    url: download.url,
    expected: String(download.expectedSize),
    actual,
  });
}

function resumeRejected(download: PartialDownload, reason: string): FerryError {
  return new FerryError('FERRY_RESUME_REJECTED', `${redactUrl(download.url)}: could not resume (${reason}); starting over`, {
    url: download.url,
  });
}
