import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureServer, type FaultHook, type FixtureServer } from '../../support/fixture-server.js';

const FILE_PATH = 'noble/amd64/20250615/squashfs';
const FILE_SIZE = 3 * 1024 * 1024 + 123;

let workDir: string;
let root: string;
let content: Buffer;
let server: FixtureServer | undefined;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'ferry-fixture-server-'));
  root = join(workDir, 'mirror');
  content = randomBytes(FILE_SIZE);
  await mkdir(join(root, 'noble/amd64/20250615'), { recursive: true });
  await writeFile(join(root, FILE_PATH), content);
  await writeFile(join(root, 'empty'), '');
  await writeFile(join(root, 'streams.json'), '{"format": "index:1.0"}\n');
  await writeFile(join(workDir, 'outside-secret'), 'not for clients');
  // A fixed mtime gives a predictable Last-Modified.
  await utimes(join(root, FILE_PATH), new Date('2025-06-15T08:00:00Z'), new Date('2025-06-15T08:00:00Z'));
});

afterEach(async () => {
  await server?.close();
  server = undefined;
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

async function serve(faults?: FaultHook): Promise<FixtureServer> {
  server = await startFixtureServer(faults === undefined ? { root } : { root, faults });
  return server;
}

/** Reads a body with undici, keeping what arrived before any error. */
async function readBody(body: AsyncIterable<Buffer>): Promise<{ bytes: Buffer; error?: unknown }> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of body) chunks.push(chunk);
    return { bytes: Buffer.concat(chunks) };
  } catch (error) {
    return { bytes: Buffer.concat(chunks), error };
  }
}

function rawGet(url: string, rawPath: string): Promise<number> {
  // fetch and undici normalise "..", so the traversal check needs a client that sends the path as is.
  const { hostname, port } = new URL(url);
  return new Promise((resolveStatus, rejectStatus) => {
    const outgoing = httpRequest({ host: hostname, port, path: rawPath, agent: false }, (response) => {
      response.resume();
      resolveStatus(response.statusCode ?? 0);
    });
    outgoing.on('error', rejectStatus);
    outgoing.end();
  });
}

