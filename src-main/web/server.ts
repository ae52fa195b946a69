// Browser mode: the built renderer and the API over one HTTP server, the API as a WebSocket
// (the `ws` package) carrying the contract's protocol as JSON text frames. Only whoever has the URL
// gets in: everything lives under `/<token>/` (a random 256-bit token), so the page's relative
// asset URLs and its socket carry the token with no cookie. Host and Origin must name this server
// (a page of another site, even one whose name resolves to 127.0.0.1 by DNS rebinding, is refused).
// Bound to loopback unless the operator says otherwise.

import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { FerryError } from '../base/errors.js';
import { rendererContentSecurityPolicy, SOCKET_PATH } from '../contract/index.js';
import { DEFAULT_BIND_ADDRESS, type ApiService } from '../engine/index.js';
import { Outbox, type OutboxLimits } from './outbox.js';

/** The largest message a client may send (a call's input); a job input is a few kilobytes. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

export interface UiServerOptions {
  service: ApiService;
  /** Default 127.0.0.1. */
  bind?: string | undefined;
  /** Default 0: a free port. */
  port?: number | undefined;
  /** The built renderer (Vite's output); a placeholder page is served where it is missing. */
  rendererDir: string;
  /** A fixed token, for tests; default: 32 random bytes, base64url. */
  token?: string | undefined;
  /** When a slow client's messages are held and coalesced, and when it is closed (default SOFT_BUFFER_BYTES, HARD_BUFFER_BYTES; lowered in tests). */
  sendLimits?: OutboxLimits | undefined;
}

export interface UiServer {
  /** `http://127.0.0.1:PORT/<token>/`: the page to open. */
  readonly url: string;
  readonly port: number;
  readonly token: string;
  /** Bytes waiting for the clients, each: in its socket's buffer, and held for it (see Outbox). */
  pendingBytes(): number[];
  /** Closes every socket and the server; the service's jobs are the caller's to stop. */
  close(): Promise<void>;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

const PLACEHOLDER_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Stream Ferry</title></head>
<body><h1>Stream Ferry</h1>
<p>The engine is running, but the app's pages are not built. Build them (npm run build:renderer) and reload this page.</p>
</body></html>
`;

/** 200 with the path below the token, or why not. */
type Verdict = { status: 200; rest: string } | { status: 401 | 403 | 404; reason: string };

/**
 * Why a request may not reach the app, or 200. Host must be this server's address (by name
 * `localhost` or the literal address); an Origin, when sent, must be this server's origin; the path
 * must start with `/<token>/` (401 without a token, 403 with a wrong one).
 */
export function admit(request: { host: string | undefined; origin: string | undefined; path: string }, allowedHosts: ReadonlySet<string>, token: string): Verdict {
  if (request.host === undefined || !allowedHosts.has(request.host.toLowerCase())) return { status: 403, reason: 'this server answers only to its own address (Host)' };
  if (request.origin !== undefined && !allowedHosts.has(originHost(request.origin))) return { status: 403, reason: 'requests from other sites are refused (Origin)' };
  const [, first = '', ...rest] = request.path.split('/');
  // A first segment that cannot be a token means none was given; one of a token's length, a wrong one.
  if (first.length !== token.length) return { status: 401, reason: 'open the URL the server printed: it carries the access token' };
  if (!sameToken(first, token)) return { status: 403, reason: 'the access token is wrong' };
  return { status: 200, rest: rest.join('/') };
}

function originHost(origin: string): string {
  try {
    const url = new URL(origin);
    return url.protocol === 'http:' ? url.host.toLowerCase() : '';
  } catch {
    return '';
  }
}

function sameToken(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The Host values that name this server: the bound address, and for loopback `localhost` and 127.0.0.1. */
function hostsFor(bind: string, port: number): Set<string> {
  const literal = isIP(bind) === 6 ? `[${bind}]` : bind;
  const names = [literal];
  const loopback = bind === '127.0.0.1' || bind === '::1' || bind.startsWith('127.');
  if (loopback) names.push('localhost', '127.0.0.1', '[::1]');
  return new Set(names.map((name) => `${name}:${port}`.toLowerCase()));
}

function securityHeaders(host: string): Record<string, string> {
  return {
    'Content-Security-Policy': rendererContentSecurityPolicy([`ws://${host}`]),
    // The token is in every URL: no page may pass it on as a Referer.
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Cache-Control': 'no-store',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
  };
}

/** The file under `root` for a request path below the token, or undefined for a path that leaves it. */
function fileFor(root: string, rest: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rest.split('?')[0] ?? '');
  } catch {
    return undefined;
  }
  if (decoded.includes('\0')) return undefined;
  const path = normalize(join(root, decoded === '' ? 'index.html' : decoded));
  return path === root || path.startsWith(root + sep) ? path : undefined;
}

