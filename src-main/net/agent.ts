// The one place where Stream Ferry's HTTP behaviour is assembled: connection pools, timeouts and
// proxies. Everything else in net/ receives an HttpClient and never builds a dispatcher itself.

import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { Agent, EnvHttpProxyAgent, type Dispatcher } from 'undici';
import { FerryError, describeError, errnoCode, redactUrl } from '../base/errors.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.js';
import { LONGEST_TIMER_MS } from '../base/cancel.js';

export interface HttpClient {
  readonly dispatcher: Dispatcher;
  /** Sent on every request, e.g. `stream-ferry/0.1.0`. */
  readonly userAgent: string;
  /**
   * How metadata fetches and downloads made with this client retry, and how long one attempt may
   * wait for anything (see watchAttempt): one job, one policy, whatever it fetches.
   */
  readonly retry: RetryPolicy;
  readonly stallTimeoutMs: number;
  /** Releases pooled sockets; requests still running are allowed to finish. */
  close(): Promise<void>;
}

export interface HttpClientOptions {
  /** Proxy for http and https sources; wins over HTTP_PROXY/HTTPS_PROXY. NO_PROXY still applies. */
  proxy?: string;
  /** Connections kept per origin. Default DEFAULT_CONNECTIONS_PER_HOST. */
  connectionsPerHost?: number;
  userAgent: string;
  /** Longest wait for response headers. Default 60 s. */
  headersTimeoutMs?: number;
  /** Longest wait for a TCP/TLS connection. Default 30 s. */
  connectTimeoutMs?: number;
  /** Where HTTP_PROXY, HTTPS_PROXY and NO_PROXY are read. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Over DEFAULT_RETRY_POLICY. */
  retry?: Partial<RetryPolicy> | undefined;
  /** Longest wait of an attempt for the answer or for body bytes (milliseconds). Default DEFAULT_STALL_TIMEOUT_MS. */
  stallTimeoutMs?: number | undefined;
  /**
   * PEM files of certificate authorities to trust for https besides Node's bundled ones (and
   * NODE_EXTRA_CA_CERTS, which Node adds to them): a private CA's certificate (curl's --cacert adds
   * instead of replacing here, so public mirrors keep working in the same run). Absolute paths.
   */
  caCertFiles?: readonly string[] | undefined;
}

export interface ProxySettings {
  httpProxy: string | undefined;
  httpsProxy: string | undefined;
  /** Hosts reached directly; fixed here so undici does not re-read the environment per request. */
  noProxy: string;
}

/** Connections per origin: the one default for metadata and files, which faces show in their help. */
export const DEFAULT_CONNECTIONS_PER_HOST = 4;
const DEFAULT_HEADERS_TIMEOUT_MS = 60_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
/** See watchAttempt (http.ts); faces show it in their help. */
export const DEFAULT_STALL_TIMEOUT_MS = 30_000;

/**
 * One composed undici dispatcher for a job: a connection pool per origin, the proxy (explicit, or
 * HTTP(S)_PROXY with NO_PROXY as curl reads them), the job's retry policy and stall timeout.
 * Throws FERRY_SETTING_INVALID (naming the setting) for connections, stall timeout or attempts out
 * of range, or a proxy that is not an http(s) URL.
 */
