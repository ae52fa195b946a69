// Small files (index and products metadata) into memory, from http(s) or a file URL, never holding
// more than the caller's limit.

import { open } from 'node:fs/promises';
import { pipeline, type Readable, type Transform } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { FerryError, describeError, errnoCode, redactUrl } from '../base/errors.js';
import type { HttpClient } from './agent.js';
import {
  DEFAULT_MAX_REDIRECTS,
  discardBody,
  failForStatus,
  headerValue,
  networkError,
  openGet,
  watchAttempt,
  type OpenedResponse,
  type ResponseBody,
} from './http.js';
import { withRetries, type RetryPolicy } from './retry.js';

export interface FetchBytesOptions {
  client: HttpClient;
  maxBytes: number;
  signal?: AbortSignal;
  /** Default: the client's policy. */
  retry?: RetryPolicy;
  maxRedirects?: number;
}

export interface FetchedBytes {
  /** The body as published: a Content-Encoding the server applied (gzip, deflate, br) is undone. */
  bytes: Buffer;
  /** The URL that answered, after redirects. */
  url: string;
}

/** Content codings metadata may arrive in; the signature covers the decoded bytes (RFC 9110 §8.4). */
const DECODERS: Readonly<Record<string, () => Transform>> = {
  gzip: () => createGunzip(),
  'x-gzip': () => createGunzip(),
  deflate: () => createInflate(),
  br: () => createBrotliDecompress(),
};
const ACCEPTED_ENCODINGS = 'gzip, deflate, br';

/**
 * A metadata file (index or products) into memory: `url` is http(s) or file:, the result at most
 * `maxBytes` after decoding (FERRY_TOO_LARGE beyond). Every attempt is bounded by the client's
 * stall timer (FERRY_DOWNLOAD_STALLED) and retried by its policy; a Content-Encoding that cannot be
 * decoded is FERRY_CONTENT_ENCODING. Throws FERRY_FETCH_FAILED (with `errno` when a call failed),
 * FERRY_HTTP_STATUS, FERRY_REDIRECT_INSECURE, FERRY_TOO_MANY_REDIRECTS, FERRY_SOURCE_INVALID (a URL
 * it cannot use), FERRY_CANCELLED.
 */
export async function fetchBytes(url: string, options: FetchBytesOptions): Promise<FetchedBytes> {
  if (url.startsWith('file:')) return { bytes: await readLocalFile(url, options.maxBytes), url };
  const { client } = options;
  return withRetries(
    async (_attempt, signal) => {
      let received = 0;
      const watch = watchAttempt(url, signal, client.stallTimeoutMs, () => `after ${received} bytes`);
      try {
        const response = await openGet(client, url, {
          signal: watch.signal,
          maxRedirects: options.maxRedirects ?? DEFAULT_MAX_REDIRECTS,
          headers: { 'accept-encoding': ACCEPTED_ENCODINGS },
          // The watch bounds the gaps between chunks, with our own error and message.
          bodyTimeoutMs: 0,
        });
        watch.answered();
        if (response.statusCode !== 200) return await failForStatus(response);
        const declaredLength = headerValue(response.headers, 'content-length');
        if (declaredLength !== undefined && Number(declaredLength) > options.maxBytes) {
          await discardBody(response.body);
          throw tooLarge(response.url, options.maxBytes, `declares ${declaredLength} bytes`);
        }
        const noteBytes = (length: number): void => {
          received += length;
          watch.received(length);
        };
        const decoded = await decodedBody(response, noteBytes);
        const bytes = await readLimited(decoded ?? response.body, response.url, options.maxBytes, {
          decoding: decoded !== undefined,
          // Encoded bytes are counted as they arrive, in decodedBody.
          onChunk: decoded === undefined ? noteBytes : undefined,
        });
        return { bytes, url: response.url };
      } catch (error) {
        throw watch.failure(error);
      } finally {
        watch.dispose();
      }
    },
    options.retry ?? client.retry,
    url,
    options.signal,
  );
}

