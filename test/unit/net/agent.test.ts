import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isFerryError, type FerryError } from '../../../src-main/base/errors.js';
import { createHttpClient, resolveProxySettings, type HttpClient } from '../../../src-main/net/agent.js';
import { fetchBytes } from '../../../src-main/net/fetch-bytes.js';
import { quickRetries, serveBytes, startForwardProxy, startScriptedServer, type ScriptedServer } from './support.js';
import { rejectedFerryError } from '../../support/expect-ferry-error.js';

const PROXY_VARIABLES = ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'no_proxy', 'NO_PROXY'];
const BODY = Buffer.from('{"format":"products:1.0"}');

let target: ScriptedServer;
let proxy: Awaited<ReturnType<typeof startForwardProxy>>;
let client: HttpClient | undefined;

beforeEach(async () => {
  for (const name of PROXY_VARIABLES) vi.stubEnv(name, '');
  target = await startScriptedServer((_request, response) => {
      serveBytes(response, BODY);
    });
  proxy = await startForwardProxy();
});

afterEach(async () => {
  vi.unstubAllEnvs();
  await client?.close();
  client = undefined;
  await target.close();
  await proxy.close();
});

function fetchThrough(httpClient: HttpClient, url: string): Promise<{ bytes: Buffer }> {
  return fetchBytes(url, { client: httpClient, maxBytes: 1_000, retry: quickRetries({ maxAttempts: 1 }) });
}

async function closedPort(): Promise<number> {
  const server = await startScriptedServer(() => {});
  const port = Number(new URL(server.origin).port);
  await server.close();
  return port;
}

describe('createHttpClient without a proxy', () => {
  it('connects directly and sends the User-Agent', async () => {
    client = createHttpClient({ userAgent: 'stream-ferry/1.2.3' });

    const fetched = await fetchThrough(client, target.url('/f'));

    expect(fetched.bytes.equals(BODY)).toBe(true);
    expect(target.requests[0]?.headers['user-agent']).toBe('stream-ferry/1.2.3');
    expect(proxy.requests).toHaveLength(0);
  });

  it('keeps to the connection limit per origin', async () => {
    await target.close();
    target = await startScriptedServer((_request, response) => {
      setTimeout(() => {
        serveBytes(response, BODY);
      }, 30);
    });
    client = createHttpClient({ userAgent: 'stream-ferry/test', connectionsPerHost: 2 });
    const httpClient = client;

    await Promise.all(Array.from({ length: 6 }, () => fetchThrough(httpClient, target.url('/f'))));

    expect(target.requests).toHaveLength(6);
    expect(target.peakConcurrency()).toBe(2);
  });

  it('releases its sockets on close', async () => {
    client = createHttpClient({ userAgent: 'stream-ferry/test' });
    await fetchThrough(client, target.url('/f'));
    expect(await target.openConnections()).toBe(1);

    await client.close();
    client = undefined;
    await new Promise((resolve) => setTimeout(resolve, 50));

    expect(await target.openConnections()).toBe(0);
  });
});

