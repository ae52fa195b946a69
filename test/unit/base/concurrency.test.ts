import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FerryError, isFerryError } from '../../../src-main/base/errors.js';
import { ProgressTracker, type Progress } from '../../../src-main/base/progress.js';
import { createHttpClient, type HttpClient } from '../../../src-main/net/agent.js';
import { downloadFile } from '../../../src-main/net/download.js';
import { runTransfers, type SettledTransfer } from '../../../src-main/base/concurrency.js';
import { digest, makeTempDir, quickRetries, serveWithRange, startScriptedServer, testBytes, type ScriptedServer } from '../net/support.js';

describe('runTransfers', () => {
  it('never runs more tasks at once than allowed, and returns results in task order', async () => {
    let running = 0;
    let peak = 0;
    const worker = async (delayMs: number): Promise<number> => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      running -= 1;
      return delayMs * 2;
    };

    const outcome = await runTransfers([30, 5, 20, 10, 1, 15], worker, { concurrency: 3 });

    expect(peak).toBe(3);
    expect(outcome.completed.map((done) => done.result)).toEqual([60, 10, 40, 20, 2, 30]);
    expect(outcome.failures).toEqual([]);
  });

  it('keeps going when a task fails, and reports the failure as a result', async () => {
    const settledOrder: string[] = [];

    const outcome = await runTransfers(
      ['a', 'bad', 'c'],
      (name) =>
        name === 'bad' ? Promise.reject(new FerryError('FERRY_HTTP_STATUS', 'gone', { status: 404 })) : Promise.resolve(name.toUpperCase()),
      { concurrency: 1, onSettled: (settled: SettledTransfer<string, string>) => settledOrder.push(`${settled.task}:${settled.ok}`) },
    );

    expect(outcome.completed).toEqual([
      { task: 'a', result: 'A' },
      { task: 'c', result: 'C' },
    ]);
    expect(outcome.failures.map((failure) => [failure.task, failure.error.code])).toEqual([['bad', 'FERRY_HTTP_STATUS']]);
    expect(settledOrder).toEqual(['a:true', 'bad:false', 'c:true']);
  });

  it('wraps a foreign error so every failure is a FerryError', async () => {
    const outcome = await runTransfers([1], async () => Promise.reject(new TypeError('oops')), { concurrency: 2 });

    expect(outcome.failures[0]?.error).toBeInstanceOf(FerryError);
    expect(outcome.failures[0]?.error.message).toContain('oops');
  });

  it('on cancel, aborts running tasks and starts no more', async () => {
    const controller = new AbortController();
    const started: number[] = [];

    const outcome = await runTransfers(
      [1, 2, 3, 4, 5],
      (task, signal) => {
        started.push(task);
        if (task === 2) controller.abort();
        return new Promise<number>((resolve, reject) => {
          if (signal.aborted) reject(new Error('aborted'));
          signal.addEventListener(
            'abort',
            () => {
              reject(new Error('aborted'));
            },
            { once: true },
          );
          setTimeout(() => {
            resolve(task);
          }, 5_000);
        });
      },
      { concurrency: 2, signal: controller.signal },
    );

    expect(started).toEqual([1, 2]);
    expect(outcome.completed).toEqual([]);
    expect(outcome.failures.map((failure) => failure.task)).toEqual([1, 2, 3, 4, 5]);
    expect(outcome.failures.every((failure) => isFerryError(failure.error, 'FERRY_CANCELLED'))).toBe(true);
  });

  it('refuses a concurrency that is not a positive whole number', async () => {
    await expect(runTransfers([1], () => Promise.resolve(1), { concurrency: 0 })).rejects.toMatchObject({ code: 'FERRY_SETTING_INVALID', setting: 'concurrency' });
  });
});

describe('runTransfers with downloadFile and a ProgressTracker', () => {
  const files = [testBytes(200_000, 1), testBytes(150_000, 2), testBytes(100_000, 3), testBytes(120_000, 4)];
  let server: ScriptedServer;
  let client: HttpClient;
  let temp: { path: string; remove: () => Promise<void> };

  beforeEach(async () => {
    server = await startScriptedServer((request, response) => {
      const index = Number(/^\/f(\d+)$/.exec(request.url ?? '')?.[1] ?? -1);
      const bytes = files[index];
      if (bytes === undefined || index === 2) {
        response.writeHead(404);
        response.end();
      } else {
        setTimeout(() => {
          serveWithRange(request, response, bytes);
        }, 20);
      }
    });
    client = createHttpClient({ userAgent: 'stream-ferry/test' });
    temp = await makeTempDir();
  });

  afterEach(async () => {
    await client.close();
    await server.close();
    await temp.remove();
  });

  it('downloads in parallel up to the limit, isolates the failure, and reports progress to the end', async () => {
    const emitted: Progress[] = [];
    const total = files.reduce((sum, bytes) => sum + bytes.length, 0);
    const tracker = new ProgressTracker({ jobId: 'job-1', step: 'download', bytesTotal: total, filesTotal: files.length, emit: (progress) => emitted.push(progress), intervalMs: 10 });

    const outcome = await runTransfers(
      files.map((bytes, index) => ({ bytes, index })),
      async ({ bytes, index }, signal) => {
        const file = tracker.startFile(`f${index}`, bytes.length);
        try {
          const result = await downloadFile(
            {
              url: server.url(`/f${index}`),
              tempPath: join(temp.path, `f${index}.part`),
              expectedSize: bytes.length,
              checksum: { algorithm: 'sha256', hex: digest('sha256', bytes) },
            },
            { client, signal, retry: quickRetries(), stallTimeoutMs: 5_000, onBytes: file.addBytes },
          );
          file.done();
          return result;
        } catch (error) {
          file.failed();
          throw error;
        }
      },
      { concurrency: 2 },
    );
    tracker.finish();

    expect(server.peakConcurrency()).toBe(2);
    expect(outcome.completed.map((done) => done.task.index)).toEqual([0, 1, 3]);
    expect(outcome.failures.map((failure) => [failure.task.index, failure.error.status])).toEqual([[2, 404]]);
    const last = emitted.at(-1);
    expect(last).toMatchObject({ jobId: 'job-1', filesDone: 3, filesTotal: 4, bytesDone: total - 100_000, current: [] });
  });
});
