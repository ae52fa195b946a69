// One file from http(s) or a file URL to a temporary path, verified in the same pass: the size and
// the listed checksum are checked as the bytes arrive, and sha256 is always computed alongside
// because the library is addressed by it. The bytes are read once; a partial file left by an
// earlier run is read once more, only to rebuild the hash state before resuming with Range.
//
// Invariant: whenever an attempt has settled, the first `written` bytes of tempPath are exactly
// what the running hashes have seen. Every decision below (resume, start over, give up) keeps that true,
// so any attempt can resume.

import { createHash, type Hash } from 'node:crypto';
import { constants as fsConstants, createReadStream } from 'node:fs';
import { open, stat, unlink, type FileHandle } from 'node:fs/promises';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { throwIfCancelled } from '../base/cancel.js';
import { FerryError, describeError, redactUrl } from '../base/errors.js';
import { fileSystemError } from '../base/files.js';
import { CHECKSUM_HEX_LENGTHS, hashOpenFile, type Checksum, type ChecksumAlgorithm } from '../base/hashing.js';
import type { HttpClient } from './agent.js';
import {
  DEFAULT_MAX_REDIRECTS,
  discardBody,
  failForStatus,
  headerValue,
  openGet,
  parseHttpUrl,
  watchAttempt,
  type OpenedResponse,
} from './http.js';
import { createFileSink, openDirectHandle, type FileSink } from './file-sink.js';
import { withRetries, type RetryPolicy } from './retry.js';

export interface DownloadRequest {
  url: string;
  /** Where the bytes go; the caller renames the verified file into place. */
  tempPath: string;
  expectedSize: number;
  checksum: Checksum;
}

