import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { throwIfCancelled } from '../base/cancel.js';
import { createHttpClient, fetchBytes, type HttpClient, type RetryNotice, type RetryPolicy } from '../net/index.js';
import { loadKeyring, readClearsignedBody, verifyClearsigned, type Keyring } from '../pgp/index.js';
import {
  MAX_METADATA_BYTES,
  entriesToFollow,
  joinMirrorUrl,
  parseProducts,
  parseStreamDocument,
  resolveSource,
  type IndexDocument,
  type ProductsDocument,
  type StreamSource,
} from '../streams/index.js';
import { FerryError, describeError, type SerializedFerryError } from '../base/errors.js';
import { bundledKeyringPath, userAgent } from './install.js';

export interface LoadStreamOptions {
  /** A preset (`stable`, `candidate`), an http(s) or file URL, or a local path. */
  source: string;
  /** Entry file relative to the mirror base: an index or a products file (sstream's --path). */
  path?: string | undefined;
  /** Keyring files; empty means the bundled Ubuntu cloud image keyring. */
  keyringFiles?: readonly string[] | undefined;
  /** false skips signature checks (the PGP framing of .sjson files is still required). */
  verify?: boolean | undefined;
  proxy?: string | undefined;
  env?: NodeJS.ProcessEnv | undefined;
  cwd?: string | undefined;
  signal?: AbortSignal | undefined;
  /** Reuse a job's HTTP client; otherwise one is made (from the options below) and closed here. */
  client?: HttpClient | undefined;
  /** Over the default policy; applies to metadata and file downloads alike. */
  retry?: Partial<RetryPolicy> | undefined;
  /** Longest wait of one request for the answer or for more data (ms); default 30 s. */
  stallTimeoutMs?: number | undefined;
  /** Told of each wait before a request is tried again. */
  onRetry?: ((event: RetryEvent) => void) | undefined;
}

/** A request is tried again after `delayMs`: what failed, and whether the server set the wait. */
export interface RetryEvent {
  type: 'retry';
  url: string;
  /** The attempt that failed (1-based) and the most that will be made. */
  attempt: number;
  maxAttempts: number;
  delayMs: number;
  /** true: the server asked for this wait with Retry-After (capped at 120 s). */
  retryAfter: boolean;
  cause: SerializedFerryError;
}

export type StreamClientOptions = Pick<LoadStreamOptions, 'proxy' | 'env' | 'retry' | 'stallTimeoutMs' | 'onRetry'> & {
  connectionsPerHost?: number | undefined;
};

/**
 * The HTTP client of one job: its retry policy and stall timeout serve the metadata and every
 * file, and each retry becomes a RetryEvent for `onRetry`. Throws FERRY_USAGE for a bad proxy,
 * connection count, attempt count or stall timeout.
 */
export function createStreamClient(options: StreamClientOptions): HttpClient {
  const { onRetry } = options;
  return createHttpClient({
    userAgent: userAgent(),
    proxy: options.proxy,
    env: options.env ?? process.env,
    connectionsPerHost: options.connectionsPerHost,
    stallTimeoutMs: options.stallTimeoutMs,
    retry: {
      ...options.retry,
      onRetry:
        onRetry === undefined
          ? undefined
          : (notice: RetryNotice) => {
              const { error, ...rest } = notice;
              onRetry({ type: 'retry', ...rest, cause: error.toJSON() });
            },
    },
  });
}

/** A metadata file exactly as fetched: mirrors write these bytes unmodified. */
export interface MetadataFile {
  path: string;
  url: string;
  bytes: Buffer;
}

export interface LoadedProductsFile {
  contentId: string;
  file: MetadataFile;
  document: ProductsDocument;
}

export type StreamTrust =
  /** `expiredKeys`: signers whose key has expired since signing, with the expiry (ISO 8601), to warn about. */
  | { kind: 'verified'; signers: string[]; keyringFiles: string[]; expiredKeys: { fingerprint: string; expiredAt: string }[] }
  | { kind: 'unsigned-source' }
  | { kind: 'skipped' };

export interface LoadedStream {
  source: StreamSource;
  trust: StreamTrust;
  index: { file: MetadataFile; document: IndexDocument } | undefined;
  /** In index order. */
  products: LoadedProductsFile[];
  /** Every metadata file in the order a mirror writes them: products files first, the index last. */
  metadataFiles: MetadataFile[];
}

/**
 * The JSON text of metadata published earlier (a snapshot's blob, a tree's file), whose signature
 * was checked when it was fetched: the signed body of a `.sjson` file, read without verifying again
 * (the framing is still judged: FERRY_SIG_MISSING, FERRY_SIG_MALFORMED), otherwise the bytes as UTF-8.
 */
export function publishedMetadataText(path: string, bytes: Buffer): string {
  return path.endsWith('.sjson') ? readClearsignedBody(bytes, path) : bytes.toString('utf8');
}

