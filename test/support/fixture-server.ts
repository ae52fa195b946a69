import { createReadStream, type Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, STATUS_CODES, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve, sep } from 'node:path';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';

// A static file server on 127.0.0.1 for tests and benchmarks: Range, HEAD, conditional requests,
// byte counters, and scripted faults per request.

/** A byte range as the client sent it (`bytes=start-end`, end inclusive; no end for `bytes=start-`). */
export interface ByteRange {
  start: number;
  end?: number;
}

export interface FaultRequest {
  method: string;
  /** Decoded URL path without the leading slash, e.g. "noble/amd64/20250615/squashfs". */
  path: string;
  /** Only `bytes=a-b` and `bytes=a-` ranges are shown here; a suffix range (`bytes=-n`) is not. */
  range?: ByteRange;
  /** How many requests this path has had, this one included (1-based, any method). */
  attempt: number;
}

export type FaultAction =
  /** Answer with this status (and headers, e.g. Retry-After) instead of the file. */
  | { kind: 'status'; status: number; headers?: Readonly<Record<string, string>> }
  /** Send the headers and `afterBytes` body bytes, then close the connection: a truncated body. */
  | { kind: 'reset'; afterBytes: number }
  /** Send bytes of the right length that are not the file's. */
  | { kind: 'corrupt' }
  /** After `afterBytes` body bytes, send nothing for `ms` (Infinity: until the client or the server gives up), then go on. The headers are sent first, even for afterBytes 0. */
  | { kind: 'stall'; afterBytes: number; ms: number }
  /** Read the request and send nothing, not even headers, for `ms` (Infinity: until closed), then answer normally. */
  | { kind: 'silent'; ms: number }
  /** Send the body one byte every `intervalMs`: alive, but too slow to ever finish. */
  | { kind: 'drip'; intervalMs: number }
  /** Send the whole file compressed with this Content-Encoding, whatever the request accepts (as misconfigured servers do). */
  | { kind: 'encode'; encoding: 'gzip' | 'deflate' | 'br' }
  /** Answer a Range request with 200 and the whole file. */
  | { kind: 'ignore-range' }
  /** Serve the file under a different ETag, as if it had been replaced; If-Range and If-None-Match see the new one. */
  | { kind: 'change-etag' }
  | { kind: 'redirect'; location: string; status?: number };

export type FaultHook = (request: FaultRequest) => FaultAction | undefined;

export interface RequestLogEntry {
  method: string;
  path: string;
  range?: ByteRange;
  attempt: number;
  status: number;
  /** File bytes written for this request so far (error and redirect bodies are not counted). */
  bytesSent: number;
  fault?: FaultAction['kind'];
}

export interface FixtureServerOptions {
  root: string;
  faults?: FaultHook;
}

export interface FixtureServer {
  /** http://127.0.0.1:PORT/ */
  readonly url: string;
  readonly port: number;
  /** Every request since start (or the last resetCounters), in arrival order. */
  readonly requestLog: readonly RequestLogEntry[];
  /** File bytes sent, all paths together. */
  readonly totalBytesSent: number;
  readonly requestsFor: (path: string) => number;
  readonly bytesSentFor: (path: string) => number;
  /** Replaces the fault hook for the requests that follow; undefined serves every file faithfully. */
  readonly setFaults: (faults: FaultHook | undefined) => void;
  /** Forgets the log, the counters and the per-path attempt numbers. */
  readonly resetCounters: () => void;
  /** Stops listening and closes every connection, stalled ones included. */
  readonly close: () => Promise<void>;
}

// Large reads keep syscalls and event-loop turns per gigabyte low enough that loopback benchmarks
// measure the client, not this server.
const READ_CHUNK_BYTES = 1024 * 1024;

interface ServedFile {
  filePath: string;
  stats: Stats;
  etag: string;
  lastModified: string;
}

interface BodySlice {
  start: number;
  /** Inclusive. */
  end: number;
}

