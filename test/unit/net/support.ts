// Real loopback servers whose every answer is scripted by the test, in the manner of undici's
// test/interceptors/retry.js, plus the small helpers the net/ tests share.

import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { createHttpClient, type HttpClient } from '../../../src-main/net/agent.js';
import type { RetryPolicy } from '../../../src-main/net/retry.js';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

export type ScriptedHandler = (request: IncomingMessage, response: ServerResponse, index: number) => void;

export interface ScriptedServer {
  readonly origin: string;
  readonly requests: RecordedRequest[];
  /** Body bytes written by the handlers, over all requests. */
  readonly bodyBytesSent: () => number;
  /** Most requests seen in flight at once. */
  readonly peakConcurrency: () => number;
  readonly openConnections: () => Promise<number>;
  readonly url: (path: string) => string;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

/** Starts an HTTP server on 127.0.0.1:0; `handler` gets each request with its index (0-based). */
export async function startScriptedServer(handler: ScriptedHandler): Promise<ScriptedServer> {
  const requests: RecordedRequest[] = [];
  let sent = 0;
  let inFlight = 0;
  let peak = 0;
  const server = createServer((request, response) => {
    requests.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers });
    inFlight += 1;
    peak = Math.max(peak, inFlight);
    response.once('close', () => {
      inFlight -= 1;
    });
    const write = response.write.bind(response) as (chunk: Buffer | string, ...rest: never[]) => boolean;
    response.write = ((chunk: Buffer | string, ...rest: never[]) => {
      sent += Buffer.byteLength(chunk);
      return write(chunk, ...rest);
    }) as ServerResponse['write'];
    const end = response.end.bind(response) as (chunk?: Buffer | string | (() => void), ...rest: never[]) => ServerResponse;
    response.end = ((chunk?: Buffer | string | (() => void), ...rest: never[]) => {
      if (typeof chunk === 'string' || Buffer.isBuffer(chunk)) sent += Buffer.byteLength(chunk);
      return end(chunk, ...rest);
    }) as ServerResponse['end'];
    handler(request, response, requests.length - 1);
  });
  const origin = await listen(server);
  return {
    origin,
    requests,
    bodyBytesSent: () => sent,
    peakConcurrency: () => peak,
    openConnections: () =>
      new Promise((resolve, reject) => {
        server.getConnections((error, count) => {
          if (error) reject(error);
          else resolve(count);
        });
      }),
    url: (path) => `${origin}${path}`,
    close: () => closeServer(server),
  };
}

export async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
}

/** Writes `bytes` from `start` (a 206 when start > 0) and ends the response. */
export function serveBytes(
  response: ServerResponse,
  bytes: Buffer,
  options: { start?: number; headers?: Record<string, string> } = {},
): void {
  const start = options.start ?? 0;
  const headers: Record<string, string> = { 'content-length': String(bytes.length - start), ...options.headers };
  if (start > 0) headers['content-range'] = `bytes ${start}-${bytes.length - 1}/${bytes.length}`;
  response.writeHead(start > 0 ? 206 : 200, headers);
  response.end(bytes.subarray(start));
}

/** Honours `Range: bytes=N-` like any ordinary server would. */
export function serveWithRange(request: IncomingMessage, response: ServerResponse, bytes: Buffer, headers: Record<string, string> = {}): void {
  serveBytes(response, bytes, { start: requestedStart(request), headers });
}

export function requestedStart(request: IncomingMessage): number {
  const match = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
  return match === null ? 0 : Number(match[1]);
}

/**
 * Announces the whole file, sends only the first `count` bytes, then closes the connection, as a
 * dropped transfer looks to the client.
 */
export function serveThenDrop(response: ServerResponse, bytes: Buffer, count: number, headers: Record<string, string> = {}): void {
  response.writeHead(200, { 'content-length': String(bytes.length), ...headers });
  response.write(bytes.subarray(0, count), () => response.socket?.end());
}

/** Sends the first `count` bytes and then nothing more, keeping the connection open. */
export function serveThenHang(response: ServerResponse, bytes: Buffer, count: number): void {
  response.writeHead(200, { 'content-length': String(bytes.length) });
  response.write(bytes.subarray(0, count));
}

export function digest(algorithm: 'sha256' | 'sha512' | 'md5', bytes: Buffer): string {
  return createHash(algorithm).update(bytes).digest('hex');
}

/** Deterministic, non-repeating test content. */
export function testBytes(length: number, seed = 1): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  let state = seed >>> 0 || 1;
  for (let index = 0; index < length; index += 1) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[index] = state & 0xff;
  }
  return bytes;
}

export async function makeTempDir(): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'ferry-net-'));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export interface NetFixtures {
  readonly client: HttpClient;
  readonly temp: { path: string; remove: () => Promise<void> };
  /** The test's scripted server, once serve() started it. */
  readonly server: ScriptedServer | undefined;
  readonly serve: (handler: ScriptedHandler) => Promise<ScriptedServer>;
  readonly closeServer: () => Promise<void>;
}

/** Gives each test a fresh client, a temp dir and at most one scripted server, all closed after it. */
export function useNetFixtures(): NetFixtures {
  let client: HttpClient | undefined;
  let temp: { path: string; remove: () => Promise<void> } | undefined;
  let server: ScriptedServer | undefined;
  const closeServer = async (): Promise<void> => {
    await server?.close();
    server = undefined;
  };
  beforeEach(async () => {
    client = createHttpClient({ userAgent: 'stream-ferry/test' });
    temp = await makeTempDir();
  });
  afterEach(async () => {
    await client?.close();
    await closeServer();
    await temp?.remove();
  });
  const outsideTest = (): never => {
    throw new Error('net fixtures are only available inside a test');
  };
  return {
    get client() {
      return client ?? outsideTest();
    },
    get temp() {
      return temp ?? outsideTest();
    },
    get server() {
      return server;
    },
    serve: async (handler) => {
      server = await startScriptedServer(handler);
      return server;
    },
    closeServer,
  };
}

/** Retries without real waiting, so a test spends its time on the behaviour under test. */
export function quickRetries(overrides: Partial<RetryPolicy> = {}): RetryPolicy {
  return { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5, maxRetryAfterMs: 5_000, ...overrides };
}

/**
 * A forward proxy for plain-http targets: it relays absolute-URI requests and records them, the way
 * squid would see them.
 */
export async function startForwardProxy(): Promise<{ origin: string; requests: RecordedRequest[]; close: () => Promise<void> }> {
  const requests: RecordedRequest[] = [];
  const server = createServer((request, response) => {
    requests.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers });
    const target = new URL(request.url ?? '');
    const upstream = httpRequest(
      target,
      { method: request.method, headers: { ...request.headers, host: target.host } },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
  });
  const origin = await listen(server);
  return { origin, requests, close: () => closeServer(server) };
}
