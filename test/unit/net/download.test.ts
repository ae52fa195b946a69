import { execFileSync } from 'node:child_process';
import { rmSync, symlinkSync } from 'node:fs';
import { lstat, mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Agent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cliHint } from '../../../src-main/cli/hints.js';
import type { HttpClient } from '../../../src-main/net/agent.js';
import { downloadFile, type DownloadRequest } from '../../../src-main/net/download.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../../../src-main/net/retry.js';
import {
  closeServer,
  digest,
  quickRetries,
  serveBytes,
  serveThenDrop,
  serveThenHang,
  serveWithRange,
  testBytes,
  useNetFixtures,
} from './support.js';
import { rejectedFerryError } from '../../support/expect-ferry-error.js';

const CONTENT = testBytes(300_000);
const CONTENT_SHA256 = digest('sha256', CONTENT);

const net = useNetFixtures();
const serve = net.serve;

function sha256Request(url: string, bytes = CONTENT, tempName = 'file.part'): DownloadRequest {
  return {
    url,
    tempPath: join(net.temp.path, tempName),
    expectedSize: bytes.length,
    checksum: { algorithm: 'sha256', hex: digest('sha256', bytes) },
  };
}

interface DownloadOverrides {
  retry?: RetryPolicy;
  signal?: AbortSignal;
  stallTimeoutMs?: number;
  onBytes?: (delta: number) => void;
  directIo?: boolean;
}

function download(request: DownloadRequest, overrides: DownloadOverrides = {}) {
  return downloadFile(request, {
    client: net.client,
    retry: overrides.retry ?? quickRetries(),
    stallTimeoutMs: overrides.stallTimeoutMs ?? 5_000,
    directIo: overrides.directIo ?? true,
    ...(overrides.signal === undefined ? {} : { signal: overrides.signal }),
    ...(overrides.onBytes === undefined ? {} : { onBytes: overrides.onBytes }),
  });
}

/** Compared by digest: a deep equality over 300 kB of bytes costs seconds in the test runner. */
async function fileSha256(path: string): Promise<string> {
  return digest('sha256', await readFile(path));
}

