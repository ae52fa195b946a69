import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { throwIfCancelled } from '../base/cancel.js';
import { createHttpClient, fetchBytes, type HttpClient, type RetryNotice } from '../net/index.js';
import { keyExpiries, loadKeyring, readClearsignedBody, verifyClearsigned, type Keyring } from '../pgp/index.js';
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
import { FerryError, describeError, errnoCode } from '../base/errors.js';
import type { ProgressTracker } from '../base/progress.js';
import type { RetryEvent, SignatureFact, StreamSettings, StreamTrust } from './api.js';
import { bundledKeyringPath, userAgent } from './install.js';
import { trustWarnings } from './trust-warnings.js';

export interface LoadStreamOptions {
  /** A preset (`stable`, `candidate`), an http(s) or file URL, or a local path. */
  source: string;
  /** Entry file relative to the mirror base: an index or a products file (sstream's --path). */
  path?: string | undefined;
  /** Keyring files; empty means the bundled Ubuntu cloud image keyring. */
  keyringFiles?: readonly string[] | undefined;
  /** false skips signature checks (the PGP framing of .sjson files is still required). */
  verify?: boolean | undefined;
  cwd: string;
  signal: AbortSignal;
  /**
   * Where the metadata bytes come from: the job's HTTP client (see createStreamClient; the caller
   * closes it), or a reader answering a file's bytes by its path (a bundle's blobs, already checked
   * against the bundle's sha256; the signatures are verified here all the same).
   */
  client: HttpClient | { readMetadata(path: string): Promise<Buffer> };
  /** Told of each metadata file, step `load`: the index adds its products files to the total as it is read. */
  progress?: ProgressTracker | undefined;
}

export interface StreamClientOptions extends Pick<StreamSettings, 'proxy' | 'caCertFiles' | 'retries' | 'stallTimeoutMs'> {
  env: NodeJS.ProcessEnv;
  connectionsPerHost?: number | undefined;
  /** Told of each wait before a request is tried again. */
  onRetry: (event: Omit<RetryEvent, 'jobId'>) => void;
}

/**
 * The HTTP client of one job: its retry policy and stall timeout serve the metadata and every
 * file, and each retry becomes a retry event. The settings are validated by the engine first
 * (job-input.ts); what the agent still refuses (a proxy URL it cannot use) it throws itself.
 */
export function createStreamClient(options: StreamClientOptions): HttpClient {
  const { onRetry } = options;
  return createHttpClient({
    userAgent: userAgent(),
    proxy: options.proxy,
    caCertFiles: options.caCertFiles,
    env: options.env,
    connectionsPerHost: options.connectionsPerHost,
    stallTimeoutMs: options.stallTimeoutMs,
    retry: {
      ...(options.retries === undefined ? {} : { maxAttempts: options.retries + 1 }),
      onRetry: (notice: RetryNotice) => {
        const { error, ...rest } = notice;
        onRetry({ type: 'retry', ...rest, cause: error.toJSON() });
      },
    },
  });
}

/**
 * How to name `source` so that another run, from any directory (or of a preset whose address
 * changes one day), reads the very same stream: the URL of its entry file, or, for an entry file
 * that its URL alone does not find again (one given with a path outside streams/v1/), the mirror
 * base and the path (sstream's --path).
 */
