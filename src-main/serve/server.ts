import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import fresh from 'fresh';
import parseRange from 'range-parser';
import { FerryError, describeError, errnoCode } from '../base/errors.js';
import type { FileSource, SourceFile } from './file-source.js';
import { parseRequestPath } from './request-path.js';

// Read-only HTTP over a FileSource: GET and HEAD, single byte ranges, validators and conditional
// requests. Parsing is done by the jshttp packages `send` (Express's static server) is built on:
// range-parser for Range, fresh for If-None-Match / If-Modified-Since, etag for tree files' tags.
// `send` itself reads only real files by path (fs.stat + fs.createReadStream), so it could not
// serve a file stored as parts; its decision order is kept, with RFC 9110's strong comparison
// for If-Match and If-Range where send compares loosely. Multi-range requests get the whole file
// with 200, as send answers them.

export interface ListenOptions {
  source: FileSource;
  /** An IP address; '127.0.0.1' for loopback only. */
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Called once per request when its response ends or the connection goes. */
  onRequest?: (record: RequestRecord) => void;
}

export interface RequestRecord {
  remoteAddress: string;
  method: string;
  /** The request-target as sent. */
  target: string;
  status: number;
  /** False when the connection closed before the whole response was sent. */
  complete: boolean;
  /** Set when the response failed on our side (a damaged source, a read error). */
  error?: FerryError;
}

export interface RunningServer {
  /** The address and port actually bound (the port is the chosen one when 0 was asked). */
  host: string;
  port: number;
  /**
   * Stops accepting connections, lets responses in flight finish for up to `graceMs`
   * milliseconds, then closes every connection left. Resolves when the server is closed.
   */
  close(graceMs: number): Promise<void>;
}

/**
 * Starts serving `source` on host:port. Throws FerryError FERRY_LISTEN_FAILED when the address
 * cannot be bound (in use, not an address of this host, a privileged port).
 */
export async function listen(options: ListenOptions): Promise<RunningServer> {
  let closing = false;
  const server = createServer((request, response) => {
    if (closing) response.setHeader('Connection', 'close');
    const record = (complete: boolean, error?: FerryError): void => {
      options.onRequest?.({
        remoteAddress: request.socket.remoteAddress ?? '',
        method: request.method ?? '',
        target: request.url ?? '',
        status: response.statusCode,
        complete,
        ...(error === undefined ? {} : { error }),
      });
    };
    let failure: FerryError | undefined;
    response.once('close', () => {
      record(response.writableFinished, failure);
      // A response that was in flight when close() began leaves an idle keep-alive connection.
      if (closing) server.closeIdleConnections();
    });
    answer(request, response, options.source).catch((error: unknown) => {
      failure = error instanceof FerryError ? error : new FerryError('FERRY_IO', `Serving ${request.url ?? ''} failed: ${describeError(error)}`, { cause: error });
      if (!response.headersSent) {
        response.statusCode = 500;
        response.end();
      } else {
        response.destroy();
      }
    });
  });
  await new Promise<void>((resolveListening, rejectListening) => {
    server.once('error', (error) => {
      rejectListening(listenError(options, error));
    });
    server.listen({ host: options.host, port: options.port, exclusive: true }, resolveListening);
  });
  const address = server.address() as AddressInfo;
  return {
    host: address.address,
    port: address.port,
    close: (graceMs) => {
      closing = true;
      return closeServer(server, graceMs);
    },
  };
}