export function createHttpClient(options: HttpClientOptions): HttpClient {
  const connections = options.connectionsPerHost ?? DEFAULT_CONNECTIONS_PER_HOST;
  if (!Number.isInteger(connections) || connections < 1) {
    throw new FerryError('FERRY_SETTING_INVALID', `connections per host must be a positive whole number, got ${connections}`, {
      setting: 'connectionsPerHost',
      actual: String(connections),
    });
  }
  const extraCas = (options.caCertFiles ?? []).flatMap(readCaCertificates);
  const poolOptions = {
    connections,
    headersTimeout: options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS,
    connect: {
      timeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      // `ca` replaces Node's default store, which holds the bundled roots and NODE_EXTRA_CA_CERTS'
      // certificates; so both are given again, and ours after them.
      ...(extraCas.length === 0 ? {} : { ca: [...rootCertificates, ...environmentCas(options.env ?? process.env), ...extraCas] }),
    },
  };
  const stallTimeoutMs = options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  if (!Number.isFinite(stallTimeoutMs) || stallTimeoutMs <= 0 || stallTimeoutMs > LONGEST_TIMER_MS) {
    throw new FerryError('FERRY_SETTING_INVALID', `the stall timeout must be a positive number of milliseconds up to ${LONGEST_TIMER_MS}, got ${stallTimeoutMs}`, {
      setting: 'stallTimeoutMs',
      actual: String(stallTimeoutMs),
    });
  }
  const retry: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  if (!Number.isInteger(retry.maxAttempts) || retry.maxAttempts < 1) {
    throw new FerryError('FERRY_SETTING_INVALID', `attempts per request must be a positive whole number, got ${retry.maxAttempts}`, {
      setting: 'maxAttempts',
      actual: String(retry.maxAttempts),
    });
  }
  const proxies = resolveProxySettings(options.proxy, options.env ?? process.env);
  const dispatcher: Dispatcher =
    proxies.httpProxy === undefined && proxies.httpsProxy === undefined
      ? new Agent(poolOptions)
      : new EnvHttpProxyAgent({
          ...poolOptions,
          ...proxies,
          // Plain-http sources go to the proxy as ordinary absolute-URI requests, which every forward
          // proxy accepts and can cache; many refuse CONNECT to port 80. https still tunnels.
          proxyTunnel: false,
        });
  return {
    dispatcher,
    userAgent: options.userAgent,
    retry,
    stallTimeoutMs,
    close: () => dispatcher.close(),
  };
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * The certificates of a PEM file. Throws FERRY_SETTING_INVALID (setting `caCertFiles`, the path
 * named) when the file cannot be read or holds no PEM certificate.
 */
function readCaCertificates(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch (error) {
    throw new FerryError('FERRY_SETTING_INVALID', `The CA certificate file ${path} cannot be read: ${describeError(error)}`, { setting: 'caCertFiles', path, errno: errnoCode(error), cause: error });
  }
  const certificates = text.match(PEM_CERTIFICATE) ?? [];
  if (certificates.length === 0) {
    throw new FerryError('FERRY_SETTING_INVALID', `The CA certificate file ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`, { setting: 'caCertFiles', path });
  }
  return certificates;
}

/** NODE_EXTRA_CA_CERTS' certificates, which an explicit `ca` would otherwise drop; unreadable: none (Node warned at start). */
function environmentCas(environment: NodeJS.ProcessEnv): string[] {
  const file = nonEmpty(environment['NODE_EXTRA_CA_CERTS']);
  if (file === undefined) return [];
  try {
    return readFileSync(file, 'latin1').match(PEM_CERTIFICATE) ?? [];
  } catch {
    return [];
  }
}

/**
 * Which proxies apply: the explicit one for both schemes, otherwise the environment, lower-case
 * names first as curl reads them. An empty variable counts as unset; `host:port` gets http://.
 * Throws FERRY_SETTING_INVALID (setting `proxy`) for a proxy that is not an http(s) URL.
 */
export function resolveProxySettings(explicitProxy: string | undefined, environment: NodeJS.ProcessEnv): ProxySettings {
  const fromEnvironment = (lowerName: string): string | undefined =>
    nonEmpty(environment[lowerName]) ?? nonEmpty(environment[lowerName.toUpperCase()]);
  const explicit = nonEmpty(explicitProxy);
  const httpProxy = explicit ?? fromEnvironment('http_proxy');
  const httpsProxy = explicit ?? fromEnvironment('https_proxy');
  return {
    httpProxy: httpProxy === undefined ? undefined : normalizeProxyUrl(httpProxy),
    httpsProxy: httpsProxy === undefined ? undefined : normalizeProxyUrl(httpsProxy),
    noProxy: fromEnvironment('no_proxy') ?? '',
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === '' ? undefined : trimmed;
}

/** Accepts `host:port` as curl does, and refuses anything undici could not use as an HTTP proxy. */
function normalizeProxyUrl(proxy: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(proxy) ? proxy : `http://${proxy}`;
  let parsed: URL;
  try {
    parsed = new URL(withScheme);
  } catch (error) {
    throw new FerryError('FERRY_SETTING_INVALID', `The proxy ${redactUrl(withScheme)} is not a valid URL`, {
      setting: 'proxy',
      cause: error,
      hint: 'Give the proxy as http://host:port (user:password@ may come before the host).',
    });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new FerryError('FERRY_SETTING_INVALID', `The proxy ${redactUrl(withScheme)} uses ${parsed.protocol}, which is not supported`, {
      setting: 'proxy',
      url: withScheme,
      expected: 'http: or https:',
      actual: parsed.protocol,
      hint: 'Use an http:// or https:// proxy.',
    });
  }
  return parsed.href;
}