export function reloadableSource(source: StreamSource): { source: string; path: string | undefined } {
  const { baseUrl, entryPath, entryUrl } = source;
  const reread = resolveSource(entryUrl);
  return reread.baseUrl === baseUrl && reread.entryPath === entryPath ? { source: entryUrl, path: undefined } : { source: baseUrl, path: entryPath };
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

export interface LoadedStream {
  source: StreamSource;
  trust: StreamTrust;
  index: { file: MetadataFile; document: IndexDocument } | undefined;
  /** In index order. */
  products: LoadedProductsFile[];
  /** Every metadata file in the order a mirror writes them: products files first, the index last. */
  metadataFiles: MetadataFile[];
  /** Each verified signature in the order the files were read (the entry file first); empty when nothing was verified. */
  signatures: SignatureFact[];
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
 * Throws FERRY_SOURCE_INVALID, FERRY_KEYRING_INVALID, the fetch codes (FERRY_FETCH_FAILED,
 * FERRY_HTTP_STATUS, FERRY_TOO_LARGE, ...), the format codes (FERRY_JSON_MALFORMED,
 * FERRY_FORMAT_UNSUPPORTED, FERRY_UNSAFE_PATH), the FERRY_SIG_* codes and FERRY_CANCELLED.
 */
export async function loadStream(options: LoadStreamOptions): Promise<LoadedStream> {
  const { cwd, client, progress, signal } = options;
  const source = resolveSource(options.source, { path: options.path, cwd });
  const verify = options.verify ?? true;
  const keyring = source.signed && verify ? await readKeyrings(options.keyringFiles ?? [], cwd) : undefined;
  const signers = new Set<string>();
  const expiredKeys = new Map<string, string>();
  const signedAt: Date[] = [];
  const signatures: SignatureFact[] = [];

  const readText: TextReader = async (path) => {
    const url = joinMirrorUrl(source.baseUrl, path);
    const tracked = progress?.startFile(path, 0);
    try {
      const bytes = 'readMetadata' in client ? await client.readMetadata(path) : (await fetchBytes(url, { client, maxBytes: MAX_METADATA_BYTES, signal })).bytes;
      // Sizes are known only once the bytes are here: an index does not list them.
      progress?.addToTotals(0, bytes.length);
      tracked?.addBytes(bytes.length);
      const file: MetadataFile = { path, url, bytes };
      const text = await verifiedText(file);
      tracked?.done();
      return { file, text };
    } catch (error) {
      tracked?.failed();
      throw error;
    }
  };
  const verifiedText = async ({ bytes, url, path }: MetadataFile): Promise<string> => {
    if (!source.signed) return bytes.toString('utf8');
    if (keyring === undefined) return readClearsignedBody(bytes, url);
    const verified = await verifyClearsigned(bytes, keyring, url);
    // Verifying a large file holds the event loop for a while; a signal that arrived meanwhile
    // stops the load here instead of after parsing and planning as well.
    throwIfCancelled(signal);
    signers.add(verified.signerFingerprint);
    signedAt.push(verified.signedAt);
    signatures.push({ path, keyFingerprint: verified.signerFingerprint, signedAt: verified.signedAt.toISOString() });
    if (verified.keyExpiredAt !== undefined) expiredKeys.set(verified.signerFingerprint, verified.keyExpiredAt.toISOString());
    return verified.body;
  };

  progress?.addToTotals(1, 0);
  try {
    const loaded = await loadEntry(source.entryPath, readText, 0, progress);
    const now = new Date();
    const trust: StreamTrust = !source.signed
      ? { kind: 'unsigned-source' }
      : keyring === undefined
        ? { kind: 'skipped' }
        : {
            kind: 'verified',
            signers: [...signers],
            keyringFiles: [...keyring.sourceNames],
            expiredKeys: [...expiredKeys].map(([fingerprint, expiredAt]) => ({ fingerprint, expiredAt })),
            warnings: trustWarnings(signedAt, await keyExpiries(keyring, now), now),
          };
    const metadataFiles = [...loaded.products.map((products) => products.file), ...loaded.indexFiles];
    return { source, trust, index: loaded.index, products: loaded.products, metadataFiles, signatures };
  } finally {
    progress?.finish();
  }
}

interface LoadedEntry {
  index: { file: MetadataFile; document: IndexDocument } | undefined;
  indexFiles: MetadataFile[];
  products: LoadedProductsFile[];
}

async function loadEntry(path: string, readText: TextReader, depth: number, progress: ProgressTracker | undefined): Promise<LoadedEntry> {
  const { file, text } = await readText(path);
  const document = parseStreamDocument(text, file.url);
  if (document.kind === 'products') {
    return { index: undefined, indexFiles: [], products: [{ contentId: document.contentId, file, document }] };
  }
  if (depth >= MAX_INDEX_DEPTH) {
    throw new FerryError('FERRY_FORMAT_UNSUPPORTED', `Index ${file.url} is nested more than ${MAX_INDEX_DEPTH} indexes deep.`, {
      url: file.url,
      // The depth bound is the fact a face words as its own option (the CLI: --path).
      limit: MAX_INDEX_DEPTH,
      hint: 'Start from a products file, or fix the index chain on the server.',
    });
  }
  // Products files are independent, so they are fetched together; the result keeps the index order,
  // which is the order the reference processes (and prints) them in.
  const entries = entriesToFollow(document);
  progress?.addToTotals(entries.length, 0);
  const children = await Promise.all(
    entries.map(async (entry): Promise<LoadedEntry> => {
      const entryPath = entry.path ?? '';
      if (entry.format !== 'products:1.0') return loadEntry(entryPath, readText, depth + 1, progress);
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

/** The keyring files a stream is verified with: those given (relative to `cwd`), or the bundled one. */
export function keyringPaths(files: readonly string[], cwd: string): string[] {
  return files.length === 0 ? [bundledKeyringPath()] : files.map((file) => resolvePath(cwd, file));
}

/** Loads the keyrings of keyringPaths. Throws FERRY_KEYRING_INVALID naming an unreadable or unusable file. */
export async function readKeyrings(files: readonly string[], cwd: string): Promise<Keyring> {
  const paths = keyringPaths(files, cwd);
  const sources = await Promise.all(
    paths.map(async (path) => {
      try {
        return { name: path, bytes: await readFile(path) };
      } catch (error) {
        throw new FerryError('FERRY_KEYRING_INVALID', `Cannot read keyring ${path}: ${describeError(error)}.`, {
          path,
          errno: errnoCode(error),
          cause: error,
          hint: 'Give an existing OpenPGP keyring file (binary .gpg or armored .asc).',
        });
      }
    }),
  );
  return loadKeyring(sources);
}