async function answer(request: IncomingMessage, response: ServerResponse, source: FileSource): Promise<void> {
  response.setHeader('X-Content-Type-Options', 'nosniff');
  const method = request.method;
  if (method !== 'GET' && method !== 'HEAD') {
    response.writeHead(405, { Allow: 'GET, HEAD' }).end();
    return;
  }
  const target = parseRequestPath(request.url ?? '');
  // Refusals say nothing about what exists: traversal, `.ferry/` and directories look absent.
  if (target.kind !== 'file') {
    response.writeHead(target.kind === 'malformed' ? 400 : 404).end();
    return;
  }
  const file = await source.resolve(target.path);
  if (file === undefined) {
    response.writeHead(404).end();
    return;
  }
  let streaming = false;
  try {
    const reply = replyFor(request, file, target.path);
    response.writeHead(reply.status, reply.headers);
    if (reply.body === undefined || method === 'HEAD') {
      response.end();
      return;
    }
    streaming = true;
    await pipeline(file.createReadStream(reply.body.start, reply.body.end), response).catch((error: unknown) => {
      // The client going away mid-body is its business, not a failure of the server.
      if (!response.writableFinished && (error as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') return;
      throw error;
    });
  } finally {
    if (!streaming) await file.close();
  }
}

interface Reply {
  status: number;
  headers: Record<string, string | number>;
  /** Inclusive byte offsets of the body; absent for answers without one. */
  body?: { start: number; end: number };
}

/** What to answer for an existing file, in send's order: preconditions, freshness, then Range. */
function replyFor(request: IncomingMessage, file: SourceFile, path: string): Reply {
  const lastModified = file.modified.toUTCString();
  const headers: Record<string, string | number> = {
    'Accept-Ranges': 'bytes',
    ETag: file.etag,
    'Last-Modified': lastModified,
    'Content-Type': path.endsWith('.json') ? 'application/json' : 'application/octet-stream',
  };
  if (preconditionFailed(request, file)) return { status: 412, headers };
  if (fresh(request.headers, { etag: file.etag, 'last-modified': lastModified })) return { status: 304, headers };
  const whole: Reply = { status: 200, headers: { ...headers, 'Content-Length': file.size }, ...(file.size === 0 ? {} : { body: { start: 0, end: file.size - 1 } }) };
  const rangeHeader = request.headers.range;
  if (rangeHeader === undefined || !rangeStillValid(request, file)) return whole;
  const ranges = parseRange(file.size, rangeHeader, { combine: true });
  if (ranges === -1) return { status: 416, headers: { ...headers, 'Content-Range': `bytes */${file.size}` } };
  // -2 (malformed) is ignored as RFC 9110 §14.2 allows; several ranges get the whole file.
  const only = ranges !== -2 && ranges.type === 'bytes' && ranges.length === 1 ? ranges[0] : undefined;
  if (only === undefined) return whole;
  return {
    status: 206,
    headers: { ...headers, 'Content-Range': `bytes ${only.start}-${only.end}/${file.size}`, 'Content-Length': only.end - only.start + 1 },
    body: { start: only.start, end: only.end },
  };
}

/** If-Match (strong comparison), else If-Unmodified-Since: RFC 9110 §13.1.1, §13.1.4. */
function preconditionFailed(request: IncomingMessage, file: SourceFile): boolean {
  const ifMatch = request.headers['if-match'];
  if (ifMatch !== undefined) {
    return ifMatch.trim() !== '*' && !ifMatch.split(',').some((tag) => tag.trim() === file.etag);
  }
  const unmodifiedSince = Date.parse(request.headers['if-unmodified-since'] ?? '');
  return !Number.isNaN(unmodifiedSince) && wholeSeconds(file.modified) > unmodifiedSince;
}

/**
 * If-Range (RFC 9110 §13.1.5): an entity tag must match strongly, a date exactly; otherwise the
 * Range is ignored and the whole (changed) file is sent.
 */
function rangeStillValid(request: IncomingMessage, file: SourceFile): boolean {
  const ifRange = request.headers['if-range'];
  if (ifRange === undefined) return true;
  // Node joins repeated headers it does not know; a repeated If-Range is malformed, so no match.
  if (typeof ifRange !== 'string') return false;
  const value = ifRange.trim();
  if (value.startsWith('"') || value.startsWith('W/')) return value === file.etag;
  const date = Date.parse(value);
  return !Number.isNaN(date) && date === wholeSeconds(file.modified);
}

/** HTTP dates have whole seconds. */
function wholeSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000) * 1000;
}

function closeServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolveClosed) => {
    const force = setTimeout(() => {
      server.closeAllConnections();
    }, graceMs);
    server.close(() => {
      clearTimeout(force);
      resolveClosed();
    });
    server.closeIdleConnections();
  });
}

/**
 * The facts of a failed listen: the address as `actual`, the errno, and a remedy in the network's
 * terms; a face words it as its own options (cli/hints.ts).
 */
function listenError(options: ListenOptions, error: Error): FerryError {
  const errno = errnoCode(error);
  const where = `${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`;
  const hint =
    errno === 'EADDRINUSE'
      ? 'Another program uses that port: pick another port, or port 0 for any free one.'
      : errno === 'EACCES'
        ? 'Ports below 1024 need privileges: use a port of 1024 or more.'
        : "Give an address of one of this computer's interfaces (0.0.0.0 for all).";
  return new FerryError('FERRY_LISTEN_FAILED', `Cannot listen on ${where}: ${describeError(error)}`, { actual: where, errno, hint, cause: error });
}
