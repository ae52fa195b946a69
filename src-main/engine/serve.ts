import type { Stats } from 'node:fs';
import { access } from 'node:fs/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { FerryError } from '../base/errors.js';
import { lstatIfExists } from '../base/files.js';
import { BUNDLE_FILES, BUNDLES_FOLDER, blobStoragePaths } from '../media/bundle/manifest.js';
import { createPartsSource, listen, openTreeSource, type FileSource, type PartedFile, type RequestRecord } from '../serve/index.js';
import { openVerifiedBundle } from './bundle-open.js';
import { libraryExists } from './library.js';

// `ferry serve`: a mirror tree over read-only HTTP, for MAAS to use as its boot source (issue 9
// §5), or a bundle straight from the drive: its verified manifest maps each tree path to the
// blob or parts holding it (serve/parts-source.ts).

export const DEFAULT_SERVE_PORT = 8080;
/** Loopback unless the operator asks otherwise: a boot-image server is not offered to a network by accident. */
export const DEFAULT_BIND_ADDRESS = '127.0.0.1';
/** How long responses in flight may go on after stop() before their connections are closed. */
export const STOP_GRACE_MS = 2_000;
/** Entry files MAAS and the SimpleStreams tools start from, preferred first (simplestreams.md §1.1). */
const ENTRY_PATHS = ['streams/v1/index.sjson', 'streams/v1/index.json'];

export interface ServeOptions {
  /** The mirror tree's directory (the mirror base, holding streams/v1/). */
  path: string;
  /** 0 picks a free port. Default 8080. */
  port?: number;
  /** An IP address; default 127.0.0.1. 0.0.0.0 or :: serve every interface. */
  bind?: string;
  onRequest?: (record: RequestRecord) => void;
  /** For a bundle: keyrings to verify its metadata with; default the bundled Ubuntu cloud image keyring. */
  keyringFiles?: string[];
  /** For a bundle: also verify with its own keyrings/ (the operator said so). */
  trustBundleKeyrings?: boolean;
}

export interface ServeHandle {
  /** The address and port bound. */
  bindAddress: string;
  port: number;
  /** True when only this computer can connect (127.0.0.0/8, ::1). */
  loopbackOnly: boolean;
  /** Base URLs that reach the mirror, ending in '/': the bound address, or each interface's address for a wildcard bind. */
  baseUrls: string[];
  /** The entry file found in the tree (streams/v1/index.sjson or index.json), or undefined when neither is there. */
  entryPath: string | undefined;
  /** The bundle served, when PATH is one (its id); undefined for a mirror tree. */
  bundleId?: string | undefined;
  /** Stops the server: responses in flight get STOP_GRACE_MS milliseconds, then every connection is closed. */
  stop(): Promise<void>;
}

/**
 * Serves the mirror tree at `options.path` read-only until stop(). Throws FerryError
 * FERRY_SERVE_ROOT_INVALID (not a directory, or a folder holding no streams/v1 index: a library, an
 * empty folder), FERRY_SETTING_INVALID (setting `bind`: not an IP address) or
 * FERRY_LISTEN_FAILED (port in use, address not on this host).
 */
export async function startServe(options: ServeOptions): Promise<ServeHandle> {
  const bind = options.bind ?? DEFAULT_BIND_ADDRESS;
  if (isIP(bind) === 0) {
    throw new FerryError('FERRY_SETTING_INVALID', `The address to listen on must be an IP address, not '${bind}'.`, {
      setting: 'bind',
      expected: 'an IP address',
      actual: bind,
      hint: `Use ${DEFAULT_BIND_ADDRESS} (loopback), an address of this computer, or 0.0.0.0 for every interface.`,
    });
  }
  const bundle = await isBundlePath(options.path) ? await openBundleSource(options.path, options.keyringFiles ?? [], options.trustBundleKeyrings === true) : undefined;
  const source = bundle?.source ?? (await openTreeSource(options.path));
  const entryPath = bundle === undefined ? await publishedEntryPath(options.path) : bundle.entryPath;
  if (bundle === undefined && entryPath === undefined) throw await notAMirrorTree(options.path);
  const server = await listen({ source, host: bind, port: options.port ?? DEFAULT_SERVE_PORT, ...(options.onRequest === undefined ? {} : { onRequest: options.onRequest }) });
  return {
    bindAddress: server.host,
    port: server.port,
    loopbackOnly: isLoopback(server.host),
    baseUrls: reachableAddresses(server.host).map((address) => `http://${isIP(address) === 6 ? `[${address}]` : address}:${server.port}/`),
    entryPath,
    bundleId: bundle?.id,
    stop: () => server.close(STOP_GRACE_MS),
  };
}