function rangeStart(header: string | undefined): number {
  const match = /^bytes=(\d+)-$/.exec(header ?? '');
  if (match === null) throw new Error(`not a resume request: ${String(header)}`);
  return Number(match[1]);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

describe('downloadFile: checksums', () => {
  it('downloads and verifies against a listed sha256', async () => {
    const { url } = await serve((_request, response) => {
      serveBytes(response, CONTENT);
    });
    const request = sha256Request(url('/image.squashfs'));

    const result = await download(request);

    expect(result).toEqual({ sha256: CONTENT_SHA256, size: CONTENT.length, bytesTransferred: CONTENT.length, resumedFrom: 0, attempts: 1 });
    expect(await fileSha256(request.tempPath)).toBe(digest('sha256', CONTENT));
    expect(net.server?.requests[0]?.headers['user-agent']).toBe('stream-ferry/test');
  });

  it.each(['sha512', 'md5'] as const)('verifies a listed %s and still returns the sha256', async (algorithm) => {
    const { url } = await serve((_request, response) => {
      serveBytes(response, CONTENT);
    });
    const request: DownloadRequest = {
      url: url('/f'),
      tempPath: join(net.temp.path, 'f.part'),
      expectedSize: CONTENT.length,
      checksum: { algorithm, hex: digest(algorithm, CONTENT).toUpperCase() },
    };

    const result = await download(request);

    expect(result.sha256).toBe(CONTENT_SHA256);
    expect(await fileSha256(request.tempPath)).toBe(digest('sha256', CONTENT));
  });

  it('retries from zero after wrong bytes, then succeeds', async () => {
    const corrupt = Buffer.from(CONTENT);
    corrupt[1000] = (corrupt[1000] ?? 0) ^ 0xff;
    const { url } = await serve((_request, response, index) => {
      serveBytes(response, index === 0 ? corrupt : CONTENT);
    });
    const retried: string[] = [];

    const result = await download(sha256Request(url('/f')), {
      retry: quickRetries({ onRetry: ({ error }) => retried.push(error.code) }),
    });

    expect(retried).toEqual(['FERRY_HASH_MISMATCH']);
    expect(result.attempts).toBe(2);
    expect(net.server?.requests[1]?.headers.range).toBeUndefined();
    expect(result.sha256).toBe(CONTENT_SHA256);
  });

  it('gives up after the last attempt, naming the URL, the attempts and the checksums, and leaves no file', async () => {
    const corrupt = testBytes(CONTENT.length, 99);
    const { url } = await serve((_request, response) => {
      serveBytes(response, corrupt);
    });
    const request = sha256Request(url('/bad.img'));

    const error = await rejectedFerryError(download(request));

    expect(error.code).toBe('FERRY_HASH_MISMATCH');
    expect(error.message).toContain(url('/bad.img'));
    expect(error.message).toContain('after 3 attempts');
    expect(error.expected).toBe(CONTENT_SHA256);
    expect(error.actual).toBe(digest('sha256', corrupt));
    expect(net.server?.requests).toHaveLength(3);
    expect(await exists(request.tempPath)).toBe(false);
  });
});

describe('downloadFile: sizes', () => {
  it('never writes past the declared size when the body is longer', async () => {
    const longer = Buffer.concat([CONTENT, testBytes(50_000, 7)]);
    // Chunked, so the client cannot tell from the headers and must stop on the bytes themselves.
    const { url } = await serve((_request, response) => {
      response.writeHead(200);
      response.end(longer);
    });
    let reported = 0;
    let mostReported = 0;
    const request = sha256Request(url('/f'));

    const error = await rejectedFerryError(
      download(request, {
        retry: quickRetries({ maxAttempts: 1 }),
        onBytes: (delta) => {
          reported += delta;
          mostReported = Math.max(mostReported, reported);
        },
      }),
    );

    expect(error.code).toBe('FERRY_SIZE_MISMATCH');
    expect(mostReported).toBeLessThanOrEqual(CONTENT.length);
    expect(await exists(request.tempPath)).toBe(false);
  });

  it.each([
    ['direct', true],
    ['buffered', false],
  ] as const)('starts the next attempt from zero after an over-long body, with %s writes of several MiB in flight', async (_mode, directIo) => {
    const large = testBytes(5 * 1024 * 1024 + 10, 8);
    const { url } = await serve((request, response, index) => {
      if (index === 0) {
        response.writeHead(200);
        response.end(Buffer.concat([large, testBytes(70_000, 9)]));
      } else serveWithRange(request, response, large);
    });
    const request = sha256Request(url('/large'), large);

    const result = await download(request, { directIo });

    expect(net.server?.requests[1]?.headers.range).toBeUndefined();
    expect(result).toMatchObject({ sha256: digest('sha256', large), attempts: 2, resumedFrom: 0 });
    expect(await fileSha256(request.tempPath)).toBe(digest('sha256', large));
  });

  it('refuses a 200 whose Content-Length differs from the metadata before writing anything', async () => {
    const { url } = await serve((_request, response) => {
      serveBytes(response, CONTENT.subarray(0, 1000));
    });
    let reported = 0;

    const error = await rejectedFerryError(download(sha256Request(url('/f')), { retry: quickRetries({ maxAttempts: 1 }), onBytes: (delta) => (reported += delta) }));

    expect(error.code).toBe('FERRY_SIZE_MISMATCH');
    expect(error.actual).toBe('1000');
    expect(reported).toBe(0);
  });
});

// Both ways of writing (file-sink.ts): what a resume relies on must hold for each.
describe.each([
  ['direct', true],
  ['buffered', false],
] as const)('downloadFile: resume (%s writes)', (_mode, directIo) => {
  const fetchFile = (request: DownloadRequest, overrides: DownloadOverrides = {}) => download(request, { directIo, ...overrides });

  it('resumes with Range after the connection drops mid-body, without sending the file twice', async () => {
    const dropAt = 120_000;
    const { url } = await serve((request, response, index) => {
      if (index === 0) serveThenDrop(response, CONTENT, dropAt);
      else serveWithRange(request, response, CONTENT);
    });
    let reported = 0;
    const request = sha256Request(url('/f'));

    const result = await fetchFile(request, { onBytes: (delta) => (reported += delta) });

    // Bytes still buffered in the client when the socket closed are lost, so the resume point can
    // be a little before the drop point; but never zero and never past it.
    const resumedAt = rangeStart(net.server?.requests[1]?.headers.range);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(dropAt);
    expect(net.server?.bodyBytesSent()).toBe(dropAt + CONTENT.length - resumedAt);
    expect(result).toMatchObject({ sha256: CONTENT_SHA256, attempts: 2, bytesTransferred: CONTENT.length, resumedFrom: 0 });
    expect(reported).toBe(CONTENT.length);
    expect(await fileSha256(request.tempPath)).toBe(digest('sha256', CONTENT));
  });

  it('starts over when the server ignores Range and answers 200', async () => {
    const { url } = await serve((_request, response, index) => {
      if (index === 0) serveThenDrop(response, CONTENT, 100_000);
      else serveBytes(response, CONTENT);
    });
    let reported = 0;
    const request = sha256Request(url('/f'));

    const result = await fetchFile(request, { onBytes: (delta) => (reported += delta) });

    const resumedAt = rangeStart(net.server?.requests[1]?.headers.range);
    expect(resumedAt).toBeGreaterThan(0);
    expect(result.sha256).toBe(CONTENT_SHA256);
    expect(result.bytesTransferred).toBe(resumedAt + CONTENT.length);
    expect(reported).toBe(CONTENT.length);
    expect(await fileSha256(request.tempPath)).toBe(digest('sha256', CONTENT));
  });

  it('starts over after a 416', async () => {
    const { url } = await serve((request, response, index) => {
      if (index === 0) serveThenDrop(response, CONTENT, 100_000);
      else if (index === 1) {
        response.writeHead(416, { 'content-range': `bytes */${CONTENT.length}` });
        response.end();
      } else serveWithRange(request, response, CONTENT);
    });
    const retried: string[] = [];

    const result = await fetchFile(sha256Request(url('/f')), { retry: quickRetries({ onRetry: ({ error }) => retried.push(error.code) }) });

    expect(retried).toEqual(['FERRY_FETCH_FAILED', 'FERRY_RESUME_REJECTED']);
    expect(net.server?.requests[2]?.headers.range).toBeUndefined();
    expect(result.sha256).toBe(CONTENT_SHA256);
  });

  it('starts over when a 206 resumes at the wrong offset', async () => {
    const { url } = await serve((request, response, index) => {
      if (index === 0) serveThenDrop(response, CONTENT, 100_000);
      else if (index === 1) serveBytes(response, CONTENT, { start: 50_000 });
      else serveWithRange(request, response, CONTENT);
    });

    const result = await fetchFile(sha256Request(url('/f')));

    expect(net.server?.requests[2]?.headers.range).toBeUndefined();
    expect(result.sha256).toBe(CONTENT_SHA256);
  });

  it('starts over when the ETag changed between attempts', async () => {
    const updated = testBytes(CONTENT.length, 42);
    const { url } = await serve((request, response, index) => {
      if (index === 0) serveThenDrop(response, CONTENT, 100_000, { etag: '"v1"' });
      // A server that ignores If-Range and resumes the new file at the old offset.
      else serveWithRange(request, response, updated, { etag: '"v2"' });
    });
    const request = sha256Request(url('/f'), updated);

    const result = await fetchFile(request);

    expect(net.server?.requests[1]?.headers['if-range']).toBe('"v1"');
    expect(net.server?.requests[2]?.headers.range).toBeUndefined();
    expect(result.sha256).toBe(digest('sha256', updated));
    expect(await fileSha256(request.tempPath)).toBe(digest('sha256', updated));
  });

  it('resumes a partial file left by an earlier run, hashing its bytes first', async () => {
    const { url } = await serve((request, response) => {
      serveWithRange(request, response, CONTENT);
    });
    const request = sha256Request(url('/f'));
    await writeFile(request.tempPath, CONTENT.subarray(0, 200_000));
    let reported = 0;

    const result = await fetchFile(request, { onBytes: (delta) => (reported += delta) });

    expect(net.server?.requests[0]?.headers.range).toBe('bytes=200000-');
    expect(result).toMatchObject({ sha256: CONTENT_SHA256, resumedFrom: 200_000, bytesTransferred: 100_000, attempts: 1 });
    expect(reported).toBe(CONTENT.length);
    expect(await fileSha256(request.tempPath)).toBe(digest('sha256', CONTENT));
  });

  it('discards a partial file whose bytes turn out wrong, and downloads from zero', async () => {
    const { url } = await serve((request, response) => {
      serveWithRange(request, response, CONTENT);
    });
    const request = sha256Request(url('/f'));
    await writeFile(request.tempPath, testBytes(200_000, 5));

    const result = await fetchFile(request);

    expect(net.server?.requests.map((seen) => seen.headers.range)).toEqual(['bytes=200000-', undefined]);
    expect(result).toMatchObject({ sha256: CONTENT_SHA256, resumedFrom: 0, attempts: 2 });
    expect(await fileSha256(request.tempPath)).toBe(digest('sha256', CONTENT));
  });

  it('accepts a complete partial file without a request', async () => {
    const { url } = await serve((_request, response) => {
      serveBytes(response, CONTENT);
    });
    const request = sha256Request(url('/f'));
    await writeFile(request.tempPath, CONTENT);

    const result = await fetchFile(request);

    expect(result).toEqual({ sha256: CONTENT_SHA256, size: CONTENT.length, bytesTransferred: 0, resumedFrom: CONTENT.length, attempts: 0 });
    expect(net.server?.requests).toHaveLength(0);
  });

  it('deletes a partial file longer than the expected size and starts over', async () => {
    const { url } = await serve((request, response) => {
      serveWithRange(request, response, CONTENT);
    });
    const request = sha256Request(url('/f'));
    await writeFile(request.tempPath, Buffer.concat([CONTENT, Buffer.from('extra')]));

    const result = await fetchFile(request);

    expect(net.server?.requests[0]?.headers.range).toBeUndefined();
    expect(result.sha256).toBe(CONTENT_SHA256);
    expect(await fileSha256(request.tempPath)).toBe(digest('sha256', CONTENT));
  });
});

describe('downloadFile: server answers', () => {
  it('waits as long as a 503 Retry-After asks', async () => {
    const { url } = await serve((_request, response, index) => {
      if (index === 0) {
        response.writeHead(503, { 'retry-after': '1' });
        response.end('busy');
      } else serveBytes(response, CONTENT);
    });
    const started = performance.now();

    const result = await download(sha256Request(url('/f')));

    const elapsed = performance.now() - started;
    expect(result.attempts).toBe(2);
    expect(elapsed).toBeGreaterThanOrEqual(950);
    expect(elapsed).toBeLessThan(3_000);
  });

  it('retries a 429', async () => {
    const { url } = await serve((_request, response, index) => {
      if (index === 0) {
        response.writeHead(429);
        response.end();
      } else serveBytes(response, CONTENT);
    });

    const result = await download(sha256Request(url('/f')));

    expect(result.attempts).toBe(2);
    expect(net.server?.requests).toHaveLength(2);
  });

  it('does not retry a 404, and says which URL and status', async () => {
    const { url } = await serve((_request, response) => {
      response.writeHead(404);
      response.end('not here');
    });

    const error = await rejectedFerryError(download(sha256Request(url('/missing.img'))));

    expect(error.code).toBe('FERRY_HTTP_STATUS');
    expect(error.status).toBe(404);
    expect(error.message).toContain(url('/missing.img'));
    expect(error.hint).toMatch(/not on the server/);
    expect(net.server?.requests).toHaveLength(1);
  });

  it('abandons a stalled attempt and resumes', async () => {
    const { url } = await serve((request, response, index) => {
      if (index === 0) serveThenHang(response, CONTENT, 64_000);
      else serveWithRange(request, response, CONTENT);
    });
    const retried: string[] = [];

    const result = await download(sha256Request(url('/f')), {
      stallTimeoutMs: 200,
      retry: quickRetries({ onRetry: ({ error }) => retried.push(error.code) }),
    });

    expect(retried).toEqual(['FERRY_DOWNLOAD_STALLED']);
    expect(net.server?.requests[1]?.headers.range).toBe('bytes=64000-');
    expect(result.sha256).toBe(CONTENT_SHA256);
  });

  it('reports a stall when no answer comes at all', async () => {
    const { url } = await serve(() => {
      // Never answers.
    });

    const error = await rejectedFerryError(download(sha256Request(url('/f')), { stallTimeoutMs: 150, retry: quickRetries({ maxAttempts: 1 }) }));

    expect(error.code).toBe('FERRY_DOWNLOAD_STALLED');
    expect(error.message).toContain(url('/f'));
  });
});

describe('downloadFile: redirects', () => {
  it('follows a relative redirect', async () => {
    const { url } = await serve((request, response) => {
      if (request.url === '/old/f') {
        response.writeHead(302, { location: '../new/f' });
        response.end();
      } else serveBytes(response, CONTENT);
    });

    const result = await download(sha256Request(url('/old/f')));

    expect(net.server?.requests.map((seen) => seen.url)).toEqual(['/old/f', '/new/f']);
    expect(result.sha256).toBe(CONTENT_SHA256);
  });

  it('stops after too many redirects', async () => {
    const { url } = await serve((request, response) => {
      response.writeHead(301, { location: `${request.url ?? ''}x` });
      response.end();
    });

    const error = await rejectedFerryError(download(sha256Request(url('/loop'))));

    expect(error.code).toBe('FERRY_TOO_MANY_REDIRECTS');
    expect(net.server?.requests).toHaveLength(6);
  });

  describe('over TLS', () => {
    let tlsServer: HttpsServer;
    let tlsOrigin: string;
    let tlsClient: HttpClient;
    let redirectTarget: string;

    beforeEach(async () => {
      const keyPath = join(net.temp.path, 'key.pem');
      const certPath = join(net.temp.path, 'cert.pem');
      execFileSync('/usr/bin/openssl', [
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath,
        '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      ], { stdio: 'ignore' });
      const [key, cert] = await Promise.all([readFile(keyPath), readFile(certPath)]);
      tlsServer = createHttpsServer({ key, cert }, (request, response) => {
        if (request.url === '/secure') serveBytes(response, CONTENT);
        else {
          response.writeHead(302, { location: redirectTarget });
          response.end();
        }
      });
      await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
      tlsOrigin = `https://127.0.0.1:${(tlsServer.address() as AddressInfo).port}`;
      const dispatcher = new Agent({ connect: { ca: cert } });
      tlsClient = { dispatcher, userAgent: 'stream-ferry/test', retry: DEFAULT_RETRY_POLICY, stallTimeoutMs: 30_000, close: () => dispatcher.close() };
    });

    afterEach(async () => {
      await tlsClient.close();
      await closeServer(tlsServer);
    });

    it('refuses a redirect from https to http', async () => {
      const plain = await serve((_request, response) => {
      serveBytes(response, CONTENT);
    });
      redirectTarget = plain.url('/f');

      const error = await rejectedFerryError(
        downloadFile(sha256Request(`${tlsOrigin}/f`), { client: tlsClient, retry: quickRetries(), stallTimeoutMs: 5_000 }),
      );

      expect(error.code).toBe('FERRY_REDIRECT_INSECURE');
      expect(plain.requests).toHaveLength(0);
    });

    it('follows a redirect that stays on https', async () => {
      redirectTarget = `${tlsOrigin}/secure`;

      const result = await downloadFile(sha256Request(`${tlsOrigin}/f`), { client: tlsClient, retry: quickRetries(), stallTimeoutMs: 5_000 });

      expect(result.sha256).toBe(CONTENT_SHA256);
    });
  });
});

// Both ways of writing (file-sink.ts): what a resume relies on must hold for each.
describe.each([
  ['direct', true],
  ['buffered', false],
] as const)('downloadFile: cancellation (%s writes)', (_mode, directIo) => {
  const fetchFile = (request: DownloadRequest, overrides: DownloadOverrides = {}) => download(request, { directIo, ...overrides });

  it('stops promptly, keeps the partial file, and a later run resumes from it', async () => {
    let hang = true;
    const { url } = await serve((request, response) => {
      if (hang) serveThenHang(response, CONTENT, 150_000);
      else serveWithRange(request, response, CONTENT);
    });
    const request = sha256Request(url('/f'));
    const controller = new AbortController();
    let reported = 0;

    const error = await rejectedFerryError(
      fetchFile(request, {
        signal: controller.signal,
        onBytes: (delta) => {
          reported += delta;
          if (reported >= 150_000) controller.abort();
        },
      }),
    );

    expect(error.code).toBe('FERRY_CANCELLED');
    expect((await stat(request.tempPath)).size).toBe(150_000);

    hang = false;
    const result = await fetchFile(request);
    expect(result).toMatchObject({ sha256: CONTENT_SHA256, resumedFrom: 150_000, bytesTransferred: CONTENT.length - 150_000 });
  });

  it('rejects at once when cancelled during a backoff wait', async () => {
    const { url } = await serve((_request, response) => {
      response.writeHead(503, { 'retry-after': '30' });
      response.end();
    });
    const controller = new AbortController();
    const started = performance.now();

    const error = await rejectedFerryError(
      fetchFile(sha256Request(url('/f')), {
        signal: controller.signal,
        retry: quickRetries({ maxRetryAfterMs: 60_000, onRetry: () => {
          setTimeout(() => {
            controller.abort();
          }, 20);
        } }),
      }),
    );

    expect(error.code).toBe('FERRY_CANCELLED');
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('rejects before any request when already cancelled', async () => {
    const { url } = await serve((_request, response) => {
      serveBytes(response, CONTENT);
    });

    const error = await rejectedFerryError(fetchFile(sha256Request(url('/f')), { signal: AbortSignal.abort() }));

    expect(error.code).toBe('FERRY_CANCELLED');
    expect(net.server?.requests).toHaveLength(0);
  });
});

describe('downloadFile: local sources and the disk', () => {
  it('copies and verifies from a file URL, resuming a partial', async () => {
    const sourcePath = join(net.temp.path, 'source.img');
    await writeFile(sourcePath, CONTENT);
    const request = sha256Request(pathToFileURL(sourcePath).href);
    await writeFile(request.tempPath, CONTENT.subarray(0, 1234));

    const result = await download(request);

    expect(result).toMatchObject({ sha256: CONTENT_SHA256, resumedFrom: 1234, bytesTransferred: CONTENT.length - 1234 });
    expect(await fileSha256(request.tempPath)).toBe(digest('sha256', CONTENT));
  });

  it('rejects a local source of the wrong size', async () => {
    const sourcePath = join(net.temp.path, 'source.img');
    await writeFile(sourcePath, CONTENT.subarray(1));

    const error = await rejectedFerryError(download(sha256Request(pathToFileURL(sourcePath).href), { retry: quickRetries({ maxAttempts: 1 }) }));

    expect(error.code).toBe('FERRY_SIZE_MISMATCH');
  });

  it('says a local source file is missing from the mirror, without retrying', async () => {
    const sourcePath = join(net.temp.path, 'never-mirrored.img');
    const retries: number[] = [];

    const error = await rejectedFerryError(download(sha256Request(pathToFileURL(sourcePath).href), { retry: quickRetries({ onRetry: ({ attempt }) => retries.push(attempt) }) }));

    expect(error.code).toBe('FERRY_FETCH_FAILED');
    expect(error.message).toContain('is not in the local mirror');
    expect(cliHint(error)).toContain('--max');
    expect(retries).toEqual([]);
  });

  it('reports a full disk as FERRY_DISK_FULL naming the path', async (context) => {
    const { url } = await serve((_request, response) => {
      serveBytes(response, CONTENT);
    });
    // A real full file system: 64 KiB of tmpfs, smaller than the 300 kB download. (A link to
    // /dev/full no longer serves: the partial file is never written through a link.)
    const small = join(net.temp.path, 'small');
    await mkdir(small);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', small], { stdio: 'pipe' });
    } catch (error) {
      context.skip(`cannot mount a small tmpfs to fill: ${error instanceof Error ? error.message.trim() : String(error)}`);
    }
    try {
      const fullPath = join(small, 'full.part');
      const error = await rejectedFerryError(download({ ...sha256Request(url('/f')), tempPath: fullPath }));

      expect(error.code).toBe('FERRY_DISK_FULL');
      expect(error.path).toBe(fullPath);
      expect(error.message).toContain(fullPath);
      expect(net.server?.requests).toHaveLength(1);
      expect(await exists(fullPath)).toBe(true);
    } finally {
      execFileSync('umount', [small], { stdio: 'pipe' });
    }
  });

  it('never writes through a link planted at the partial path: it is replaced, and the download completes', async () => {
    const { url } = await serve((request, response) => {
      serveWithRange(request, response, CONTENT);
    });
    const request = sha256Request(url('/f'));
    // The first bytes of the right content, so resuming from the link's target would be tempting.
    const victim = join(net.temp.path, 'victim');
    await writeFile(victim, CONTENT.subarray(0, 100_000));
    await symlink(victim, request.tempPath);

    const result = await download(request);

    expect(result).toMatchObject({ sha256: CONTENT_SHA256, resumedFrom: 0 });
    expect(net.server?.requests.map((seen) => seen.headers.range)).toEqual([undefined]);
    expect((await lstat(request.tempPath)).isFile()).toBe(true);
    expect(await fileSha256(request.tempPath)).toBe(CONTENT_SHA256);
    expect(await fileSha256(victim)).toBe(digest('sha256', CONTENT.subarray(0, 100_000)));
  });

  it('never writes through a link planted at the partial path during the run: it starts again from zero', async () => {
    const victim = join(net.temp.path, 'victim');
    await writeFile(victim, 'not yours');
    const request = sha256Request('http://placeholder/');
    const { url } = await serve((incoming, response, index) => {
      if (index === 0) {
        // While the first attempt has the partial file open, someone swaps it for a link; that
        // attempt's bytes still go to the file it opened, then the connection drops.
        rmSync(request.tempPath, { force: true });
        symlinkSync(victim, request.tempPath);
        serveThenDrop(response, CONTENT, 120_000);
        return;
      }
      serveWithRange(incoming, response, CONTENT);
    });

    const result = await download({ ...request, url: url('/f') });

    expect(result.sha256).toBe(CONTENT_SHA256);
    expect(net.server?.requests.map((seen) => seen.headers.range)).toEqual([undefined, undefined]);
    expect(await readFile(victim, 'utf8')).toBe('not yours');
    expect((await lstat(request.tempPath)).isFile()).toBe(true);
    expect(await fileSha256(request.tempPath)).toBe(CONTENT_SHA256);
  });

  it('refuses a FIFO at the partial path instead of waiting on it', async () => {
    const { url } = await serve((_request, response) => {
      serveBytes(response, CONTENT);
    });
    const request = sha256Request(url('/f'));
    execFileSync('mkfifo', [request.tempPath]);

    const error = await rejectedFerryError(download(request));

    expect(error.code).toBe('FERRY_IO');
    expect(error.message).toContain(`${request.tempPath} is not a regular file`);
    expect((await lstat(request.tempPath)).isFIFO()).toBe(true);
  });

  it('reports an unusable temp location as FERRY_IO with a hint', async () => {
    const { url } = await serve((_request, response) => {
      serveBytes(response, CONTENT);
    });

    const error = await rejectedFerryError(download({ ...sha256Request(url('/f')), tempPath: join(net.temp.path, 'missing', 'f.part') }));

    expect(error.code).toBe('FERRY_IO');
    expect(error.hint).toMatch(/does not exist/);
    expect(net.server?.requests).toHaveLength(0);
  });
});

describe('downloadFile: arguments', () => {
  it('refuses a checksum that is not hex of the right length', async () => {
    const error = await rejectedFerryError(
      download({ url: 'http://127.0.0.1:9/f', tempPath: join(net.temp.path, 'x'), expectedSize: 1, checksum: { algorithm: 'sha256', hex: 'abc' } }),
    );

    expect(error.code).toBe('FERRY_NO_CHECKSUM');
  });

});