/** Index files may point at further indexes; this bounds a hostile or looping chain. */
const MAX_INDEX_DEPTH = 4;

type TextReader = (path: string) => Promise<{ file: MetadataFile; text: string }>;

/**
 * Fetches, verifies and parses a whole stream: the entry index (or products file) and every
 * products file it lists. Starting from `.sjson`, every file must carry a valid signature from the
 * keyring, exactly as sstream-mirror and MAAS require; from `.json` nothing is verified.
 */
export async function loadStream(options: LoadStreamOptions): Promise<LoadedStream> {
  const cwd = options.cwd ?? process.cwd();
  const source = resolveSource(options.source, { path: options.path, cwd });
  const verify = options.verify ?? true;
  const keyring = source.signed && verify ? await readKeyrings(options.keyringFiles ?? [], cwd) : undefined;
  const client = options.client ?? createStreamClient(options);
  const signers = new Set<string>();
  const expiredKeys = new Map<string, string>();

  const readText: TextReader = async (path) => {
    const url = joinMirrorUrl(source.baseUrl, path);
    const { bytes } = await fetchBytes(url, { client, maxBytes: MAX_METADATA_BYTES, signal: options.signal });
    const file: MetadataFile = { path, url, bytes };
    if (!source.signed) return { file, text: bytes.toString('utf8') };
    if (keyring === undefined) return { file, text: readClearsignedBody(bytes, url) };
    const verified = await verifyClearsigned(bytes, keyring, url);
    // Verifying a large file holds the event loop for a while; a signal that arrived meanwhile
    // stops the load here instead of after parsing and planning as well.
    if (options.signal !== undefined) throwIfCancelled(options.signal);
    signers.add(verified.signerFingerprint);
    if (verified.keyExpiredAt !== undefined) expiredKeys.set(verified.signerFingerprint, verified.keyExpiredAt.toISOString());
    return { file, text: verified.body };
  };

  try {
    const loaded = await loadEntry(source.entryPath, readText, 0);
    const trust: StreamTrust = !source.signed
      ? { kind: 'unsigned-source' }
      : keyring === undefined
        ? { kind: 'skipped' }
        : {
            kind: 'verified',
            signers: [...signers],
            keyringFiles: [...keyring.sourceNames],
            expiredKeys: [...expiredKeys].map(([fingerprint, expiredAt]) => ({ fingerprint, expiredAt })),
          };
    const metadataFiles = [...loaded.products.map((products) => products.file), ...loaded.indexFiles];
    return { source, trust, index: loaded.index, products: loaded.products, metadataFiles };
  } finally {
    if (options.client === undefined) await client.close();
  }
}

interface LoadedEntry {
  index: { file: MetadataFile; document: IndexDocument } | undefined;
  indexFiles: MetadataFile[];
  products: LoadedProductsFile[];
}

async function loadEntry(path: string, readText: TextReader, depth: number): Promise<LoadedEntry> {
  const { file, text } = await readText(path);
  const document = parseStreamDocument(text, file.url);
  if (document.kind === 'products') {
    return { index: undefined, indexFiles: [], products: [{ contentId: document.contentId, file, document }] };
  }
  if (depth >= MAX_INDEX_DEPTH) {
    throw new FerryError('FERRY_FORMAT_UNSUPPORTED', `Index ${file.url} is nested more than ${MAX_INDEX_DEPTH} indexes deep.`, {
      url: file.url,
      hint: 'Start from a products file with --path, or fix the index chain on the server.',
    });
  }
  // Products files are independent, so they are fetched together; the result keeps the index order,
  // which is the order the reference processes (and prints) them in.
  const children = await Promise.all(
    entriesToFollow(document).map(async (entry): Promise<LoadedEntry> => {
      const entryPath = entry.path ?? '';
      if (entry.format !== 'products:1.0') return loadEntry(entryPath, readText, depth + 1);
      const child = await readText(entryPath);
      const products = parseProducts(child.text, child.file.url);
      return { index: undefined, indexFiles: [], products: [{ contentId: entry.contentId, file: child.file, document: products }] };
    }),
  );
  return {
    index: { file, document },
    indexFiles: [...children.flatMap((child) => child.indexFiles), file],
    products: children.flatMap((child) => child.products),
  };
}

async function readKeyrings(files: readonly string[], cwd: string): Promise<Keyring> {
  const paths = files.length === 0 ? [bundledKeyringPath()] : files.map((file) => resolvePath(cwd, file));
  const sources = await Promise.all(
    paths.map(async (path) => {
      try {
        return { name: path, bytes: await readFile(path) };
      } catch (error) {
        throw new FerryError('FERRY_KEYRING_INVALID', `Cannot read keyring ${path}: ${describeError(error)}.`, {
          path,
          cause: error,
          hint: 'Pass an existing OpenPGP keyring file with --keyring (binary .gpg or armored .asc).',
        });
      }
    }),
  );
  return loadKeyring(sources);
}
