// One file from http(s) or a file URL to a temporary path, verified in the same pass: the size and
// the listed checksum are checked as the bytes arrive, and sha256 is always computed alongside
// because the library is addressed by it. This file is the attempt loop: each attempt asks for the
// bytes still missing (resume.ts) and writes them to the partial file (partial-download.ts) while
// hashing them; the retry policy decides whether another attempt follows.

import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { throwIfCancelled } from '../base/cancel.js';
import { FerryError, redactUrl } from '../base/errors.js';
import type { HttpClient } from './agent.js';
import { watchAttempt } from './http.js';
import { createFileSink, openDirectHandle, type FileSink } from './file-sink.js';
import {
  PartialDownload,
  adoptPartialFile,
  diskError,
  openPartialFile,
  removeTempFile,
  sizeMismatchError,
  type DownloadRequest,
  type DownloadResult,
} from './partial-download.js';
import { IO_CHUNK_BYTES, openFileSource, openHttpSource } from './resume.js';
import { withRetries, type RetryPolicy } from './retry.js';

export type { DownloadRequest, DownloadResult } from './partial-download.js';

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

/**
 * One item file (http(s) or file:) to `request.path`, its size and strongest checksum checked in the
 * same pass, resuming a partial file with Range (RFC 9110 §14) and retrying by the client's policy.
 * Throws FERRY_NO_CHECKSUM (a size or checksum that cannot be checked), FERRY_SIZE_MISMATCH,
 * FERRY_HASH_MISMATCH, FERRY_RESUME_REJECTED, FERRY_CONTENT_ENCODING (a compressed answer),
 * FERRY_HTTP_STATUS, FERRY_FETCH_FAILED (with `errno`; a local file the metadata lists but the
 * mirror lacks has errno ENOENT and the listed size as `expected`), FERRY_DOWNLOAD_STALLED,
 * FERRY_REDIRECT_INSECURE, FERRY_TOO_MANY_REDIRECTS, FERRY_SOURCE_INVALID (a URL it cannot use),
 * FERRY_DISK_FULL and FERRY_IO (the partial file), FERRY_CANCELLED.
 */
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
