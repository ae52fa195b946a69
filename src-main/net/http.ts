// One GET with our redirect rules, shared by fetch-bytes and download. Redirects are followed here
// rather than by undici's redirect interceptor because we must refuse https→http, report the final
// URL, and keep credentials from leaking to another origin.

import type { IncomingHttpHeaders } from 'node:http';
import { request, type Dispatcher } from 'undici';
import { cancelledError } from '../base/cancel.js';
import { FerryError, UNTRUSTED_CERTIFICATE_CODES, describeError, errnoCode, redactUrl } from '../base/errors.js';
import { formatSeconds } from '../base/format.js';
import type { HttpClient } from './agent.js';
import { HttpStatusError } from './status-error.js';

export const DEFAULT_MAX_REDIRECTS = 5;

export type ResponseBody = Dispatcher.ResponseData['body'];

export interface OpenedResponse {
  /** The URL that answered, after redirects. */
  url: string;
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: ResponseBody;
}

export interface OpenGetOptions {
  headers?: Record<string, string>;
  signal: AbortSignal;
  maxRedirects: number;
  /** Bytes undici may buffer ahead of the consumer. */
  highWaterMark?: number;
  /** undici's gap-between-chunks limit; 0 when the caller runs its own stall timer. */
  bodyTimeoutMs?: number;
}

/**
 * Below this average rate over a whole stall window a transfer counts as stalled: a server that
 * drips a byte now and then would otherwise hold an attempt open for ever.
 */
export const MIN_BYTES_PER_SECOND = 1024;

/** One attempt's bounds: the caller's cancellation plus the stall timer, as one signal. */
export interface AttemptWatch {
  /** Aborts when the caller cancels or the attempt waits too long; pass it to the request. */
  readonly signal: AbortSignal;
  /** The response headers (or a local file) are here; from now on the body is waited for. */
  answered(): void;
  /** `length` more body bytes arrived. */
  received(length: number): void;
  /** What to throw for `error`: the watch's own reason (stall, cancellation) when it aborted the attempt. */
  failure(error: unknown): FerryError;
  dispose(): void;
}

/**
 * Bounds every wait of one attempt with the same timer: for the connection and the response
 * headers, for the next body bytes, and for a trickle slower than MIN_BYTES_PER_SECOND over
 * `stallTimeoutMs`. Each ends the attempt with FERRY_DOWNLOAD_STALLED naming the URL, what was
 * waited for and `position()` (e.g. "at byte 10 of 200"); the retry loop decides what follows.
 * An abort of `outer` ends it with the caller's FERRY_CANCELLED. Shared by metadata fetches and
 * file downloads, so both honour the job's stall timeout (`limit` of the error, in milliseconds).
 */
