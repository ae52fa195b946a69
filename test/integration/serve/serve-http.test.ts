import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDeterministicPayload } from '../../support/deterministic-payload.js';
import { rawRequest, startFerryServe, type ServingFerry } from '../../support/ferry-serve.js';
import { runFerry } from '../../support/run-ferry.js';

// `ferry serve` over a hand-made tree, run as the operator runs it (the built CLI in its own
// process, on 127.0.0.1 with a free port). Requests go out byte for byte as written here, so the
// traversal forms reach the server undecoded and unnormalised.

const MIB = 1024 * 1024;
const CONTENT_ID_FILE = 'streams/v1/com.ubuntu.maas:stable:v3:download.sjson';
const LARGE_FILES = ['noble/amd64/20250615/squashfs', 'noble/amd64/20250615/boot-initrd', 'jammy/amd64/20250615/squashfs', 'jammy/amd64/20250615/boot-initrd'];
const LARGE_SIZE = 6 * MIB + 123;

let workDir: string;
let tree: string;
let ferry: ServingFerry;
const digests = new Map<string, string>();

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'ferry-serve-http-'));
  tree = join(workDir, 'tree');
  await mkdir(join(tree, 'streams/v1'), { recursive: true });
  await mkdir(join(tree, '.ferry'), { recursive: true });
  await writeFile(join(tree, 'streams/v1/index.sjson'), 'index: signed bytes\n');
  await writeFile(join(tree, CONTENT_ID_FILE), 'products: 0123456789abcdefghijklmnopqrstuvwxyz\n');
  await writeFile(join(tree, 'empty'), '');
  await writeFile(join(tree, '.ferry/catalog.db'), 'state');
  await writeFile(join(workDir, 'outside.txt'), 'SECRET outside the tree');
  for (const path of LARGE_FILES) {
    await mkdir(join(tree, path, '..'), { recursive: true });
    digests.set(path, await writeDeterministicPayload(join(tree, path), 'serve-http', path, LARGE_SIZE));
  }
  await symlink('..', join(tree, 'escape-dir'));
  await symlink(join(workDir, 'outside.txt'), join(tree, 'escape-file'));
  await symlink('../../../outside.txt', join(tree, 'streams/v1/relative-escape'));
  await symlink('streams/v1/index.sjson', join(tree, 'inside-link'));
  await symlink('.ferry/catalog.db', join(tree, 'state-link'));
  ferry = await startFerryServe([tree, '--port', '0']);
});

afterAll(async () => {
  await ferry.stop();
  await rm(workDir, { recursive: true, force: true });
});

const get = (target: string, headers: Record<string, string> = {}, method = 'GET'): ReturnType<typeof rawRequest> =>
  rawRequest(ferry.baseUrl, target, { method, headers });