/**
 * The body through the decoders its Content-Encoding names (applied last first), or undefined when
 * it is not encoded; `onRawBytes` hears of the bytes as they arrive, before decoding.
 */
async function decodedBody(response: OpenedResponse, onRawBytes: (length: number) => void): Promise<Readable | undefined> {
  const header = headerValue(response.headers, 'content-encoding');
  const codings = (header ?? '')
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
  if (codings.length === 0) return undefined;
  const unknown = codings.find((coding) => DECODERS[coding] === undefined);
  if (unknown !== undefined) {
    await discardBody(response.body);
    throw new FerryError('FERRY_CONTENT_ENCODING', `${redactUrl(response.url)} was sent with Content-Encoding: ${header ?? ''}, which Stream Ferry cannot decode`, {
      url: response.url,
      actual: header,
      hint: 'Serve metadata uncompressed or with gzip, deflate or br (the signature covers the uncompressed file).',
    });
  }
  const decoders = codings.reverse().flatMap((coding) => DECODERS[coding]?.() ?? []);
  const last = decoders[decoders.length - 1];
  if (last === undefined) return undefined;
  const body = response.body as Readable;
  body.on('data', (chunk: Buffer) => {
    onRawBytes(chunk.length);
  });
  // Errors of any stage reach the last one, which readLimited reads; the body is destroyed with them.
  pipeline([body, ...decoders], () => undefined);
  return last;
}

async function readLimited(
  body: Readable | ResponseBody,
  url: string,
  maxBytes: number,
  { decoding, onChunk }: { decoding: boolean; onChunk: ((length: number) => void) | undefined },
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let received = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      onChunk?.(chunk.length);
      received += chunk.length;
      // Leaving the loop destroys the body, which closes the connection mid-transfer; a
      // compression bomb stops here too, counted in decoded bytes.
      if (received > maxBytes) throw tooLarge(url, maxBytes, `${decoding ? 'decodes to' : 'sent'} more than ${maxBytes} bytes`);
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof FerryError || !decoding) throw networkError(url, error);
    throw new FerryError('FERRY_CONTENT_ENCODING', `${redactUrl(url)}: the compressed body could not be decoded (${describeError(error)})`, {
      url,
      cause: error,
      hint: 'The server sent a Content-Encoding its body does not match; fetch the file by hand to check it.',
    });
  }
  return Buffer.concat(chunks, received);
}

async function readLocalFile(url: string, maxBytes: number): Promise<Buffer> {
  let path: string;
  try {
    path = fileURLToPath(url);
  } catch (error) {
    throw new FerryError('FERRY_SOURCE_INVALID', `${redactUrl(url)} is not a usable file URL`, { url, cause: error });
  }
  try {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      if (size > maxBytes) throw tooLarge(url, maxBytes, `is ${size} bytes`);
      // One byte more than the size just checked, so a file that grew since shows up as too long
      // without ever reading past the limit.
      const buffer = Buffer.allocUnsafe(size + 1);
      let filled = 0;
      while (filled < buffer.length) {
        const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      if (filled > maxBytes) throw tooLarge(url, maxBytes, 'grew while it was read');
      return buffer.subarray(0, filled);
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof FerryError) throw error;
    throw new FerryError('FERRY_FETCH_FAILED', `${path}: ${describeError(error)}`, {
      url,
      path,
      errno: errnoCode(error),
      cause: error,
      hint: 'Check that the local mirror path exists and is readable.',
    });
  }
}

function tooLarge(url: string, maxBytes: number, what: string): FerryError {
  return new FerryError('FERRY_TOO_LARGE', `${redactUrl(url)} ${what}, over the ${maxBytes}-byte limit for metadata`, {
    url,
    limit: maxBytes,
    hint: 'The URL may not point at SimpleStreams metadata; check the source.',
  });
}