/**
 * A folder with no streams/v1 index would start a server MAAS finds nothing on, so it is refused;
 * the library's folder is the likely mistake (its blobs are not laid out as a mirror) and is named.
 */
async function notAMirrorTree(path: string): Promise<FerryError> {
  const isLibrary = await libraryExists(path);
  const problem = isLibrary ? 'it is a Stream Ferry library, not a mirror tree' : 'it holds no streams/v1/index.sjson or index.json, so MAAS would find nothing there';
  return new FerryError('FERRY_SERVE_ROOT_INVALID', `Cannot serve ${path}: ${problem}.`, {
    path,
    expected: 'streams/v1/index.sjson',
    // 'library' lets a face word the export that makes a servable tree from it.
    actual: isLibrary ? 'library' : 'no index',
    hint: isLibrary
      ? 'Serve a mirror tree or a bundle; to serve what the library holds, export it first and serve the export.'
      : 'Serve a mirror tree (the directory holding streams/v1/) or a bundle (a folder holding bundle.json or FERRY/).',
  });
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}

/** A wildcard bind is reached through each interface's address (IPv4 first); others by the address itself. */
function reachableAddresses(bound: string): string[] {
  if (bound !== '0.0.0.0' && bound !== '::') return [bound];
  // Link-local IPv6 addresses need a zone (%eth0) that a URL cannot carry for MAAS.
  const addresses = Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((entry) => !entry.internal && !entry.address.startsWith('fe80:') && (bound === '::' || entry.family === 'IPv4'))
    .sort((a, b) => Number(a.family === 'IPv6') - Number(b.family === 'IPv6'))
    .map((entry) => entry.address);
  return addresses.length > 0 ? addresses : [bound === '::' ? '::1' : '127.0.0.1'];
}

/** The entry file a tree publishes (streams/v1/index.sjson, else index.json), or undefined when it has neither. */
export async function publishedEntryPath(root: string): Promise<string | undefined> {
  for (const path of ENTRY_PATHS) {
    if (await access(join(root, path)).then(() => true, () => false)) return path;
  }
  return undefined;
}

/** A bundle directory (holding bundle.json) or a folder holding `FERRY/`; anything else is served as a tree. */
async function isBundlePath(path: string): Promise<boolean> {
  // A PATH that is missing or not a directory is the tree source's to refuse, in its words.
  const isA = (entry: string, test: (stats: Stats) => boolean): Promise<boolean> =>
    lstatIfExists(join(path, entry)).then((stats) => stats !== undefined && test(stats), () => false);
  return (await isA(BUNDLE_FILES.manifest, (stats) => stats.isFile())) || (await isA(BUNDLES_FOLDER, (stats) => stats.isDirectory()));
}

/**
 * The bundle at `path` as a FileSource: its signatures verified first (openVerifiedBundle), then
 * each file of its manifest whose blob is on this volume served from the blob or its parts, laid
 * end to end. Items are not re-hashed here: a client verifies what it fetches (ferry mirror, MAAS),
 * and a part of the wrong size is refused by the parts source. Throws what openVerifiedBundle throws.
 */
async function openBundleSource(path: string, keyringFiles: readonly string[], trustBundleKeyrings: boolean): Promise<{ id: string; source: FileSource; entryPath: string | undefined }> {
  const verified = await openVerifiedBundle({ paths: [path], keyringFiles, trustBundleKeyrings, cwd: process.cwd(), signal: new AbortController().signal });
  const files = new Map<string, PartedFile>();
  for (const file of verified.bundle.manifest.files) {
    const location = verified.bundle.blobs.get(file.sha256);
    if (location === undefined) continue;
    const parts = blobStoragePaths(location.blob).map((stored) => ({ path: join(location.volume.dir, stored.path), size: stored.size }));
    files.set(file.path, { parts, sha256: file.sha256 });
  }
  const indexPath = verified.bundle.manifest.source.indexPath;
  return { id: verified.bundle.id, source: createPartsSource(files), entryPath: files.has(indexPath) ? indexPath : undefined };
}