async function serveFile(response: ServerResponse, method: string, root: string, rest: string, headers: Record<string, string>): Promise<void> {
  const requested = fileFor(root, rest);
  if (requested === undefined) {
    answer(response, 404, 'Not found.', headers);
    return;
  }
  const isFile = async (path: string): Promise<boolean> => (await stat(path).catch(() => undefined))?.isFile() === true;
  // A path without an extension is a screen of the single-page app: its index.html answers.
  const index = join(root, 'index.html');
  const path = (await isFile(requested)) ? requested : extname(requested) === '' || requested === index ? index : undefined;
  if (path === undefined) {
    answer(response, 404, 'Not found.', headers);
    return;
  }
  if (path === index && !(await isFile(index))) {
    // No built renderer: the placeholder page says so instead of a bare 404.
    answer(response, 200, PLACEHOLDER_PAGE, { ...headers, 'Content-Type': 'text/html; charset=utf-8' });
    return;
  }
  response.writeHead(200, { ...headers, 'Content-Type': CONTENT_TYPES[extname(path)] ?? 'application/octet-stream' });
  if (method === 'HEAD') {
    response.end();
    return;
  }
  createReadStream(path)
    .on('error', () => response.destroy())
    .pipe(response);
}

function answer(response: ServerResponse, status: number, body: string, headers: Record<string, string>): void {
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers });
  response.end(body.endsWith('\n') ? body : `${body}\n`);
}

function refuseUpgrade(socket: Duplex, status: 401 | 403 | 404, reason: string): void {
  const text = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found' }[status];
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(reason) + 1}\r\n\r\n${reason}\n`);
}

function headerOf(request: IncomingMessage, name: 'host' | 'origin'): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Starts browser mode's server. Throws FERRY_LISTEN_FAILED when the address cannot be bound
 * (in use, not an address of this computer, not permitted).
 */
export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  const bind = options.bind ?? DEFAULT_BIND_ADDRESS;
  const token = options.token ?? randomBytes(32).toString('base64url');
  const root = normalize(options.rendererDir);
  // Known once listening; until then no request can arrive.
  let allowedHosts = new Set<string>();

  const sockets = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  const outboxes = new Set<Outbox>();
  const server = createServer((request, response) => {
    const host = headerOf(request, 'host') ?? '';
    const headers = securityHeaders(host);
    const verdict = admit({ host: headerOf(request, 'host'), origin: headerOf(request, 'origin'), path: request.url ?? '/' }, allowedHosts, token);
    if (verdict.status !== 200) {
      answer(response, verdict.status, `Refused: ${verdict.reason}.`, headers);
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      answer(response, 405, 'Only GET and HEAD.', { ...headers, Allow: 'GET, HEAD' });
      return;
    }
    // `/<token>` alone: the page's relative URLs need the trailing slash.
    if ((request.url ?? '').split('?')[0] === `/${token}`) {
      response.writeHead(308, { ...headers, Location: `/${token}/` });
      response.end();
      return;
    }
    void serveFile(response, request.method, root, verdict.rest, headers);
  });

  server.on('upgrade', (request, socket, head) => {
    const verdict = admit({ host: headerOf(request, 'host'), origin: headerOf(request, 'origin'), path: request.url ?? '/' }, allowedHosts, token);
    if (verdict.status !== 200) refuseUpgrade(socket, verdict.status, verdict.reason);
    else if (verdict.rest !== SOCKET_PATH) refuseUpgrade(socket, 404, `the API is at /<token>/${SOCKET_PATH}`);
    else
      sockets.handleUpgrade(request, socket, head, (client) => {
      attach(client, options.service, outboxes, options.sendLimits);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        new FerryError('FERRY_LISTEN_FAILED', `Could not listen on ${bind}:${options.port ?? 0}: ${error.message}`, {
          errno: error.code,
          hint: error.code === 'EADDRINUSE' ? 'Another program uses that port; choose another or 0 for a free one.' : 'Choose an address of this computer.',
        }),
      );
    });
    server.listen(options.port ?? 0, bind, () => {
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  allowedHosts = hostsFor(bind, port);
  const shownHost = isIP(bind) === 6 ? `[${bind}]` : bind;
  return {
    url: `http://${shownHost}:${port}/${token}/`,
    port,
    token,
    pendingBytes: () => [...outboxes].map((outbox) => outbox.pendingBytes),
    close: async () => {
      for (const client of sockets.clients) client.terminate();
      sockets.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}

/** One WebSocket as one connection of the service: JSON text frames both ways, sent through an Outbox. */
function attach(client: WebSocket, service: ApiService, outboxes: Set<Outbox>, limits: OutboxLimits | undefined): void {
  const outbox = new Outbox(client, limits);
  outboxes.add(outbox);
  const connection = service.connect((message) => {
    if (client.readyState === client.OPEN) outbox.push(message);
  });
  client.on('message', (data: RawData, isBinary: boolean) => {
    let message: unknown = 'a binary frame';
    if (!isBinary) {
      const text = Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]).toString('utf8');
      try {
        message = JSON.parse(text);
      } catch {
        message = text;
      }
    }
    connection.receive(message);
  });
  const closed = (): void => {
    outbox.close();
    outboxes.delete(outbox);
    connection.close();
  };
  client.on('close', closed);
  client.on('error', closed);
}