describe('ferry serve: what it prints', () => {
  it('prints the boot-source URL first, on loopback with the port it picked', () => {
    expect(ferry.bootSourceUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(ferry.bootSourceUrl).not.toContain(':0/');
    expect(ferry.banner).toContain('loopback only');
  });
});

describe('ferry serve: HTTP semantics', () => {
  it('answers HEAD with the length and validators and no body', async () => {
    const size = (await stat(join(tree, 'streams/v1/index.sjson'))).size;
    const response = await get('/streams/v1/index.sjson', {}, 'HEAD');
    expect(response.status).toBe(200);
    expect(response.headers['content-length']).toBe(String(size));
    expect(response.headers['accept-ranges']).toBe('bytes');
    expect(response.headers['etag']).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    expect(Date.parse(String(response.headers['last-modified']))).not.toBeNaN();
    expect(response.body.length).toBe(0);
  });

  it('answers GET with the exact bytes', async () => {
    const response = await get('/streams/v1/index.sjson');
    expect(response.status).toBe(200);
    expect(response.body.equals(await readFile(join(tree, 'streams/v1/index.sjson')))).toBe(true);
  });

  it('serves single ranges: closed, open-ended and suffix', async () => {
    const whole = await readFile(join(tree, CONTENT_ID_FILE));
    const cases: Array<[string, number, number]> = [
      ['bytes=10-19', 10, 19],
      ['bytes=30-', 30, whole.length - 1],
      ['bytes=-5', whole.length - 5, whole.length - 1],
      ['bytes=40-100000', 40, whole.length - 1],
    ];
    for (const [range, start, end] of cases) {
      const response = await get(`/${CONTENT_ID_FILE}`, { Range: range });
      expect(response.status, range).toBe(206);
      expect(response.headers['content-range'], range).toBe(`bytes ${start}-${end}/${whole.length}`);
      expect(response.headers['content-length'], range).toBe(String(end - start + 1));
      expect(response.body.equals(whole.subarray(start, end + 1)), range).toBe(true);
    }
  });

  it('answers an unsatisfiable range with 416 and the size', async () => {
    const size = (await stat(join(tree, CONTENT_ID_FILE))).size;
    const response = await get(`/${CONTENT_ID_FILE}`, { Range: `bytes=${size}-` });
    expect(response.status).toBe(416);
    expect(response.headers['content-range']).toBe(`bytes */${size}`);
  });

  it('answers several ranges, and a malformed one, with the whole file', async () => {
    const whole = await readFile(join(tree, CONTENT_ID_FILE));
    for (const range of ['bytes=0-1,10-11', 'bytes=abc', 'lines=1-2']) {
      const response = await get(`/${CONTENT_ID_FILE}`, { Range: range });
      expect(response.status, range).toBe(200);
      expect(response.body.equals(whole), range).toBe(true);
    }
  });

  it('answers conditional GETs: If-None-Match and If-Modified-Since give 304, an older date 200', async () => {
    const head = await get('/streams/v1/index.sjson', {}, 'HEAD');
    const etag = String(head.headers['etag']);
    const lastModified = String(head.headers['last-modified']);
    expect((await get('/streams/v1/index.sjson', { 'If-None-Match': etag })).status).toBe(304);
    expect((await get('/streams/v1/index.sjson', { 'If-None-Match': '"other"' })).status).toBe(200);
    expect((await get('/streams/v1/index.sjson', { 'If-Modified-Since': lastModified })).status).toBe(304);
    expect((await get('/streams/v1/index.sjson', { 'If-Modified-Since': 'Thu, 01 Jan 2015 00:00:00 GMT' })).status).toBe(200);
    expect((await get('/streams/v1/index.sjson', { 'If-Match': '"other"' })).status).toBe(412);
    expect((await get('/streams/v1/index.sjson', { 'If-Match': etag })).status).toBe(200);
    expect((await get('/streams/v1/index.sjson', { 'If-Unmodified-Since': 'Thu, 01 Jan 2015 00:00:00 GMT' })).status).toBe(412);
  });

  it('honours If-Range only for the current strong tag or exact date', async () => {
    const head = await get(`/${CONTENT_ID_FILE}`, {}, 'HEAD');
    const etag = String(head.headers['etag']);
    const lastModified = String(head.headers['last-modified']);
    const withIfRange = (ifRange: string): ReturnType<typeof rawRequest> => get(`/${CONTENT_ID_FILE}`, { Range: 'bytes=0-3', 'If-Range': ifRange });
    expect((await withIfRange(etag)).status).toBe(206);
    expect((await withIfRange(lastModified)).status).toBe(206);
    expect((await withIfRange('"changed"')).status).toBe(200);
    expect((await withIfRange(`W/${etag}`)).status).toBe(200);
    expect((await withIfRange('Thu, 01 Jan 2015 00:00:00 GMT')).status).toBe(200);
  });

  it('serves an empty file, and refuses methods other than GET and HEAD', async () => {
    const empty = await get('/empty');
    expect(empty.status).toBe(200);
    expect(empty.headers['content-length']).toBe('0');
    const post = await get('/streams/v1/index.sjson', {}, 'POST');
    expect(post.status).toBe(405);
    expect(post.headers['allow']).toBe('GET, HEAD');
  });

  it("serves content-id paths with ':' raw and percent-encoded", async () => {
    const expected = await readFile(join(tree, CONTENT_ID_FILE));
    for (const target of ['/streams/v1/com.ubuntu.maas:stable:v3:download.sjson', '/streams/v1/com.ubuntu.maas%3Astable%3Av3%3Adownload.sjson', '/streams/v1/com.ubuntu.maas%3astable:v3%3adownload.sjson?x=1']) {
      const response = await get(target);
      expect(response.status, target).toBe(200);
      expect(response.body.equals(expected), target).toBe(true);
    }
  });
});

describe('ferry serve: nothing outside the tree', () => {
  // Each of these names outside.txt (or a system file) in some spelling; none may be served.
  const escapes = [
    '/../outside.txt',
    '/streams/../../outside.txt',
    '/%2e%2e/outside.txt',
    '/%2E%2E/outside.txt',
    '/streams/%2e%2e/%2e%2e/outside.txt',
    '/.%2e/outside.txt',
    '/%252e%252e/outside.txt',
    '/..%2foutside.txt',
    '/..%2Foutside.txt',
    '/..%5coutside.txt',
    '/..%255coutside.txt',
    '/..\\outside.txt',
    '/streams/v1/index.sjson%00.txt',
    '/streams/v1/index.sjson%2500',
    '//etc/passwd',
    '/%2fetc/passwd',
    '/etc/passwd',
    '/escape-dir/outside.txt',
    '/escape-file',
    '/streams/v1/relative-escape',
  ];

  it.each(escapes)('%s gets 404 or 400, never the bytes', async (target) => {
    const response = await get(target);
    expect([400, 403, 404]).toContain(response.status);
    expect(response.body.toString('latin1')).not.toMatch(/SECRET|root:/);
  });

  it('follows a link that stays inside the tree', async () => {
    const response = await get('/inside-link');
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('index: signed bytes\n');
  });

  it.each(['/.ferry/catalog.db', '/.FERRY/catalog.db', '/%2eferry/catalog.db', '/.ferry./catalog.db', '/state-link', '/.ferry/'])('never serves the state folder: %s', async (target) => {
    const response = await get(target);
    expect(response.status).toBe(404);
    expect(response.body.toString()).not.toContain('state');
  });

  it.each(['/', '/streams/', '/streams/v1', '/streams/v1/', '/noble'])('lists no directory: %s', async (target) => {
    const response = await get(target);
    expect(response.status).toBe(404);
    expect(response.body.toString()).not.toMatch(/index\.sjson|amd64/);
  });
});

describe('ferry serve: many clients', () => {
  it('gives 16 parallel clients the right bytes of every large file', async () => {
    const fetchAll = async (client: number): Promise<void> => {
      // Each client starts at a different file, so all files are read at once.
      for (let step = 0; step < LARGE_FILES.length; step += 1) {
        const path = LARGE_FILES[(client + step) % LARGE_FILES.length] ?? '';
        const response = await get(`/${path}`);
        expect(response.status).toBe(200);
        expect(response.body.length).toBe(LARGE_SIZE);
        expect(createHash('sha256').update(response.body).digest('hex'), `client ${client}: ${path}`).toBe(digests.get(path));
      }
    };
    await Promise.all(Array.from({ length: 16 }, (_unused, client) => fetchAll(client)));
  });
});

describe('ferry serve: start and stop', () => {
  it('stops on SIGTERM within the grace period while a client holds a transfer open', async () => {
    const own = await startFerryServe([tree, '--port', '0']);
    const base = new URL(own.baseUrl);
    // A client that asks for a large file and never reads it keeps the response in flight.
    const stalled = request({ host: base.hostname, port: base.port, path: `/${LARGE_FILES[0] ?? ''}`, agent: false });
    const responded = new Promise<void>((resolveResponse) => stalled.on('response', () => { resolveResponse(); }));
    stalled.on('error', () => undefined);
    stalled.end();
    await responded;
    const started = Date.now();
    const run = await own.stop('SIGTERM');
    stalled.destroy();
    expect(run.code, run.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(run.stderr).toContain('Stopped serving.');
  });

  it('binds another loopback address only when asked, and says so', async () => {
    const own = await startFerryServe([tree, '--port', '0', '--bind', '127.0.0.2']);
    try {
      expect(own.bootSourceUrl).toMatch(/^http:\/\/127\.0\.0\.2:\d+\/$/);
      expect(own.banner).toContain('on 127.0.0.2:');
      expect((await rawRequest(own.baseUrl, '/streams/v1/index.sjson')).status).toBe(200);
    } finally {
      await own.stop();
    }
  });

  it('refuses a port in use (FERRY_LISTEN_FAILED), a --bind that is not an address, and a PATH that is not a directory', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolveListening) => blocker.listen(0, '127.0.0.1', () => { resolveListening(); }));
    const port = (blocker.address() as { port: number }).port;
    try {
      const inUse = await runFerry(['serve', tree, '--port', String(port)]);
      expect(inUse.code).toBe(1);
      expect(inUse.stderr).toContain('FERRY_LISTEN_FAILED');
      expect(inUse.stderr).toContain(`127.0.0.1:${port}`);
    } finally {
      await new Promise((resolveClosed) => blocker.close(resolveClosed));
    }
    const badBind = await runFerry(['serve', tree, '--port', '0', '--bind', 'example.invalid']);
    expect(badBind.code).toBe(2);
    expect(badBind.stderr).toContain('FERRY_USAGE');
    const notDirectory = await runFerry(['serve', join(tree, 'streams/v1/index.sjson'), '--port', '0']);
    expect(notDirectory.code).toBe(1);
    expect(notDirectory.stderr).toContain('FERRY_SERVE_ROOT_INVALID');
    const missing = await runFerry(['serve', join(workDir, 'nothing-here'), '--port', '0']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('FERRY_SERVE_ROOT_INVALID');
  });
});
