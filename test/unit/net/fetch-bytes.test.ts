import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { fetchBytes } from '../../../src-main/net/fetch-bytes.js';
import { quickRetries, serveBytes, useNetFixtures } from './support.js';
import { rejectedFerryError } from '../../support/expect-ferry-error.js';

const INDEX = Buffer.from(JSON.stringify({ format: 'index:1.0', index: {} }));

const net = useNetFixtures();
const serve = net.serve;

describe('fetchBytes with a Content-Encoding', () => {
  it('asks for gzip, deflate or br and returns the decoded bytes', async () => {
    const { url } = await serve((_request, response) => {
      const body = gzipSync(INDEX);
      response.writeHead(200, { 'content-encoding': 'gzip', 'content-length': body.length });
      response.end(body);
    });

    const fetched = await fetchBytes(url('/index.sjson'), { client: net.client, maxBytes: 1_000, retry: quickRetries() });

    expect(fetched.bytes.equals(INDEX)).toBe(true);
    expect(net.server?.requests[0]?.headers['accept-encoding']).toBe('gzip, deflate, br');
  });

  it('limits the decoded size, so a compression bomb stops at maxBytes', async () => {
    const { url } = await serve((_request, response) => {
      const body = gzipSync(Buffer.alloc(50 * 1024 * 1024));
      response.writeHead(200, { 'content-encoding': 'gzip', 'content-length': body.length });
      response.end(body);
    });

    const error = await rejectedFerryError(fetchBytes(url('/bomb.json'), { client: net.client, maxBytes: 1_000_000, retry: quickRetries() }));

    expect(error.code).toBe('FERRY_TOO_LARGE');
    expect(error.message).toContain('decodes to more than 1000000 bytes');
  });

  it('names an encoding it cannot decode instead of passing on bytes that are not the file', async () => {
    const { url } = await serve((_request, response) => {
      response.writeHead(200, { 'content-encoding': 'zstd', 'content-length': 4 });
      response.end('abcd');
    });

    const error = await rejectedFerryError(fetchBytes(url('/index.sjson'), { client: net.client, maxBytes: 1_000, retry: quickRetries() }));

    expect(error.code).toBe('FERRY_CONTENT_ENCODING');
    expect(error.message).toBe(`${url('/index.sjson')} was sent with Content-Encoding: zstd, which Stream Ferry cannot decode`);
  });

  it('says a body that does not match its encoding could not be decoded', async () => {
    const { url } = await serve((_request, response) => {
      response.writeHead(200, { 'content-encoding': 'gzip', 'content-length': INDEX.length });
      response.end(INDEX);
    });

    const error = await rejectedFerryError(fetchBytes(url('/index.sjson'), { client: net.client, maxBytes: 1_000, retry: quickRetries() }));

    expect(error.code).toBe('FERRY_CONTENT_ENCODING');
    expect(error.message).toContain('the compressed body could not be decoded');
  });
});