export function watchAttempt(url: string, outer: AbortSignal, stallTimeoutMs: number, position: () => string): AttemptWatch {
  const controller = new AbortController();
  const floorBytes = Math.ceil((MIN_BYTES_PER_SECOND * stallTimeoutMs) / 1000);
  let answered = false;
  let windowStart = 0;
  let windowBytes = 0;
  const stall = (what: string): void => {
    controller.abort(
      new FerryError('FERRY_DOWNLOAD_STALLED', `${redactUrl(url)}: ${what}`, {
        url,
        limit: stallTimeoutMs,
        hint: 'The server or the network stopped delivering. It is retried; if it persists, check the source and any proxy, or allow a longer stall timeout on a very slow link.',
      }),
    );
  };
  // Re-armed by every byte: fires after stallTimeoutMs of silence.
  const idle = setTimeout(() => {
    stall(
      answered
        ? `no data for ${formatSeconds(stallTimeoutMs)} (waited for the body, ${position()})`
        : `no answer within ${formatSeconds(stallTimeoutMs)} (waited for the connection and the response headers)`,
    );
  }, stallTimeoutMs);
  const cancel = (): void => {
    controller.abort(cancelledError(outer));
  };
  if (outer.aborted) cancel();
  else outer.addEventListener('abort', cancel, { once: true });
  return {
    signal: controller.signal,
    answered: () => {
      answered = true;
      windowStart = performance.now();
      idle.refresh();
    },
    received: (length) => {
      idle.refresh();
      windowBytes += length;
      // A trickle never trips the idle timer; each full window must bring the minimum rate.
      const elapsed = performance.now() - windowStart;
      if (elapsed < stallTimeoutMs) return;
      if (windowBytes < floorBytes) {
        stall(`only ${windowBytes} bytes in ${formatSeconds(elapsed)}, slower than ${MIN_BYTES_PER_SECOND} bytes/s (${position()})`);
        return;
      }
      windowStart += elapsed;
      windowBytes = 0;
    },
    failure: (error) =>
      controller.signal.aborted && controller.signal.reason instanceof FerryError ? controller.signal.reason : networkError(url, error),
    dispose: () => {
      clearTimeout(idle);
      outer.removeEventListener('abort', cancel);
    },
  };
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Small error pages are read to the end so the connection can be reused; larger ones close it. */
const DUMP_LIMIT_BYTES = 64 * 1024;

/** Sends a GET, following redirects; returns whatever non-redirect answer comes back. */
export async function openGet(client: HttpClient, url: string, options: OpenGetOptions): Promise<OpenedResponse> {
  const original = parseHttpUrl(url);
  let current = original;
  for (let redirectsFollowed = 0; ; redirectsFollowed += 1) {
    const headers: Record<string, string> = { 'user-agent': client.userAgent, ...options.headers };
    const authorization = basicAuthorization(current, original);
    if (authorization !== undefined) headers.authorization = authorization;
    const target = withoutCredentials(current);
    let response: Dispatcher.ResponseData;
    try {
      response = await request(target, {
        dispatcher: client.dispatcher,
        method: 'GET',
        headers,
        signal: options.signal,
        ...(options.highWaterMark === undefined ? {} : { highWaterMark: options.highWaterMark }),
        ...(options.bodyTimeoutMs === undefined ? {} : { bodyTimeout: options.bodyTimeoutMs }),
      });
    } catch (error) {
      throw networkError(target, error);
    }
    const location = headerValue(response.headers, 'location');
    if (!REDIRECT_STATUSES.has(response.statusCode) || location === undefined) {
      return { url: target, statusCode: response.statusCode, headers: response.headers, body: response.body };
    }
    await discardBody(response.body);
    current = nextRedirectUrl(current, location, redirectsFollowed, options.maxRedirects);
  }
}

/**
 * Where a redirect leads, or why it must not be followed: too many hops, a scheme other than
 * http(s), or a step down from https to http (which would expose the download to tampering and
 * any credentials to eavesdropping).
 */
export function nextRedirectUrl(from: URL, location: string, redirectsFollowed: number, maxRedirects: number): URL {
  const fromText = redactUrl(from.href);
  if (redirectsFollowed >= maxRedirects) {
    throw new FerryError('FERRY_TOO_MANY_REDIRECTS', `${fromText}: more than ${maxRedirects} redirects`, {
      url: from.href,
      limit: maxRedirects,
      hint: 'The server may be redirecting in a loop; open the URL in a browser to see where it leads.',
    });
  }
  let next: URL;
  try {
    next = new URL(location, from);
  } catch (error) {
    throw new FerryError('FERRY_FETCH_FAILED', `${fromText}: the redirect target ${location} is not a valid URL`, {
      url: from.href,
      cause: error,
    });
  }
  if (next.protocol !== 'http:' && next.protocol !== 'https:') {
    throw new FerryError('FERRY_FETCH_FAILED', `${fromText}: redirect to unsupported scheme ${next.protocol}`, {
      url: from.href,
    });
  }
  if (from.protocol === 'https:' && next.protocol === 'http:') {
    throw new FerryError('FERRY_REDIRECT_INSECURE', `${fromText}: refused redirect from https to ${redactUrl(next.href)}`, {
      url: from.href,
      hint: 'Use an http:// source URL if plain HTTP is acceptable for this mirror (the files are still checked against the signed checksums).',
    });
  }
  return next;
}

/** Turns an answer the caller cannot use into an error, freeing the connection first. */
export async function failForStatus(response: OpenedResponse): Promise<never> {
  const retryAfter = headerValue(response.headers, 'retry-after');
  await discardBody(response.body);
  throw new HttpStatusError(response.url, response.statusCode, parseRetryAfter(retryAfter, Date.now()));
}

export async function discardBody(body: ResponseBody): Promise<void> {
  try {
    await body.dump({ limit: DUMP_LIMIT_BYTES });
  } catch {
    // The body only had to go away; a socket error while draining it changes nothing.
  }
}

export function networkError(url: string, error: unknown): FerryError {
  if (error instanceof FerryError) return error;
  const errno = errnoCode(error);
  return new FerryError('FERRY_FETCH_FAILED', `${redactUrl(url)}: ${networkWords(error)}`, { url, errno, cause: error, hint: networkHint(errno) });
}

/** What went wrong, for a person: undici's and OpenSSL's codes and texts are internal names. */
const NETWORK_WORDS: Readonly<Record<string, string>> = {
  ...Object.fromEntries([...UNTRUSTED_CERTIFICATE_CODES].map((code) => [code, "the server's TLS certificate is not signed by a certificate authority this computer trusts"])),
  CERT_HAS_EXPIRED: "the server's TLS certificate has expired",
  CERT_NOT_YET_VALID: "the server's TLS certificate is not valid yet (check this computer's clock)",
  ERR_TLS_CERT_ALTNAME_INVALID: "the server's TLS certificate is for another host name",
  ERR_SSL_WRONG_VERSION_NUMBER: 'the server did not answer in TLS (an http:// server given as https://?)',
  UND_ERR_SOCKET: 'the connection closed unexpectedly',
  UND_ERR_CONNECT_TIMEOUT: 'connecting timed out',
  UND_ERR_HEADERS_TIMEOUT: 'the server did not answer in time',
  UND_ERR_BODY_TIMEOUT: 'the server stopped sending data',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'the body was not as long as its Content-Length said',
  UND_ERR_CLOSED: 'the connection was closed',
  UND_ERR_DESTROYED: 'the connection was closed',
  ECONNREFUSED: 'the connection was refused (nothing listens there)',
  ECONNRESET: 'the connection was reset',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name could not be resolved now (DNS)',
  ETIMEDOUT: 'the connection timed out',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
};

/**
 * A failed request's cause in words: a known code's words; another OpenSSL failure (ERR_SSL_*,
 * whose message is OpenSSL's internal text) as a failed TLS handshake; else the error's own
 * message without an `UND_ERR_` code. The code itself stays in the error's `errno` fact, for scripts.
 */
export function networkWords(error: unknown): string {
  const code = errnoCode(error);
  const words = code === undefined ? undefined : NETWORK_WORDS[code];
  if (words !== undefined) return words;
  if (code?.startsWith('ERR_SSL_') === true) return 'the TLS handshake with the server failed';
  return code?.startsWith('UND_ERR_') === true && error instanceof Error ? error.message : describeError(error);
}

/** Remedies in the network's terms; a face adds how to set a proxy there (cli/hints.ts). */
function networkHint(errno: string | undefined): string {
  if (errno !== undefined && UNTRUSTED_CERTIFICATE_CODES.has(errno)) {
    return "If the server uses a private certificate authority, trust that CA's certificate (PEM) for this run, or add it to NODE_EXTRA_CA_CERTS; never turn verification off.";
  }
  if (errno === 'ENOTFOUND' || errno === 'EAI_AGAIN') {
    return 'The host name does not resolve. On a machine without internet, use a local mirror or file:// source; behind a proxy, set the proxy (HTTPS_PROXY).';
  }
  if (errno === 'ECONNREFUSED') return 'Nothing listens at that address; check the URL and port, or the proxy.';
  if (errno === 'ERR_SSL_WRONG_VERSION_NUMBER') return 'The server speaks plain HTTP: give the URL with http:// instead of https://.';
  // Only a download resumes; a query or a plan fetched nothing to resume from.
  return 'Check the network and any proxy (HTTPS_PROXY, NO_PROXY), then run the command again; downloads resume where they stopped.';
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Retry-After as milliseconds from `nowMs`: delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

export function parseHttpUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new FerryError('FERRY_SOURCE_INVALID', `${redactUrl(url)} is not a valid URL`, { url, cause: error });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new FerryError('FERRY_SOURCE_INVALID', `${redactUrl(url)} is not an http(s) URL`, { url });
  }
  return parsed;
}

/** user:password in a source URL becomes Basic auth, but only towards the origin it was written for. */
function basicAuthorization(current: URL, original: URL): string | undefined {
  const source = current.username !== '' ? current : current.origin === original.origin ? original : undefined;
  if (source === undefined || source.username === '') return undefined;
  const pair = `${decodeURIComponent(source.username)}:${decodeURIComponent(source.password)}`;
  return `Basic ${Buffer.from(pair).toString('base64')}`;
}

function withoutCredentials(url: URL): string {
  if (url.username === '' && url.password === '') return url.href;
  const bare = new URL(url.href);
  bare.username = '';
  bare.password = '';
  return bare.href;
}
