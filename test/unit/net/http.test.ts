import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FerryError } from '../../../src-main/base/errors.js';
import { createHttpClient, type HttpClient } from '../../../src-main/net/agent.js';
import { discardBody, nextRedirectUrl, openGet, parseRetryAfter } from '../../../src-main/net/http.js';
import { startScriptedServer, type ScriptedServer } from './support.js';

function refusalCode(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof FerryError) return error.code;
    throw error;
  }
  return undefined;
}

describe('nextRedirectUrl', () => {
  const from = new URL('https://images.example/streams/v1/index.sjson');

  it('resolves a relative Location against the current URL', () => {
    expect(nextRedirectUrl(from, '../../other/file', 0, 5).href).toBe('https://images.example/other/file');
  });

  it('allows https to https and http to https', () => {
    expect(nextRedirectUrl(from, 'https://cdn.example/f', 0, 5).host).toBe('cdn.example');
    expect(nextRedirectUrl(new URL('http://a.example/f'), 'https://b.example/f', 0, 5).protocol).toBe('https:');
  });

  it('refuses https to http', () => {
    expect(refusalCode(() => nextRedirectUrl(from, 'http://cdn.example/f', 0, 5))).toBe('FERRY_REDIRECT_INSECURE');
  });

  it('refuses schemes other than http(s)', () => {
    expect(refusalCode(() => nextRedirectUrl(from, 'file:///etc/passwd', 0, 5))).toBe('FERRY_FETCH_FAILED');
  });

  it('refuses more redirects than allowed', () => {
    expect(refusalCode(() => nextRedirectUrl(from, '/f', 5, 5))).toBe('FERRY_TOO_MANY_REDIRECTS');
    expect(refusalCode(() => nextRedirectUrl(from, '/f', 4, 5))).toBeUndefined();
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');

  it('reads delta-seconds', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
  });

  it('reads an HTTP date relative to now, never negative', () => {
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Tue, 31 Dec 2024 23:00:00 GMT', now)).toBe(0);
  });

  it('ignores what it cannot read', () => {
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});

describe('openGet credentials', () => {
  let server: ScriptedServer;
  let other: ScriptedServer;
  let client: HttpClient;

  beforeEach(async () => {
    other = await startScriptedServer((_request, response) => response.end('elsewhere'));
    server = await startScriptedServer((request, response) => {
      if (request.url === '/away') response.writeHead(302, { location: other.url('/f') });
      else if (request.url === '/here') response.writeHead(302, { location: '/f' });
      response.end('ok');
    });
    client = createHttpClient({ userAgent: 'stream-ferry/test' });
  });

  afterEach(async () => {
    await client.close();
    await server.close();
    await other.close();
  });

  function withCredentials(url: string): string {
    const parsed = new URL(url);
    parsed.username = 'mirror';
    parsed.password = 's3cret';
    return parsed.href;
  }

  it('sends user:password from the URL as Basic auth, across a same-origin redirect', async () => {
    const response = await openGet(client, withCredentials(server.url('/here')), { signal: new AbortController().signal, maxRedirects: 5 });
    await discardBody(response.body);

    const expected = `Basic ${Buffer.from('mirror:s3cret').toString('base64')}`;
    expect(server.requests.map((seen) => seen.headers.authorization)).toEqual([expected, expected]);
    expect(response.url).toBe(server.url('/f'));
  });

  it('does not carry the credentials to another origin', async () => {
    const response = await openGet(client, withCredentials(server.url('/away')), { signal: new AbortController().signal, maxRedirects: 5 });
    await discardBody(response.body);

    expect(server.requests[0]?.headers.authorization).toBeDefined();
    expect(other.requests[0]?.headers.authorization).toBeUndefined();
    expect(response.url).toBe(other.url('/f'));
  });
});
