// The only retry loop in Stream Ferry (see docs/ARCHITECTURE.md, net/). Metadata fetches and file
// downloads both run their attempts through withRetries; what an attempt resumes from is the
// attempt's own business.

import { cancelledError, throwIfCancelled, waitUnlessCancelled } from '../base/cancel.js';
import { FerryError, describeError, factsOf, redactUrl } from '../base/errors.js';
import { HttpStatusError } from './status-error.js';

export interface RetryPolicy {
  /** Attempts in all, the first one included. */
  maxAttempts: number;
  /** Backoff before the second attempt; doubles for each one after, up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Upper bound on a server's Retry-After, so a hostile or confused server cannot park a job. */
  maxRetryAfterMs: number;
  /** Whether a failure is worth another attempt. Default: isRetryableError. */
  isRetryable?: (error: FerryError) => boolean;
  /** Told before each backoff wait, so a face can say what is being waited for and why. */
  onRetry?: (retry: RetryNotice) => void;
  /** Jitter source in [0, 1). Default Math.random. */
  random?: () => number;
}

/** One wait between two attempts of the same request. */
export interface RetryNotice {
  /** What is being fetched (credentials removed). */
  url: string;
  /** The attempt that just failed, 1-based; the next one is attempt + 1. */
  attempt: number;
  maxAttempts: number;
  delayMs: number;
  /** true when the delay is the server's Retry-After (capped), not our backoff. */
  retryAfter: boolean;
  error: FerryError;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = {
  maxAttempts: 5,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  maxRetryAfterMs: 120_000,
};

/** Connection-level failures that say nothing about the file itself. */
const TRANSIENT_ERROR_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);

/** Failures where the same request may well succeed a moment later. Throws nothing. */
export function isRetryableError(error: FerryError): boolean {
  switch (error.code) {
    case 'FERRY_HTTP_STATUS':
      return error.status !== undefined && isRetryableStatus(error.status);
    case 'FERRY_FETCH_FAILED':
      return hasTransientCause(error.cause);
    // Wrong or short bytes, a stalled transfer and a refused resume all deserve a fresh attempt;
    // the download decides whether that attempt resumes or starts from zero.
    case 'FERRY_DOWNLOAD_STALLED':
    case 'FERRY_HASH_MISMATCH':
    case 'FERRY_SIZE_MISMATCH':
    case 'FERRY_RESUME_REJECTED':
      return true;
    default:
      return false;
  }
}

function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

function hasTransientCause(cause: unknown): boolean {
  // undici nests the socket error under its own; a short walk finds either.
  let current = cause;
  for (let depth = 0; depth < 5 && current instanceof Error; depth += 1) {
    const code = (current as NodeJS.ErrnoException).code;
    if (code !== undefined && TRANSIENT_ERROR_CODES.has(code)) return true;
    current = current.cause;
  }
  return false;
}

/**
 * Runs `operation` until it succeeds, fails for good, runs out of attempts or is cancelled.
 * Backoff is capped exponential with full jitter, replaced by the server's Retry-After (RFC 9110
 * §10.2.3, capped at maxRetryAfterMs) when it gave one; policy.onRetry hears of every wait, with
 * `url` as the thing waited for. An abort, including one during a backoff wait, rejects at once
 * with FERRY_CANCELLED; the last failure is rethrown with the attempt count in its message and its
 * facts kept (a thrown value that is not a FerryError becomes FERRY_FETCH_FAILED).
 */
export async function withRetries<T>(
  operation: (attempt: number, signal: AbortSignal) => Promise<T>,
  policy: RetryPolicy,
  url: string,
  signal?: AbortSignal,
): Promise<T> {
  const activeSignal = signal ?? new AbortController().signal;
  const isRetryable = policy.isRetryable ?? isRetryableError;
  for (let attempt = 1; ; attempt += 1) {
    throwIfCancelled(activeSignal);
    try {
      return await operation(attempt, activeSignal);
    } catch (error) {
      if (activeSignal.aborted) throw cancelledError(activeSignal, error);
      const failure = asFerryError(error);
      if (attempt >= policy.maxAttempts || !isRetryable(failure)) throw withAttemptCount(failure, attempt);
      const retryAfter = failure instanceof HttpStatusError && failure.retryAfterMs !== undefined;
      const delayMs = backoffDelayMs(failure, attempt, policy);
      policy.onRetry?.({ url: redactUrl(url), attempt, maxAttempts: policy.maxAttempts, delayMs, retryAfter, error: failure });
      await waitUnlessCancelled(delayMs, activeSignal);
    }
  }
}

function backoffDelayMs(failure: FerryError, attempt: number, policy: RetryPolicy): number {
  if (failure instanceof HttpStatusError && failure.retryAfterMs !== undefined) {
    return Math.min(failure.retryAfterMs, policy.maxRetryAfterMs);
  }
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor((policy.random ?? Math.random)() * ceiling);
}

function asFerryError(error: unknown): FerryError {
  if (error instanceof FerryError) return error;
  return new FerryError('FERRY_FETCH_FAILED', describeError(error), { cause: error });
}

function withAttemptCount(failure: FerryError, attempts: number): FerryError {
  if (attempts === 1) return failure;
  return new FerryError(failure.code, `${failure.message} (after ${attempts} attempts)`, { ...factsOf(failure), cause: failure });
}