describe('fixture server: serving files', () => {
  it('listens on 127.0.0.1 with a URL that ends in a slash', async () => {
    const { url, port } = await serve();
    expect(url).toBe(`http://127.0.0.1:${port}/`);
  });

  it('serves a whole file with length, validators and Accept-Ranges, counting the bytes', async () => {
    const { url, bytesSentFor, requestsFor } = await serve();
    const response = await fetch(`${url}${FILE_PATH}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe(String(FILE_SIZE));
    expect(response.headers.get('accept-ranges')).toBe('bytes');
    expect(response.headers.get('etag')).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    expect(response.headers.get('last-modified')).toBe('Sun, 15 Jun 2025 08:00:00 GMT');
    expect(Buffer.from(await response.arrayBuffer()).equals(content)).toBe(true);
    expect(bytesSentFor(FILE_PATH)).toBe(FILE_SIZE);
    expect(server?.totalBytesSent).toBe(FILE_SIZE);
    expect(requestsFor(FILE_PATH)).toBe(1);
  });

  it('answers HEAD with the headers of GET and no data bytes', async () => {
    const { url } = await serve();
    const response = await fetch(`${url}${FILE_PATH}`, { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe(String(FILE_SIZE));
    expect(response.headers.get('etag')).toBeTruthy();
    expect(server?.totalBytesSent).toBe(0);
    expect(server?.requestLog).toEqual([{ method: 'HEAD', path: FILE_PATH, attempt: 1, status: 200, bytesSent: 0 }]);
  });

  it.each([
    ['bytes=100-199', 100, 199],
    ['bytes=3145000-', 3145000, FILE_SIZE - 1],
    ['bytes=-50', FILE_SIZE - 50, FILE_SIZE - 1],
    [`bytes=10-${FILE_SIZE + 1000}`, 10, FILE_SIZE - 1],
  ])('answers Range %s with 206 and exactly those bytes', async (range, start, end) => {
    const { url, bytesSentFor } = await serve();
    const response = await fetch(`${url}${FILE_PATH}`, { headers: { range } });
    expect(response.status).toBe(206);
    expect(response.headers.get('content-range')).toBe(`bytes ${start}-${end}/${FILE_SIZE}`);
    expect(response.headers.get('content-length')).toBe(String(end - start + 1));
    expect(Buffer.from(await response.arrayBuffer()).equals(content.subarray(start, end + 1))).toBe(true);
    expect(bytesSentFor(FILE_PATH)).toBe(end - start + 1);
  });

  it('answers 416 with the size for a range that starts past the end', async () => {
    const { url } = await serve();
    const response = await fetch(`${url}${FILE_PATH}`, { headers: { range: `bytes=${FILE_SIZE}-` } });
    expect(response.status).toBe(416);
    expect(response.headers.get('content-range')).toBe(`bytes */${FILE_SIZE}`);
    const emptyFile = await fetch(`${url}empty`, { headers: { range: 'bytes=0-' } });
    expect(emptyFile.status).toBe(416);
  });

  it('serves the whole file for a multi-part or malformed Range header', async () => {
    const { url } = await serve();
    for (const range of ['bytes=0-1,5-6', 'lines=1-2', 'bytes=50-10']) {
      const response = await fetch(`${url}${FILE_PATH}`, { headers: { range } });
      expect(response.status, range).toBe(200);
      expect((await response.arrayBuffer()).byteLength).toBe(FILE_SIZE);
    }
  });

  it('answers If-None-Match with 304, and honours If-Range only while the ETag matches', async () => {
    const { url } = await serve();
    const etag = (await fetch(`${url}${FILE_PATH}`, { method: 'HEAD' })).headers.get('etag') ?? '';
    expect((await fetch(`${url}${FILE_PATH}`, { headers: { 'if-none-match': etag } })).status).toBe(304);
    const resumed = await fetch(`${url}${FILE_PATH}`, { headers: { range: 'bytes=10-', 'if-range': etag } });
    expect(resumed.status).toBe(206);
    await resumed.arrayBuffer();
    const stale = await fetch(`${url}${FILE_PATH}`, { headers: { range: 'bytes=10-', 'if-range': '"something-else"' } });
    expect(stale.status).toBe(200);
    expect((await stale.arrayBuffer()).byteLength).toBe(FILE_SIZE);
  });

  it('answers 404 for missing files and directories, 403 for paths that leave the root, 405 for other methods', async () => {
    const { url } = await serve();
    expect((await fetch(`${url}no/such/file`)).status).toBe(404);
    expect((await fetch(`${url}noble/amd64`)).status).toBe(404);
    expect(await rawGet(url, '/../outside-secret')).toBe(403);
    expect(await rawGet(url, '/noble/%2e%2e/%2e%2e/outside-secret')).toBe(403);
    expect(await rawGet(url, '/..%2foutside-secret')).toBe(403);
    expect((await fetch(`${url}streams.json`, { method: 'POST', body: 'x' })).status).toBe(405);
  });

  it('decodes percent-encoded paths such as the colons of content ids', async () => {
    const { url, requestsFor } = await serve();
    const response = await fetch(`${url}streams%2Ejson`);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.text()).toContain('index:1.0');
    expect(requestsFor('streams.json')).toBe(1);
  });

  it('logs every request and forgets it all on resetCounters', async () => {
    const { url, requestsFor, resetCounters } = await serve();
    await (await fetch(`${url}${FILE_PATH}`, { headers: { range: 'bytes=0-9' } })).arrayBuffer();
    await (await fetch(`${url}no/such/file`)).arrayBuffer();
    expect(server?.requestLog).toEqual([
      { method: 'GET', path: FILE_PATH, range: { start: 0, end: 9 }, attempt: 1, status: 206, bytesSent: 10 },
      { method: 'GET', path: 'no/such/file', attempt: 1, status: 404, bytesSent: 0 },
    ]);
    resetCounters();
    expect(server?.requestLog).toEqual([]);
    expect(server?.totalBytesSent).toBe(0);
    expect(requestsFor(FILE_PATH)).toBe(0);
  });
});

describe('fixture server: faults, as a real client sees them', () => {
  it('answers a scripted status with its headers, then the file on the next attempt', async () => {
    const { url } = await serve(({ attempt }) => (attempt === 1 ? { kind: 'status', status: 503, headers: { 'retry-after': '2' } } : undefined));
    const first = await fetch(`${url}${FILE_PATH}`);
    expect(first.status).toBe(503);
    expect(first.headers.get('retry-after')).toBe('2');
    await first.arrayBuffer();
    const second = await fetch(`${url}${FILE_PATH}`);
    expect(second.status).toBe(200);
    expect((await second.arrayBuffer()).byteLength).toBe(FILE_SIZE);
    expect(server?.requestLog.map((entry) => [entry.attempt, entry.status, entry.fault])).toEqual([
      [1, 503, 'status'],
      [2, 200, undefined],
    ]);
  });

  it.each([404, 429, 500])('answers status %i when scripted', async (status) => {
    const { url } = await serve(() => ({ kind: 'status', status }));
    expect((await fetch(`${url}${FILE_PATH}`)).status).toBe(status);
    expect(server?.totalBytesSent).toBe(0);
  });

  it('closes the connection after exactly afterBytes body bytes', async () => {
    const { url } = await serve(() => ({ kind: 'reset', afterBytes: 1_500_000 }));
    const response = await request(`${url}${FILE_PATH}`);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-length']).toBe(String(FILE_SIZE));
    const { bytes, error } = await readBody(response.body);
    expect(error).toBeDefined();
    expect(bytes.length).toBe(1_500_000);
    expect(bytes.equals(content.subarray(0, 1_500_000))).toBe(true);
    expect(server?.bytesSentFor(FILE_PATH)).toBe(1_500_000);
  });

  it('can close the connection before any body byte, and fetch reports the failure', async () => {
    const { url } = await serve(() => ({ kind: 'reset', afterBytes: 0 }));
    const response = await fetch(`${url}${FILE_PATH}`);
    expect(response.status).toBe(200);
    await expect(response.arrayBuffer()).rejects.toThrow();
    expect(server?.totalBytesSent).toBe(0);
  });

  it('sends wrong bytes of the right length', async () => {
    const { url } = await serve(() => ({ kind: 'corrupt' }));
    const received = Buffer.from(await (await fetch(`${url}${FILE_PATH}`)).arrayBuffer());
    expect(received.length).toBe(FILE_SIZE);
    expect(received.equals(content)).toBe(false);
  });

  it('pauses after afterBytes for the given time, then completes the body', async () => {
    const { url } = await serve(() => ({ kind: 'stall', afterBytes: 1000, ms: 300 }));
    const response = await request(`${url}${FILE_PATH}`);
    const iterator = response.body[Symbol.asyncIterator]();
    const chunks: Buffer[] = [];
    let received = 0;
    while (received < 1000) {
      const next = await iterator.next();
      if (next.done === true) break;
      chunks.push(next.value as Buffer);
      received += (next.value as Buffer).length;
    }
    const pausedAt = performance.now();
    for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) chunks.push(next.value as Buffer);
    expect(performance.now() - pausedAt).toBeGreaterThanOrEqual(250);
    expect(Buffer.concat(chunks).equals(content)).toBe(true);
  });

  it('can stall for ever; the client gives up and close() still returns promptly', async () => {
    const { url } = await serve(() => ({ kind: 'stall', afterBytes: 10, ms: Infinity }));
    const response = await fetch(`${url}${FILE_PATH}`, { signal: AbortSignal.timeout(300) });
    await expect(response.arrayBuffer()).rejects.toThrow();
    const stalled = await fetch(`${url}${FILE_PATH}`);
    const reader = stalled.body?.getReader();
    await reader?.read();
    const closing = performance.now();
    await server?.close();
    expect(performance.now() - closing).toBeLessThan(1000);
    await expect(reader?.read()).rejects.toThrow();
  });

  it('answers a Range request with 200 and the whole file when told to ignore ranges', async () => {
    const { url } = await serve(() => ({ kind: 'ignore-range' }));
    const response = await fetch(`${url}${FILE_PATH}`, { headers: { range: 'bytes=100-' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-range')).toBeNull();
    expect(Buffer.from(await response.arrayBuffer()).equals(content)).toBe(true);
  });

  it('serves a different ETag when told the file changed, so an If-Range resume gets the whole file', async () => {
    const { url, setFaults } = await serve();
    const originalEtag = (await fetch(`${url}${FILE_PATH}`, { method: 'HEAD' })).headers.get('etag') ?? '';
    setFaults(() => ({ kind: 'change-etag' }));
    const response = await fetch(`${url}${FILE_PATH}`, { headers: { range: 'bytes=100-', 'if-range': originalEtag } });
    expect(response.headers.get('etag')).not.toBe(originalEtag);
    expect(response.status).toBe(200);
    expect((await response.arrayBuffer()).byteLength).toBe(FILE_SIZE);
  });

  it('redirects, and a client that follows arrives at the target', async () => {
    const { url } = await serve(({ path }) => (path === 'moved' ? { kind: 'redirect', location: `/${FILE_PATH}`, status: 301 } : undefined));
    const manual = await fetch(`${url}moved`, { redirect: 'manual' });
    expect(manual.status).toBe(301);
    expect(manual.headers.get('location')).toBe(`/${FILE_PATH}`);
    const followed = await fetch(`${url}moved`);
    expect(followed.url).toBe(`${url}${FILE_PATH}`);
    expect((await followed.arrayBuffer()).byteLength).toBe(FILE_SIZE);
    expect(server?.requestLog.map((entry) => entry.status)).toEqual([301, 301, 200]);
  });

  it('passes the hook the method, the decoded path, the range and the attempt number', async () => {
    const seen: unknown[] = [];
    const { url } = await serve((faultRequest) => {
      seen.push(faultRequest);
      return undefined;
    });
    await (await fetch(`${url}${FILE_PATH}`, { method: 'HEAD' })).arrayBuffer();
    await (await fetch(`${url}${FILE_PATH}`, { headers: { range: 'bytes=5-' } })).arrayBuffer();
    expect(seen).toEqual([
      { method: 'HEAD', path: FILE_PATH, attempt: 1 },
      { method: 'GET', path: FILE_PATH, range: { start: 5 }, attempt: 2 },
    ]);
  });
});

describe('fixture server: connections', () => {
  it('closes idle keep-alive connections at once on close()', async () => {
    const { url } = await serve();
    const agent = new Agent({ keepAliveTimeout: 60_000 });
    try {
      for (let round = 0; round < 3; round += 1) {
        const response = await request(`${url}streams.json`, { dispatcher: agent });
        await response.body.text();
      }
      const started = performance.now();
      await server?.close();
      expect(performance.now() - started).toBeLessThan(500);
    } finally {
      await agent.close();
    }
  });
});
