// Small files (index and products metadata) into memory, from http(s) or a file URL, never holding
// more than the caller's limit.

import { open } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { FerryError, describeError, redactUrl } from '../engine/errors.js';
import type { HttpClient } from './agent.js';
import { DEFAULT_MAX_REDIRECTS, discardBody, failForStatus, headerValue, networkError, openGet, type ResponseBody } from './http.js';
import { DEFAULT_RETRY_POLICY, withRetries, type RetryPolicy } from './retry.js';

export interface FetchBytesOptions {
  client: HttpClient;
  maxBytes: number;
  signal?: AbortSignal;
  /** Default DEFAULT_RETRY_POLICY. */
  retry?: RetryPolicy;
  maxRedirects?: number;
}

export interface FetchedBytes {
  bytes: Buffer;
  /** The URL that answered, after redirects. */
  url: string;
}

export async function fetchBytes(url: string, options: FetchBytesOptions): Promise<FetchedBytes> {
  if (url.startsWith('file:')) return { bytes: await readLocalFile(url, options.maxBytes), url };
  return withRetries(
    async (_attempt, signal) => {
      const response = await openGet(options.client, url, {
        signal,
        maxRedirects: options.maxRedirects ?? DEFAULT_MAX_REDIRECTS,
      });
      if (response.statusCode !== 200) return failForStatus(response);
      const declaredLength = headerValue(response.headers, 'content-length');
      if (declaredLength !== undefined && Number(declaredLength) > options.maxBytes) {
        await discardBody(response.body);
        throw tooLarge(response.url, options.maxBytes, `declares ${declaredLength} bytes`);
      }
      return { bytes: await readLimited(response.body, response.url, options.maxBytes), url: response.url };
    },
    options.retry ?? DEFAULT_RETRY_POLICY,
    options.signal,
  );
}

async function readLimited(body: ResponseBody, url: string, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let received = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      received += chunk.length;
      // Leaving the loop destroys the body, which closes the connection mid-transfer.
      if (received > maxBytes) throw tooLarge(url, maxBytes, `sent more than ${maxBytes} bytes`);
      chunks.push(chunk);
    }
  } catch (error) {
    throw networkError(url, error);
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
      cause: error,
      hint: 'Check that the local mirror path exists and is readable.',
    });
  }
}

function tooLarge(url: string, maxBytes: number, what: string): FerryError {
  return new FerryError('FERRY_TOO_LARGE', `${redactUrl(url)} ${what}, over the ${maxBytes}-byte limit for metadata`, {
    url,
    hint: 'The URL may not point at SimpleStreams metadata; check the source.',
  });
}
