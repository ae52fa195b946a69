// Resuming: where the missing bytes of a partial file come from. Over HTTP, a Range request from
// the first byte not on disk, guarded by If-Range, and every answer that cannot continue the same
// bytes refused (a changed validator, a Content-Range elsewhere, a different total) so the attempt
// loop starts over; from a file URL, a read from that offset.

import { createReadStream } from 'node:fs';
import { stat, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { FerryError, describeError, errnoCode, redactUrl } from '../base/errors.js';
import type { HttpClient } from './agent.js';
import { DEFAULT_MAX_REDIRECTS, discardBody, failForStatus, headerValue, openGet, type OpenedResponse } from './http.js';
import { diskError, sizeMismatchError, type PartialDownload } from './partial-download.js';

/** How far undici reads ahead of the disk, and how much the writer batches. */
export const IO_CHUNK_BYTES = 1024 * 1024;

/**
 * The body carrying the bytes from `download.written` on: a Range request (with If-Range) when
 * some are on disk. A 200 to a Range request restarts the file (truncated to zero). Throws
 * FERRY_RESUME_REJECTED (changed file, wrong Content-Range, 416), FERRY_SIZE_MISMATCH (the server
 * offers another size), FERRY_CONTENT_ENCODING, FERRY_HTTP_STATUS; the first two discard the file.
 */
export async function openHttpSource(
  download: PartialDownload,
  handle: FileHandle,
  options: { client: HttpClient; maxRedirects?: number | undefined },
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

/**
 * A read of a file URL's file from `download.written` on. Throws FERRY_FETCH_FAILED (missing or
 * unreadable, with `errno`; a missing file has the listed size as `expected`) and
 * FERRY_SIZE_MISMATCH (another size than listed).
 */
export async function openFileSource(download: PartialDownload, sourcePath: string, signal: AbortSignal): Promise<Readable> {
  let size: number;
  try {
    ({ size } = await stat(sourcePath));
  } catch (error) {
    // A filtered mirror keeps upstream's full metadata, so its listing names files it never held.
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new FerryError('FERRY_FETCH_FAILED', missing ? `${sourcePath} is listed by the source's metadata but is not in the local mirror` : `${sourcePath}: ${describeError(error)}`, {
      url: download.url,
      path: sourcePath,
      // The size the metadata lists: with errno ENOENT, the fact that an item listed is absent.
      expected: String(download.expectedSize),
      errno: errnoCode(error),
      cause: error,
      hint: missing
        ? 'A mirror made with filters or a version limit still lists every upstream item: select only what it holds, or mirror from the original source.'
        : 'Check that the local mirror is mounted and readable.',
    });
  }
  if (size !== download.expectedSize) {
    download.discard();
    throw sizeMismatchError(download, `the source file has ${size} bytes`, String(size));
  }
  return createReadStream(sourcePath, { start: download.written, highWaterMark: IO_CHUNK_BYTES, signal });
}

function parseContentRange(value: string | undefined): { start: number; total: number | undefined } | undefined {
  const match = value === undefined ? null : /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(value.trim());
  if (match === null) return undefined;
  const [, start, total] = match;
  return { start: Number(start), total: total === '*' || total === undefined ? undefined : Number(total) };
}

function resumeRejected(download: PartialDownload, reason: string): FerryError {
  return new FerryError('FERRY_RESUME_REJECTED', `${redactUrl(download.url)}: could not resume (${reason}); starting over`, {
    url: download.url,
  });
}