describe('createHttpClient with a proxy', () => {
  it('sends http requests through the explicit proxy', async () => {
    client = createHttpClient({ userAgent: 'stream-ferry/test', proxy: proxy.origin });

    const fetched = await fetchThrough(client, target.url('/streams/v1/index.json'));

    expect(fetched.bytes.equals(BODY)).toBe(true);
    expect(proxy.requests.map((seen) => seen.url)).toEqual([target.url('/streams/v1/index.json')]);
    expect(target.requests).toHaveLength(1);
  });

  it('still honours NO_PROXY with an explicit proxy', async () => {
    client = createHttpClient({ userAgent: 'stream-ferry/test', proxy: proxy.origin, env: { NO_PROXY: '127.0.0.1' } });

    await fetchThrough(client, target.url('/f'));

    expect(proxy.requests).toHaveLength(0);
    expect(target.requests).toHaveLength(1);
  });

  it('prefers the explicit proxy to HTTP_PROXY', async () => {
    vi.stubEnv('HTTP_PROXY', `http://127.0.0.1:${await closedPort()}`);
    client = createHttpClient({ userAgent: 'stream-ferry/test', proxy: proxy.origin });

    await fetchThrough(client, target.url('/f'));

    expect(proxy.requests).toHaveLength(1);
  });

  it('uses HTTP_PROXY from the environment', async () => {
    vi.stubEnv('HTTP_PROXY', proxy.origin);
    client = createHttpClient({ userAgent: 'stream-ferry/test' });

    await fetchThrough(client, target.url('/f'));

    expect(proxy.requests.map((seen) => seen.url)).toEqual([target.url('/f')]);
  });

  it('reads an environment handed to it instead of the process one', async () => {
    client = createHttpClient({ userAgent: 'stream-ferry/test', env: { http_proxy: proxy.origin } });

    await fetchThrough(client, target.url('/f'));

    expect(proxy.requests).toHaveLength(1);
  });

  it('goes direct for hosts in NO_PROXY', async () => {
    vi.stubEnv('http_proxy', proxy.origin);
    vi.stubEnv('NO_PROXY', 'localhost,127.0.0.1');
    client = createHttpClient({ userAgent: 'stream-ferry/test' });

    await fetchThrough(client, target.url('/f'));

    expect(proxy.requests).toHaveLength(0);
    expect(target.requests).toHaveLength(1);
  });

  it('sends proxy credentials and keeps them out of error messages', async () => {
    client = createHttpClient({ userAgent: 'stream-ferry/test', proxy: `http://ferry:hunter2@${new URL(proxy.origin).host}` });
    await fetchThrough(client, target.url('/f'));
    expect(proxy.requests[0]?.headers['proxy-authorization']).toBe(`Basic ${Buffer.from('ferry:hunter2').toString('base64')}`);

    const unreachable = createHttpClient({ userAgent: 'stream-ferry/test', proxy: `http://ferry:hunter2@127.0.0.1:${await closedPort()}` });
    const error = await rejectedFerryError(fetchThrough(unreachable, target.url('/f')));
    await unreachable.close();

    expect(error.code).toBe('FERRY_FETCH_FAILED');
    expect(JSON.stringify(error)).not.toContain('hunter2');
  });

  it('refuses a proxy it cannot use, without echoing its password', () => {
    let refusal: unknown;
    try {
      createHttpClient({ userAgent: 'stream-ferry/test', proxy: 'socks5://ferry:hunter2@proxy.example:1080' });
    } catch (error) {
      refusal = error;
    }

    expect(isFerryError(refusal, 'FERRY_SETTING_INVALID')).toBe(true);
    expect((refusal as FerryError).setting).toBe('proxy');
    expect((refusal as Error).message).not.toContain('hunter2');
  });

  // Node runs a timer longer than 2^31 - 1 ms after 1 ms, so a longer stall timeout would fire at once.
  it.each([0, -1, 2 ** 31, Number.POSITIVE_INFINITY])('refuses a stall timeout of %s ms, naming the setting', (stallTimeoutMs) => {
    let refusal: unknown;
    try {
      createHttpClient({ userAgent: 'test', env: {}, stallTimeoutMs });
    } catch (error) {
      refusal = error;
    }
    expect(isFerryError(refusal, 'FERRY_SETTING_INVALID')).toBe(true);
    expect((refusal as FerryError).setting).toBe('stallTimeoutMs');
  });

  it('accepts the longest stall timeout a Node timer can wait, 2^31 - 1 ms', async () => {
    const client = createHttpClient({ userAgent: 'test', env: {}, stallTimeoutMs: 2 ** 31 - 1 });
    await client.close();
  });
});

describe('resolveProxySettings', () => {
  it('reads the lower-case variables before the upper-case ones', () => {
    const settings = resolveProxySettings(undefined, {
      http_proxy: 'http://lower:3128',
      HTTP_PROXY: 'http://upper:3128',
      HTTPS_PROXY: 'http://secure:3128',
      NO_PROXY: '.internal',
    });

    expect(settings).toEqual({ httpProxy: 'http://lower:3128/', httpsProxy: 'http://secure:3128/', noProxy: '.internal' });
  });

  it('applies the explicit proxy to both schemes and accepts host:port', () => {
    expect(resolveProxySettings('squid.lan:3128', { HTTPS_PROXY: 'http://other:1' })).toEqual({
      httpProxy: 'http://squid.lan:3128/',
      httpsProxy: 'http://squid.lan:3128/',
      noProxy: '',
    });
  });

  it('treats empty variables as unset', () => {
    expect(resolveProxySettings('', { HTTP_PROXY: ' ' })).toEqual({ httpProxy: undefined, httpsProxy: undefined, noProxy: '' });
  });
});