export async function startFixtureServer(options: FixtureServerOptions): Promise<FixtureServer> {
  const root = resolve(options.root);
  let faults = options.faults;
  let requestLog: RequestLogEntry[] = [];
  const requestsByPath = new Map<string, number>();
  const bytesByPath = new Map<string, number>();
  let totalBytesSent = 0;
  let closing: Promise<void> | undefined;

  const countBytes = (entry: RequestLogEntry, bytes: number): void => {
    entry.bytesSent += bytes;
    bytesByPath.set(entry.path, (bytesByPath.get(entry.path) ?? 0) + bytes);
    totalBytesSent += bytes;
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const method = request.method ?? 'GET';
    const rawPath = (request.url ?? '/').split('?')[0] ?? '/';
    const path = decodePath(rawPath);
    const logPath = path ?? rawPath;
    const attempt = (requestsByPath.get(logPath) ?? 0) + 1;
    requestsByPath.set(logPath, attempt);
    const rangeHeader = request.headers.range;
    const requestedRange = rangeHeader === undefined ? undefined : parsePrefixRange(rangeHeader);
    const entry: RequestLogEntry = { method, path: logPath, attempt, status: 0, bytesSent: 0 };
    if (requestedRange !== undefined) entry.range = requestedRange;
    requestLog.push(entry);

    const answer = (status: number, headers: OutgoingHttpHeaders = {}): void => {
      entry.status = status;
      const body = method === 'HEAD' || status === 304 ? '' : `${status} ${STATUS_CODES[status] ?? ''}\n`;
      response.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), ...headers });
      response.end(body);
    };

    if (path === undefined) {
      answer(400);
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') {
      answer(405, { allow: 'GET, HEAD' });
      return;
    }
    const filePath = resolve(root, path);
    if (path.split('/').includes('..') || (filePath !== root && !filePath.startsWith(root + sep))) {
      answer(403);
      return;
    }

    const fault = faults?.({ method, path, ...(requestedRange === undefined ? {} : { range: requestedRange }), attempt });
    if (fault !== undefined) entry.fault = fault.kind;
    if (fault?.kind === 'status') {
      answer(fault.status, { ...fault.headers });
      return;
    }
    if (fault?.kind === 'redirect') {
      answer(fault.status ?? 302, { location: fault.location });
      return;
    }

    if (fault?.kind === 'silent') {
      await pause(fault.ms, response);
      if (response.destroyed) return;
    }
    const served = await findFile(filePath);
    if (served === undefined) {
      answer(404);
      return;
    }
    if (fault?.kind === 'encode' && method === 'GET') {
      const encoded = encodeBody(await readFile(served.filePath), fault.encoding);
      entry.status = 200;
      response.writeHead(200, { 'content-type': contentTypeFor(path), 'content-encoding': fault.encoding, 'content-length': encoded.length });
      response.end(encoded);
      countBytes(entry, encoded.length);
      return;
    }
    if (fault?.kind === 'change-etag') served.etag = `"${served.etag.slice(1, -1)}-replaced"`;

    const validators = { etag: served.etag, 'last-modified': served.lastModified, 'accept-ranges': 'bytes' };
    if (isNotModified(request, served)) {
      answer(304, validators);
      return;
    }

    const size = served.stats.size;
    const honourRange = rangeHeader !== undefined && fault?.kind !== 'ignore-range' && ifRangeHolds(request, served);
    const range = honourRange ? resolveRange(rangeHeader, size) : 'whole';
    if (range === 'unsatisfiable') {
      answer(416, { ...validators, 'content-range': `bytes */${size}` });
      return;
    }
    const slice: BodySlice = range === 'whole' ? { start: 0, end: size - 1 } : range;
    const partial = range !== 'whole';

    entry.status = partial ? 206 : 200;
    response.writeHead(entry.status, {
      ...validators,
      'content-type': contentTypeFor(path),
      'content-length': slice.end - slice.start + 1,
      ...(partial ? { 'content-range': `bytes ${slice.start}-${slice.end}/${size}` } : {}),
    });
    if (method === 'HEAD') {
      response.end();
      return;
    }
    await sendBody(response, served.filePath, slice, fault, (bytes) => {
      countBytes(entry, bytes);
    });
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      // A handler bug must surface in the test that hit it, not hang the client.
      process.stderr.write(`fixture server: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      response.destroy();
    });
  });
  await new Promise<void>((resolveListen, rejectListen) => {
    server.once('error', rejectListen);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', rejectListen);
      resolveListen();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    get requestLog() {
      return requestLog;
    },
    get totalBytesSent() {
      return totalBytesSent;
    },
    requestsFor: (path) => requestsByPath.get(path) ?? 0,
    bytesSentFor: (path) => bytesByPath.get(path) ?? 0,
    setFaults: (hook) => {
      faults = hook;
    },
    resetCounters: () => {
      requestLog = [];
      requestsByPath.clear();
      bytesByPath.clear();
      totalBytesSent = 0;
    },
    close: () => {
      closing ??= new Promise<void>((resolveClose) => {
        server.close(() => {
          resolveClose();
        });
        // Destroying the connections also ends stalled responses: their pauses end on 'close'.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

async function sendBody(
  response: ServerResponse,
  filePath: string,
  slice: BodySlice,
  fault: FaultAction | undefined,
  countBytes: (bytes: number) => void,
): Promise<void> {
  const closeAfter = fault?.kind === 'reset' ? fault.afterBytes : undefined;
  let stall = fault?.kind === 'stall' ? fault : undefined;
  let sent = 0;

  // Stops at each offset where a fault must act, so it acts after exactly that many bytes.
  const emit = async (chunk: Buffer): Promise<boolean> => {
    let rest = chunk;
    while (rest.length > 0 || closeAfter === sent || stall?.afterBytes === sent) {
      if (closeAfter === sent) {
        await closeConnectionAfterFlush(response);
        return false;
      }
      if (stall !== undefined && stall.afterBytes === sent) {
        response.flushHeaders();
        await pause(stall.ms, response);
        stall = undefined;
        if (response.destroyed) return false;
        continue;
      }
      const nextStop = Math.min(closeAfter ?? Infinity, stall?.afterBytes ?? Infinity);
      const take = nextStop > sent ? Math.min(rest.length, nextStop - sent) : rest.length;
      if (!(await writeChunk(response, rest.subarray(0, take)))) return false;
      countBytes(take);
      sent += take;
      rest = rest.subarray(take);
    }
    return true;
  };

  if (fault?.kind === 'drip') {
    const bytes = (await readFile(filePath)).subarray(slice.start, slice.end + 1);
    for (const byte of bytes) {
      if (!(await writeChunk(response, Buffer.of(byte)))) return;
      countBytes(1);
      await pause(fault.intervalMs, response);
      if (response.destroyed) return;
    }
    response.end();
    return;
  }
  if (slice.end >= slice.start) {
    const file = createReadStream(filePath, { start: slice.start, end: slice.end, highWaterMark: READ_CHUNK_BYTES });
    try {
      for await (const chunk of file as AsyncIterable<Buffer>) {
        if (!(await emit(fault?.kind === 'corrupt' ? corrupted(chunk) : chunk))) return;
      }
    } finally {
      file.destroy();
    }
  }
  // A fault placed exactly at the end of the body still acts before the response completes.
  if (!(await emit(Buffer.alloc(0)))) return;
  if (closeAfter !== undefined) {
    await closeConnectionAfterFlush(response);
    return;
  }
  response.end();
}

/** Waits `ms` (for ever if Infinity), or until the connection closes, whichever is first. */
function pause(ms: number, response: ServerResponse): Promise<void> {
  return new Promise((resolvePause) => {
    if (response.destroyed) {
      resolvePause();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      response.off('close', done);
      resolvePause();
    };
    const timer = Number.isFinite(ms) ? setTimeout(done, ms) : undefined;
    response.once('close', done);
  });
}

function writeChunk(response: ServerResponse, chunk: Buffer): Promise<boolean> {
  if (response.destroyed) return Promise.resolve(false);
  if (response.write(chunk)) return Promise.resolve(true);
  return new Promise((resolveWrite) => {
    const settle = (open: boolean) => (): void => {
      response.off('drain', onDrain);
      response.off('close', onClose);
      resolveWrite(open);
    };
    const onDrain = settle(true);
    const onClose = settle(false);
    response.once('drain', onDrain);
    response.once('close', onClose);
  });
}

/** Ends the TCP connection once the bytes written so far have left, without completing the response. */
function closeConnectionAfterFlush(response: ServerResponse): Promise<void> {
  const socket = response.socket;
  if (socket === null || socket.destroyed) return Promise.resolve();
  response.flushHeaders();
  return new Promise((resolveClose) => {
    socket.once('close', () => {
      resolveClose();
    });
    socket.end(() => socket.destroy());
  });
}

function encodeBody(bytes: Buffer, encoding: 'gzip' | 'deflate' | 'br'): Buffer {
  if (encoding === 'gzip') return gzipSync(bytes);
  if (encoding === 'deflate') return deflateSync(bytes);
  return brotliCompressSync(bytes);
}

function corrupted(chunk: Buffer): Buffer {
  const copy = Buffer.from(chunk);
  for (let index = 0; index < copy.length; index += 1) copy[index] = (copy[index] ?? 0) ^ 0xa5;
  return copy;
}

async function findFile(filePath: string): Promise<ServedFile | undefined> {
  const stats = await stat(filePath).catch(() => undefined);
  if (stats === undefined || !stats.isFile()) return undefined;
  return {
    filePath,
    stats,
    etag: `"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`,
    lastModified: stats.mtime.toUTCString(),
  };
}

