// Cancellation: every long call takes an AbortSignal and passes it down. These are the only ways
// code here turns an aborted signal into an error or waits while listening for one, so a cancel
// reads the same wherever it lands. Part of base/, the ground floor: imports nothing of ours but
// errors.ts.

import { FerryError, isFerryError } from './errors.js';

/**
 * The FERRY_CANCELLED error for an aborted `signal`: `failure` when it already is one, else the
 * signal's own FERRY_CANCELLED reason (a face may abort with one naming the signal, e.g. SIGTERM),
 * else a generic one with the reason as its cause.
 */
/**
 * The longest time a Node timer can wait, in ms (2^31 - 1): Node runs a longer setTimeout after
 * 1 ms instead, with only a warning (Node's timers docs, TIMEOUT_MAX), so a longer stall timeout
 * would fire at once.
 */
export const LONGEST_TIMER_MS = 2 ** 31 - 1;

export function cancelledError(signal: AbortSignal, failure?: unknown): FerryError {
  if (isFerryError(failure, 'FERRY_CANCELLED')) return failure;
  if (isFerryError(signal.reason, 'FERRY_CANCELLED')) return signal.reason;
  return new FerryError('FERRY_CANCELLED', 'The operation was cancelled', { cause: signal.reason });
}

/** Throws FERRY_CANCELLED (see cancelledError) when `signal` is aborted. */
export function throwIfCancelled(signal: AbortSignal): void {
  if (signal.aborted) throw cancelledError(signal);
}

/**
 * Resolves after `delayMs` milliseconds, or rejects with FERRY_CANCELLED as soon as `signal`
 * aborts (the timer is cleared, so a cancelled backoff wait ends at once).
 */
export function waitUnlessCancelled(delayMs: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(cancelledError(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(cancelledError(signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, delayMs);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
