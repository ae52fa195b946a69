import { DEFAULT_CONNECTIONS_PER_HOST, DEFAULT_RETRY_POLICY, DEFAULT_STALL_TIMEOUT_MS } from '../net/index.js';

/**
 * The default of every job option a face offers, each declared once where its behaviour lives
 * (net/ for connections, waits and retries; here for parallel files) and gathered here, so that
 * help text is generated from the values the engine uses and never typed by hand.
 */
export const JOB_DEFAULTS = {
  /** Files transferred at once. */
  concurrency: 4,
  /** Connections kept per server, for metadata and files alike. */
  connectionsPerHost: DEFAULT_CONNECTIONS_PER_HOST,
  /** Milliseconds an attempt may wait for an answer or for data (see net/http.ts watchAttempt). */
  stallTimeoutMs: DEFAULT_STALL_TIMEOUT_MS,
  /** Retries after a failed request, metadata or file. */
  retries: DEFAULT_RETRY_POLICY.maxAttempts - 1,
} as const;