function decodePath(rawPath: string): string | undefined {
  try {
    const decoded = decodeURIComponent(rawPath).replace(/^\/+/, '');
    return decoded.includes('\0') ? undefined : decoded;
  } catch {
    return undefined;
  }
}

function parsePrefixRange(header: string): ByteRange | undefined {
  const match = /^bytes=(\d+)-(\d*)$/.exec(header.trim());
  if (match?.[1] === undefined) return undefined;
  const start = Number(match[1]);
  return match[2] === undefined || match[2] === '' ? { start } : { start, end: Number(match[2]) };
}

/**
 * RFC 9110 §14: one range is served; a malformed or multi-part Range header is ignored (the whole
 * file is sent); a range that starts past the end is unsatisfiable.
 */
function resolveRange(header: string, size: number): BodySlice | 'whole' | 'unsatisfiable' {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (match === null) return 'whole';
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return 'whole';
  if (first === '') {
    const suffixLength = Number(last);
    if (suffixLength === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffixLength), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== '' && Number(last) < start) return 'whole';
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

function ifRangeHolds(request: IncomingMessage, served: ServedFile): boolean {
  const ifRange = request.headers['if-range'];
  if (typeof ifRange !== 'string') return ifRange === undefined;
  // Only a strong entity tag or the exact Last-Modified date validates a range (RFC 9110 §13.1.5).
  return ifRange.startsWith('"') ? ifRange === served.etag : ifRange === served.lastModified;
}

function isNotModified(request: IncomingMessage, served: ServedFile): boolean {
  const ifNoneMatch = request.headers['if-none-match'];
  if (ifNoneMatch !== undefined) {
    return ifNoneMatch.split(',').some((tag) => {
      const trimmed = tag.trim();
      return trimmed === '*' || trimmed.replace(/^W\//, '') === served.etag;
    });
  }
  const ifModifiedSince = request.headers['if-modified-since'];
  if (ifModifiedSince === undefined) return false;
  const since = Date.parse(ifModifiedSince);
  return !Number.isNaN(since) && Math.floor(served.stats.mtimeMs / 1000) * 1000 <= since;
}

function contentTypeFor(path: string): string {
  if (path.endsWith('.json')) return 'application/json';
  if (path.endsWith('.sjson')) return 'text/plain; charset=utf-8';
  return 'application/octet-stream';
}

/** Bytes of item files (everything outside streams/v1/) the server sent since its counters were reset. */
export function dataBytesSent(server: FixtureServer): number {
  return server.requestLog.filter((entry) => !entry.path.includes('streams/v1/')).reduce((sum, entry) => sum + entry.bytesSent, 0);
}
