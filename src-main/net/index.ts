// net/'s public surface: one composed HTTP client, metadata fetches, verified downloads, and the
// retry policy they share.
export { DEFAULT_CONNECTIONS_PER_HOST, DEFAULT_STALL_TIMEOUT_MS, createHttpClient } from './agent.js';
export type { HttpClient, HttpClientOptions, ProxySettings } from './agent.js';
export { downloadFile } from './download.js';
export type { DownloadOptions, DownloadRequest, DownloadResult } from './download.js';
export { fetchBytes } from './fetch-bytes.js';
export type { FetchBytesOptions, FetchedBytes } from './fetch-bytes.js';
export { DEFAULT_RETRY_POLICY } from './retry.js';
export type { RetryNotice, RetryPolicy } from './retry.js';
export { readBackFile } from './direct-read.js';
export type { ReadBack, ReadBackMethod } from './direct-read.js';
