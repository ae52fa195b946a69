import type * as fs from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isFerryError, type FerryError } from '../../../src-main/base/errors.js';
import { createHttpClient, type HttpClient } from '../../../src-main/net/agent.js';
import { downloadFile } from '../../../src-main/net/download.js';
import { digest, makeTempDir, quickRetries, serveBytes, startScriptedServer, testBytes, type ScriptedServer } from './support.js';

// The early flushes a large download makes while it runs when it writes through the page cache
// (see EARLY_FLUSH_BYTES in file-sink.ts; direct writes need none). fdatasync is wrapped so the test can count the calls and make one fail; everything else in
// node:fs is the real thing.

const flushes = vi.hoisted(() => ({ calls: 0, failWith: undefined as NodeJS.ErrnoException | undefined }));

vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof fs>();
  const fdatasync = (fd: number, callback: (error: NodeJS.ErrnoException | null) => void): void => {
    flushes.calls += 1;
    const failure = flushes.failWith;
    if (failure === undefined) real.fdatasync(fd, callback);
    else
      setImmediate(() => {
        callback(failure);
      });
  };
  return { ...real, default: { ...real, fdatasync }, fdatasync };
});

const MIB = 1024 * 1024;
/** Enough for at least two early flushes. */
const LARGE = testBytes(80 * MIB, 7);

let server: ScriptedServer | undefined;
let client: HttpClient;
let temp: { path: string; remove: () => Promise<void> };

beforeEach(async () => {
  flushes.calls = 0;
  flushes.failWith = undefined;
  client = createHttpClient({ userAgent: 'stream-ferry/test' });
  temp = await makeTempDir();
  server = await startScriptedServer((_request, response) => {
    serveBytes(response, LARGE);
  });
});

afterEach(async () => {
  await client.close();
  await server?.close();
  server = undefined;
  await temp.remove();
});

function downloadLarge(): Promise<Awaited<ReturnType<typeof downloadFile>>> {
  if (server === undefined) throw new Error('no server');
  return downloadFile(
    { url: server.url('/large'), tempPath: join(temp.path, 'large.part'), expectedSize: LARGE.length, checksum: { algorithm: 'sha256', hex: digest('sha256', LARGE) } },
    { client, retry: quickRetries(), stallTimeoutMs: 10_000, directIo: false },
  );
}

describe('downloadFile: early flushes of buffered writes', () => {
  it('hands a large file to the disk while it downloads, and still verifies it', async () => {
    const result = await downloadLarge();

    expect(result.sha256).toBe(digest('sha256', LARGE));
    expect(flushes.calls).toBeGreaterThanOrEqual(1);
    expect((await stat(join(temp.path, 'large.part'))).size).toBe(LARGE.length);
  });

  it('fails with FERRY_IO and deletes the file when a flush fails, rather than resuming unflushed bytes', async () => {
    flushes.failWith = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO', errno: -5, syscall: 'fdatasync' });

    let failure: FerryError | undefined;
    try {
      await downloadLarge();
    } catch (error) {
      if (!isFerryError(error)) throw error;
      failure = error;
    }

    expect(failure?.code).toBe('FERRY_IO');
    expect(failure?.path).toBe(join(temp.path, 'large.part'));
    // Not retried: a disk error is not the network's.
    expect(server?.requests).toHaveLength(1);
    await expect(stat(join(temp.path, 'large.part'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
