// Browser mode lets in only whoever holds the printed URL: every HTTP request and the WebSocket must
// carry the token, and Host and Origin must name this server (DNS rebinding: a foreign site whose
// name resolves to 127.0.0.1 still sends its own Host and Origin). Real server on 127.0.0.1, real
// requests with Node's http client and the `ws` client.
import { request } from 'node:http';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createApiService, type ApiService } from '../../src-main/engine/index.js';
import { startUiServer, type UiServer } from '../../src-main/web/server.js';
import { removeQuietly } from '../integration/mirror/helpers.js';

let workDir: string;
let service: ApiService;
let server: UiServer;
let origin: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'ferry-ui-access-'));
  const rendererDir = join(workDir, 'renderer');
  await mkdir(join(rendererDir, 'assets'), { recursive: true });
  await writeFile(join(rendererDir, 'index.html'), '<!doctype html><title>app</title><script type="module" src="./assets/app.js"></script>');
  await writeFile(join(rendererDir, 'assets', 'app.js'), 'export {};');
  await writeFile(join(workDir, 'secret.txt'), 'outside the renderer');
  service = await createApiService({ library: join(workDir, 'library'), env: {} });
  server = await startUiServer({ service, rendererDir });
  origin = `http://127.0.0.1:${server.port}`;
});

afterAll(async () => {
  await server.close();
  await service.close();
  await removeQuietly(workDir);
});

function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const sent = request({ host: '127.0.0.1', port: server.port, path, headers }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body });
      });
    });
    sent.on('error', reject);
    sent.end();
  });
}

/** The HTTP status a WebSocket handshake ends with: 101 when accepted, else the refusal's. */
function handshake(path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve) => {
    const socket = new WebSocket(`ws://127.0.0.1:${server.port}${path}`, { headers });
    socket.on('open', () => {
      socket.close();
      resolve(101);
    });
    socket.on('unexpected-response', (_request, response) => {
      resolve(response.statusCode ?? 0);
      response.resume();
    });
    socket.on('error', () => undefined);
  });
}

describe('browser mode access', () => {
  it('prints a loopback URL carrying a 256-bit token', () => {
    expect(server.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${server.port}/[A-Za-z0-9_-]{43}/$`));
  });

  it('serves the app and its assets under the token, with a strict CSP and no Referer', async () => {
    const page = await get(`/${server.token}/`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('<title>app</title>');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expect((await get(`/${server.token}/assets/app.js`)).headers['content-type']).toMatch(/^text\/javascript/);
    // A screen of the single-page app answers with index.html; a path leaving the folder does not.
    expect((await get(`/${server.token}/catalog`)).body).toContain('<title>app</title>');
    expect((await get(`/${server.token}/..%2Fsecret.txt`)).status).toBe(404);
    expect((await get(`/${server.token}`)).headers.location).toBe(`/${server.token}/`);
  });

  it('refuses HTTP requests without the token (401), with a wrong one (403), or with a foreign Host or Origin (403)', async () => {
    expect((await get('/')).status).toBe(401);
    expect((await get('/assets/app.js')).status).toBe(401);
    expect((await get(`/${'A'.repeat(43)}/`)).status).toBe(403);
    expect((await get(`/${server.token}/`, { Host: `rebound.example:${server.port}` })).status).toBe(403);
    expect((await get(`/${server.token}/`, { Origin: 'http://rebound.example' })).status).toBe(403);
    expect((await get(`/${server.token}/`, { Origin: origin })).status).toBe(200);
    expect((await get(`/${server.token}/`, { Host: `localhost:${server.port}` })).status).toBe(200);
  });

  it('refuses a WebSocket without the token, with a wrong one, or with a foreign Host or Origin', async () => {
    expect(await handshake('/api')).toBe(401);
    expect(await handshake(`/${'A'.repeat(43)}/api`)).toBe(403);
    expect(await handshake(`/${server.token}/api`, { Origin: 'http://rebound.example' })).toBe(403);
    expect(await handshake(`/${server.token}/api`, { Host: `rebound.example:${server.port}` })).toBe(403);
    expect(await handshake(`/${server.token}/elsewhere`)).toBe(404);
    expect(await handshake(`/${server.token}/api`, { Origin: origin })).toBe(101);
  });

  it('answers a frame that is not a call with a refusal instead of closing', async () => {
    const socket = new WebSocket(`ws://127.0.0.1:${server.port}/${server.token}/api`);
    await new Promise((resolve) => socket.once('open', resolve));
    const reply = new Promise<string>((resolve) => socket.once('message', (data: Buffer) => { resolve(data.toString('utf8')); }));
    socket.send('not json');
    expect(JSON.parse(await reply)).toMatchObject({ type: 'reply', id: -1, ok: false, error: { code: 'FERRY_INPUT_INVALID', field: 'message' } });
    socket.close();
  });
});