describe('fetchBytes over http', () => {
  it('returns the bytes and the final URL after redirects', async () => {
    const { url } = await serve((request, response) => {
      if (request.url === '/streams/v1/index.sjson') {
        response.writeHead(301, { location: '/moved/index.sjson' });
        response.end();
      } else serveBytes(response, INDEX);
    });

    const fetched = await fetchBytes(url('/streams/v1/index.sjson'), { client: net.client, maxBytes: 1_000, retry: quickRetries() });

    expect(fetched.bytes.equals(INDEX)).toBe(true);
    expect(fetched.url).toBe(url('/moved/index.sjson'));
  });

  it('refuses a declared length over the limit without reading the body', async () => {
    const { url } = await serve((_request, response) => {
      serveBytes(response, Buffer.alloc(5_000));
    });

    const error = await rejectedFerryError(fetchBytes(url('/big.json'), { client: net.client, maxBytes: 1_000, retry: quickRetries() }));

    expect(error.code).toBe('FERRY_TOO_LARGE');
    expect(error.message).toContain(url('/big.json'));
    expect(error.message).toContain('1000');
    expect(net.server?.requests).toHaveLength(1);
  });

  it('stops reading an undeclared body as soon as it passes the limit', async () => {
    let bodyWritten = 0;
    let stoppedEarly = false;
    const { url } = await serve((_request, response) => {
      response.writeHead(200);
      const block = Buffer.alloc(16 * 1024);
      const pump = (): void => {
        while (bodyWritten < 50 * 1024 * 1024) {
          bodyWritten += block.length;
          if (!response.write(block)) {
            response.once('drain', pump);
            return;
          }
        }
        response.end();
      };
      response.once('close', () => {
        stoppedEarly = bodyWritten < 50 * 1024 * 1024;
      });
      pump();
    });

    const error = await rejectedFerryError(fetchBytes(url('/endless'), { client: net.client, maxBytes: 100_000, retry: quickRetries() }));
    await new Promise((resolve) => setTimeout(resolve, 50));

    expect(error.code).toBe('FERRY_TOO_LARGE');
    expect(error.message).toContain('100000');
    expect(stoppedEarly).toBe(true);
  });

  it('reports a 404 with status, URL and hint, without retrying', async () => {
    const { url } = await serve((_request, response) => {
      response.writeHead(404);
      response.end();
    });

    const error = await rejectedFerryError(fetchBytes(url('/streams/v1/missing.json'), { client: net.client, maxBytes: 1_000, retry: quickRetries() }));

    expect(error).toMatchObject({ code: 'FERRY_HTTP_STATUS', status: 404, url: url('/streams/v1/missing.json') });
    expect(error.hint).toBeDefined();
    expect(net.server?.requests).toHaveLength(1);
  });

  it('retries a server error and a dropped connection', async () => {
    const { url } = await serve((_request, response, index) => {
      if (index === 0) {
        response.writeHead(500);
        response.end();
      } else if (index === 1) {
        response.writeHead(200, { 'content-length': String(INDEX.length) });
        response.write(INDEX.subarray(0, 5), () => response.socket?.end());
      } else serveBytes(response, INDEX);
    });

    const fetched = await fetchBytes(url('/i.json'), { client: net.client, maxBytes: 1_000, retry: quickRetries() });

    expect(fetched.bytes.equals(INDEX)).toBe(true);
    expect(net.server?.requests).toHaveLength(3);
  });
  it('says what to check when nothing listens at the address', async () => {
    const { url } = await serve((_request, response) => {
      serveBytes(response, INDEX);
    });
    const closedUrl = url('/streams/v1/index.sjson');
    await net.closeServer();

    const error = await rejectedFerryError(fetchBytes(closedUrl, { client: net.client, maxBytes: 1_000, retry: quickRetries({ maxAttempts: 1 }) }));

    expect(error).toMatchObject({ code: 'FERRY_FETCH_FAILED', url: closedUrl });
    expect(error.message).toContain('the connection was refused');
    expect(error.errno).toBe('ECONNREFUSED');
    expect(error.hint).toContain('Nothing listens at that address');
  });
});

describe('fetchBytes from a file URL', () => {
  it('reads a local file', async () => {
    const path = join(net.temp.path, 'index.json');
    await writeFile(path, INDEX);

    const fetched = await fetchBytes(pathToFileURL(path).href, { client: net.client, maxBytes: 1_000, retry: quickRetries() });

    expect(fetched.bytes.equals(INDEX)).toBe(true);
    expect(fetched.url).toBe(pathToFileURL(path).href);
  });

  it('checks the size before reading', async () => {
    const path = join(net.temp.path, 'big.json');
    await writeFile(path, Buffer.alloc(2_000));

    const error = await rejectedFerryError(fetchBytes(pathToFileURL(path).href, { client: net.client, maxBytes: 1_000, retry: quickRetries() }));

    expect(error.code).toBe('FERRY_TOO_LARGE');
  });

  it('names the path of a missing file', async () => {
    const path = join(net.temp.path, 'absent.json');

    const error = await rejectedFerryError(fetchBytes(pathToFileURL(path).href, { client: net.client, maxBytes: 1_000, retry: quickRetries() }));

    expect(error.code).toBe('FERRY_FETCH_FAILED');
    expect(error.path).toBe(path);
  });
});