export interface DownloadOptions {
  client: HttpClient;
  signal?: AbortSignal;
  /** Default: the client's policy. */
  retry?: RetryPolicy;
  /** Default: the client's. An attempt that waits this long for anything is abandoned (and retried); see watchAttempt. */
  stallTimeoutMs?: number;
  /**
   * Bytes that now count towards the file: positive as they arrive and are hashed (and once for a
   * partial file adopted from an earlier run), negative when a download has to start over.
   */
  onBytes?: (delta: number) => void;
  maxRedirects?: number;
  /**
   * Write around the page cache (O_DIRECT) where the platform and file system allow it; default
   * true. See file-sink.ts for why.
   */
  directIo?: boolean;
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
/** How far undici reads ahead of the disk, and how much the writer batches. */
const IO_CHUNK_BYTES = 1024 * 1024;

export async function downloadFile(request: DownloadRequest, options: DownloadOptions): Promise<DownloadResult> {
  const download = new PartialDownload(request, options.onBytes);
  const signal = options.signal ?? new AbortController().signal;
  throwIfCancelled(signal);
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
    options.retry ?? options.client.retry,
    request.url,
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

/** A temp file from an earlier run is hashed so the download can continue where it stopped. */
async function adoptPartialFile(download: PartialDownload, signal: AbortSignal): Promise<void> {
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

/** One request (or one read of a local source) for the bytes still missing. Resolves to the sha256. */
async function transferOnce(download: PartialDownload, options: DownloadOptions, outerSignal: AbortSignal): Promise<string> {
  // The sink writes behind the hashes, so the position is where this attempt started plus what it received.
  let startedAt = download.written;
  let received = 0;
  const watch = watchAttempt(
    download.url,
    outerSignal,
    options.stallTimeoutMs ?? options.client.stallTimeoutMs,
    () => `at byte ${startedAt + received} of ${download.expectedSize}`,
  );
  const noteBytes = (length: number): void => {
    received += length;
    watch.received(length);
  };
  let handle: FileHandle | undefined;
  let direct: FileHandle | undefined;
  let sink: FileSink | undefined;
  try {
    handle = await openTempFile(download);
    if (options.directIo ?? true) direct = await openDirectHandle(download.path).catch((error: unknown) => {
      throw diskError(error, download);
    });
    const source =
      download.sourcePath === undefined
        ? await openHttpSource(download, handle, options, watch.signal)
        : await openFileSource(download, download.sourcePath, watch.signal);
    watch.answered();
    startedAt = download.written;
    // After the source, since an answer that restarts the file moves where the bytes go, and
    // before any await, since a body that errors before it is piped loses what it buffered.
    sink = createFileSink(handle.fd, direct, download.written, download.landing());
    const writer = new VerifyingWriter(sink, download, noteBytes);
    try {
      await pipeline(source, writer);
    } finally {
      await writer.settled();
    }
    if (sink.lostWriteback !== undefined) throw diskError(sink.lostWriteback, download);
    if (download.written < download.expectedSize) throw truncatedError(download);
    return verifyHashes(download);
  } catch (error) {
    throw watch.failure(error);
  } finally {
    watch.dispose();
    await sink?.close();
    await direct?.close();
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
  if (response.statusCode === 200 || response.statusCode === 206) await refuseContentEncoding(download, response);
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

/**
 * A body compressed despite `Accept-Encoding: identity` is not the file: its length and hashes
 * would be of the compressed bytes. Said as it is rather than as a size or checksum mismatch.
 */
async function refuseContentEncoding(download: PartialDownload, response: OpenedResponse): Promise<void> {
  const encoding = headerValue(response.headers, 'content-encoding');
  if (encoding === undefined || encoding.trim() === '' || encoding.trim().toLowerCase() === 'identity') return;
  await discardBody(response.body);
  throw new FerryError(
    'FERRY_CONTENT_ENCODING',
    `${redactUrl(download.url)}: the server compressed the file (Content-Encoding: ${encoding}) although Stream Ferry asked for it uncompressed`,
    {
      url: download.url,
      expected: 'Content-Encoding: identity (or none)',
      actual: `Content-Encoding: ${encoding}`,
      hint: 'Turn off compression for these files on the server or proxy (e.g. nginx gzip for application/octet-stream); their sizes and checksums are of the uncompressed bytes.',
    },
  );
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
 * Hashes each batch in the same pass as the sink writes it. A batch that would pass the declared
 * size is refused whole: nothing beyond it is ever written.
 */
class VerifyingWriter extends Writable {
  readonly #sink: FileSink;
  readonly #download: PartialDownload;
  readonly #noteBytes: (length: number) => void;
  /** What the sink holds back must not be written: the disk failed, or the file is discarded. */
  #abandoned = false;
  #finishing: Promise<void> | undefined;
  /** Bytes of the file once the sink has written all it was given; `written` lags behind it. */
  #taken: number;

  constructor(sink: FileSink, download: PartialDownload, noteBytes: (length: number) => void) {
    super({ highWaterMark: IO_CHUNK_BYTES });
    this.#sink = sink;
    this.#taken = download.written;
    this.#download = download;
    this.#noteBytes = noteBytes;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#take([chunk], chunk.length, callback);
  }

  override _writev(entries: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    let length = 0;
    const chunks = entries.map((entry) => {
      length += entry.chunk.length;
      return entry.chunk;
    });
    this.#take(chunks, length, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#finish().then(() => {
      callback();
    }, callback);
  }

  /**
   * Resolves once the sink has written every byte the hashes have seen (or, after a disk error,
   * once nothing is in flight), so the next attempt sees a settled `written`. A file whose
   * write-back failed is discarded rather than resumed (see FileSink.lostWriteback).
   */
  async settled(): Promise<void> {
    // A failure here was recorded by #sinkFailed; the caller sees the pipeline's error.
    if (!this.#abandoned) await this.#finish().catch(() => undefined);
    if (this.#sink.lostWriteback !== undefined) this.#download.discard();
  }

  /** Has the sink write out what it holds back; started once, by the end of the data or by settled(). */
  #finish(): Promise<void> {
    this.#finishing ??= this.#sink.finish().catch((error: unknown) => {
      throw this.#sinkFailed(error);
    });
    return this.#finishing;
  }

  #take(chunks: Buffer[], length: number, callback: (error?: Error | null) => void): void {
    this.#noteBytes(length);
    const download = this.#download;
    if (this.#taken + length > download.expectedSize) {
      this.#abandoned = true;
      download.discard();
      callback(oversizeError(download));
      return;
    }
    this.#taken += length;
    this.#sink.write(chunks, length, (error) => {
      callback(error === null ? null : this.#sinkFailed(error));
    });
    // Hashing while the sink writes the same (read-only) buffers takes the hash off the critical
    // path. The hashes run ahead of `written` until the sink reports the bytes landed.
    for (const chunk of chunks) download.receive(chunk);
  }

  /** The bytes on disk are fine for a later run, which re-hashes them; this run's hashes are not. */
  #sinkFailed(error: unknown): FerryError {
    this.#abandoned = true;
    this.#download.restart();
    return diskError(error, this.#download);
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
  return openPartialFile(download, 'write');
}

/**
 * Opens the partial file without ever following a link or waiting on a FIFO (O_NOFOLLOW,
 * O_NONBLOCK). A link at that name was planted by someone else (we only create regular files):
 * the link itself is removed and the download starts from zero in a new file, instead of writing
 * its bytes wherever the link leads. Anything else that is not a regular file (a FIFO, a device)
 * is left alone and refused with FERRY_IO. For 'read', answers undefined when there is no file
 * to resume.
 */
async function openPartialFile(download: PartialDownload, mode: 'write'): Promise<FileHandle>;
async function openPartialFile(download: PartialDownload, mode: 'read'): Promise<FileHandle | undefined>;
async function openPartialFile(download: PartialDownload, mode: 'read' | 'write'): Promise<FileHandle | undefined> {
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

/** A failure of the partial file, through the one disk-error builder (base/files.ts). */
function diskError(error: unknown, download: PartialDownload): FerryError {
  return fileSystemError(error, download.path, 'write the partial download', { url: download.url });
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
