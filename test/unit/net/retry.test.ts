import { describe, expect, it } from 'vitest';
import { FerryError, isFerryError } from '../../../src-main/base/errors.js';
import { HttpStatusError } from '../../../src-main/net/status-error.js';
import { isRetryableError, withRetries } from '../../../src-main/net/retry.js';
import { quickRetries } from './support.js';

function networkFailure(code: string): FerryError {
  const cause = Object.assign(new Error(`socket trouble ${code}`), { code });
  return new FerryError('FERRY_FETCH_FAILED', `http://example.test/f: ${cause.message}`, { cause });
}

async function rejectionOf(promise: Promise<unknown>): Promise<FerryError> {
  try {
    await promise;
  } catch (error) {
    if (isFerryError(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

function activeTimeouts(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
}

describe('isRetryableError', () => {
  it.each([
    ['a reset connection', networkFailure('ECONNRESET'), true],
    ['a refused connection', networkFailure('ECONNREFUSED'), true],
    ['an undici socket error nested in another error', new FerryError('FERRY_FETCH_FAILED', 'x', { cause: new Error('outer', { cause: Object.assign(new Error('inner'), { code: 'UND_ERR_SOCKET' }) }) }), true],
    ['a headers timeout', networkFailure('UND_ERR_HEADERS_TIMEOUT'), true],
    ['a body timeout', networkFailure('UND_ERR_BODY_TIMEOUT'), true],
    ['an unknown host', networkFailure('ENOTFOUND'), false],
    ['a bad certificate', networkFailure('DEPTH_ZERO_SELF_SIGNED_CERT'), false],
    ['HTTP 500', new HttpStatusError('http://x/f', 500, undefined), true],
    ['HTTP 503', new HttpStatusError('http://x/f', 503, undefined), true],
    ['HTTP 429', new HttpStatusError('http://x/f', 429, undefined), true],
    ['HTTP 404', new HttpStatusError('http://x/f', 404, undefined), false],
    ['HTTP 403', new HttpStatusError('http://x/f', 403, undefined), false],
    ['HTTP 401', new HttpStatusError('http://x/f', 401, undefined), false],
    ['HTTP 410', new HttpStatusError('http://x/f', 410, undefined), false],
    ['a checksum mismatch', new FerryError('FERRY_HASH_MISMATCH', 'x'), true],
    ['a truncated body', new FerryError('FERRY_SIZE_MISMATCH', 'x'), true],
    ['a stall', new FerryError('FERRY_DOWNLOAD_STALLED', 'x'), true],
    ['an https→http redirect', new FerryError('FERRY_REDIRECT_INSECURE', 'x'), false],
    ['a redirect loop', new FerryError('FERRY_TOO_MANY_REDIRECTS', 'x'), false],
    ['a cancellation', new FerryError('FERRY_CANCELLED', 'x'), false],
    ['a full disk', new FerryError('FERRY_DISK_FULL', 'x'), false],
  ])('%s → %s', (_name, error, retryable) => {
    expect(isRetryableError(error)).toBe(retryable);
  });
});

const URL = 'http://example.test/f';

describe('withRetries', () => {
  it('returns the first success and passes the attempt number', async () => {
    const seen: number[] = [];

    const result = await withRetries((attempt) => {
      seen.push(attempt);
      return attempt < 3 ? Promise.reject(networkFailure('ECONNRESET')) : Promise.resolve('done');
    }, quickRetries(), URL);

    expect(result).toBe('done');
    expect(seen).toEqual([1, 2, 3]);
  });

  it('does not retry what is not retryable', async () => {
    let calls = 0;

    const error = await rejectionOf(
      withRetries(() => {
        calls += 1;
        return Promise.reject(new HttpStatusError('http://x/f', 404, undefined));
      }, quickRetries(), URL),
    );

    expect(error.status).toBe(404);
    expect(calls).toBe(1);
  });

  it('names the attempts and keeps the last cause when it gives up', async () => {
    const error = await rejectionOf(
      withRetries(() => Promise.reject(networkFailure('ECONNRESET')), quickRetries({ maxAttempts: 4 }), URL),
    );

    expect(error.code).toBe('FERRY_FETCH_FAILED');
    expect(error.message).toContain('http://example.test/f');
    expect(error.message).toContain('after 4 attempts');
    expect(isFerryError(error.cause, 'FERRY_FETCH_FAILED')).toBe(true);
  });

  it('wraps a foreign error as FERRY_FETCH_FAILED and retries it by its code', async () => {
    let calls = 0;

    const error = await rejectionOf(
      withRetries(() => {
        calls += 1;
        return Promise.reject(Object.assign(new Error('boom'), { code: 'EPIPE' }));
      }, quickRetries({ maxAttempts: 2 }), URL),
    );

    expect(error.code).toBe('FERRY_FETCH_FAILED');
    expect(calls).toBe(2);
  });

  it('backs off exponentially with full jitter, capped', async () => {
    const delays: number[] = [];
    const policy = quickRetries({
      maxAttempts: 6,
      baseDelayMs: 2,
      maxDelayMs: 10,
      random: () => 0.999,
      onRetry: ({ delayMs }) => delays.push(delayMs),
    });

    await rejectionOf(withRetries(() => Promise.reject(networkFailure('ETIMEDOUT')), policy, URL));

    expect(delays).toEqual([1, 3, 7, 9, 9]);
  });

  it('uses zero delay when the jitter says so', async () => {
    const delays: number[] = [];

    await rejectionOf(
      withRetries(() => Promise.reject(networkFailure('ETIMEDOUT')), quickRetries({ random: () => 0, onRetry: ({ delayMs }) => delays.push(delayMs) }), URL),
    );

    expect(delays).toEqual([0, 0]);
  });

  it('prefers the server Retry-After, capped by the policy', async () => {
    const delays: number[] = [];
    let attempt = 0;
    const answers = [new HttpStatusError('http://x/f', 503, 40), new HttpStatusError('http://x/f', 503, 90_000)];

    await rejectionOf(
      withRetries(
        () => {
          const answer = answers[attempt];
          attempt += 1;
          return Promise.reject(answer ?? new HttpStatusError('http://x/f', 404, undefined));
        },
        quickRetries({ maxRetryAfterMs: 50, onRetry: ({ delayMs }) => delays.push(delayMs) }),
        URL,
      ),
    );

    expect(delays).toEqual([40, 50]);
  });

  it('rejects with FERRY_CANCELLED at once when aborted during a wait, and clears the timer', async () => {
    const controller = new AbortController();
    const timeoutsBefore = activeTimeouts();
    const started = performance.now();

    const pending = rejectionOf(
      withRetries(() => Promise.reject(networkFailure('ECONNRESET')), quickRetries({ baseDelayMs: 60_000, maxDelayMs: 60_000, random: () => 0.5 }), URL, controller.signal),
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(activeTimeouts()).toBe(timeoutsBefore + 1);
    controller.abort();
    const error = await pending;

    expect(error.code).toBe('FERRY_CANCELLED');
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(activeTimeouts()).toBe(timeoutsBefore);
  });

  it('turns a failure caused by the abort into FERRY_CANCELLED instead of retrying it', async () => {
    const controller = new AbortController();
    let calls = 0;

    const error = await rejectionOf(
      withRetries(
        () => {
          calls += 1;
          controller.abort();
          return Promise.reject(networkFailure('ECONNRESET'));
        },
        quickRetries(),
        URL,
        controller.signal,
      ),
    );

    expect(error.code).toBe('FERRY_CANCELLED');
    expect(calls).toBe(1);
  });

  it('does not start when already cancelled', async () => {
    let calls = 0;

    const error = await rejectionOf(withRetries(() => Promise.resolve((calls += 1)), quickRetries(), URL, AbortSignal.abort()));

    expect(error.code).toBe('FERRY_CANCELLED');
    expect(calls).toBe(0);
  });
});
