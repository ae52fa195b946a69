// A bundle opened for verify, import and serve: its volumes grouped (media/bundle/reader.ts), and
// upstream's signatures verified FIRST, by the same loadStream every mirror uses, with the keyrings
// the operator names or else the bundled Ubuntu cloud image keyring, as `ferry mirror` does. The
// bundle's own keyrings/ only when the operator says so: whoever can change a drive can re-sign
// its metadata and bring their own key; only then is `files` trusted, and only as far as the signed
// products metadata lists each item with the same path, size and sha256 (docs/bundle.md, rules).

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { FerryError, isFerryError } from '../base/errors.js';
import { checkTreePath } from '../mirror/tree-store.js';
import { blobFilePath, type BundleFile } from '../media/bundle/manifest.js';
import { openBundle, readBlob, readBundleFile, type OpenedBundle } from '../media/bundle/reader.js';
import { fingerprintHolding, loadKeyring } from '../pgp/index.js';
import { MAX_METADATA_BYTES, flattenProducts, type StreamItem } from '../streams/index.js';
import type { SignatureFact, StreamTrust } from './api.js';
import { loadStream, type LoadedStream } from './stream.js';

export interface VerifiedBundle {
  bundle: OpenedBundle;
  stream: LoadedStream;
  trust: StreamTrust;
  signatures: SignatureFact[];
  /** The signed items of the bundle's item files, by path (for the MAAS selections). */
  items: Map<string, StreamItem>;
}

export interface OpenVerifiedOptions {
  paths: readonly string[];
  /** Keyrings the operator names (a bundle's keyrings/ file among them, if the operator says so). */
  keyringFiles: readonly string[];
  /** Also verify with the bundle's own keyrings/ (checked against bundle.json). Neither: the bundled Ubuntu keyring. */
  trustBundleKeyrings?: boolean | undefined;
  cwd: string;
  signal: AbortSignal;
  /** An import target: metadata an incremental bundle does not carry may be taken from there, when its sha256 matches. */
  target?: string | undefined;
}

/**
 * Opens the bundle at `paths` and verifies its metadata: every metadata file's bytes checked
 * against bundle.json, its signature verified (loadStream, gpgv's verdict), the index and products
 * parsed; then every file of `files` must be metadata that was loaded or an item of the signed
 * products with the same path, size and sha256. Throws what openBundle and loadStream throw (the
 * FERRY_SIG_* codes, FERRY_KEYRING_INVALID...), FERRY_BUNDLE_KEY_UNTRUSTED (FERRY_SIG_UNKNOWN_KEY
 * where the bundle's own keyrings/, not trusted, hold the key: names its fingerprint and the
 * keyring file), FERRY_BUNDLE_INVALID (a file the signed metadata
 * does not list, or lists otherwise; a keyring whose sha256 is not bundle.json's),
 * FERRY_BUNDLE_INCOMPLETE (a metadata file neither in the bundle nor in the target),
 * FERRY_HASH_MISMATCH / FERRY_SIZE_MISMATCH (a metadata blob changed).
 */
export async function openVerifiedBundle(options: OpenVerifiedOptions): Promise<VerifiedBundle> {
  const bundle = await openBundle(options.paths.map((path) => resolvePath(options.cwd, path)));
  const { manifest } = bundle;
  const byPath = new Map(manifest.files.map((file) => [file.path, file]));
  const [firstVolume] = bundle.volumes;
  if (firstVolume === undefined) throw new FerryError('FERRY_BUNDLE_NOT_FOUND', 'No bundle was given.', {});
  // Empty: loadStream verifies with the bundled Ubuntu cloud image keyring.
  const keyringFiles = [...options.keyringFiles.map((file) => resolvePath(options.cwd, file)), ...(options.trustBundleKeyrings === true ? await bundleKeyrings(bundle) : [])];
  const readMetadata = async (path: string): Promise<Buffer> => {
    const file = byPath.get(path);
    if (file?.role !== 'metadata') {
      throw new FerryError('FERRY_BUNDLE_INVALID', `The signed index lists ${path}, which bundle.json does not list as metadata.`, { path, field: 'files' });
    }
    if (file.size > MAX_METADATA_BYTES) throw new FerryError('FERRY_TOO_LARGE', `${path} is listed with ${file.size} bytes, above the metadata limit.`, { path, limit: MAX_METADATA_BYTES });
    return metadataBytes(bundle, file, options);
  };
  const stream = await loadStream({
    source: firstVolume.dir,
    path: manifest.source.indexPath,
    keyringFiles,
    cwd: options.cwd,
    signal: options.signal,
    client: { readMetadata },
  }).catch(async (error: unknown) => {
    if (isFerryError(error, 'FERRY_SIG_UNKNOWN_KEY') && error.keyId !== undefined && options.trustBundleKeyrings !== true) throw (await carriedKeyError(bundle, error.keyId)) ?? error;
    throw namedInBundle(error, bundle);
  });
  return { bundle, stream, trust: stream.trust, signatures: stream.signatures, items: checkFilesAgainstMetadata(manifest.files, stream) };
}

/** Signature verdicts that mean the metadata's bytes on the drive are not what was signed. */
const CHANGED_METADATA_CODES = new Set(['FERRY_SIG_BAD', 'FERRY_SIG_MALFORMED', 'FERRY_SIG_MISSING']);

/**
 * A signature error from loadStream, which names the metadata by a URL inside the bundle directory
 * (no such file exists: the bytes are a blob), reworded to name the blob file on its volume and the
 * tree path it is for; a changed file is to be copied or exported again, not fetched.
 */
function namedInBundle(error: unknown, bundle: OpenedBundle): unknown {
  if (!isFerryError(error) || !error.code.startsWith('FERRY_SIG_')) return error;
  const where = error.url ?? error.path;
  const file = where === undefined ? undefined : bundle.manifest.files.find((entry) => entry.role === 'metadata' && where.endsWith(`/${entry.path}`));
  const location = file === undefined ? undefined : bundle.blobs.get(file.sha256);
  if (where === undefined || file === undefined || location === undefined) return error;
  const blob = join(location.volume.dir, blobFilePath(file.sha256));
  return new FerryError(error.code, error.message.split(where).join(`${blob} (the bundle's ${file.path})`), {
    path: blob,
    keyId: error.keyId,
    expected: error.expected,
    actual: error.actual,
    cause: error,
    hint: CHANGED_METADATA_CODES.has(error.code)
      ? "The bundle's metadata is not what its publisher signed: it was changed or damaged on the drive. Copy the bundle again from the online side, or export it again."
      : error.hint,
  });
}

async function metadataBytes(bundle: OpenedBundle, file: BundleFile, options: OpenVerifiedOptions): Promise<Buffer> {
  const location = bundle.blobs.get(file.sha256);
  if (location !== undefined) {
    const chunks: Buffer[] = [];
    // A copy: the reader reuses its buffers.
    await readBlob(location, (chunk) => void chunks.push(Buffer.from(chunk)), options.signal);
    return Buffer.concat(chunks);
  }
  if (options.target !== undefined) {
    const { path, stats } = await checkTreePath(options.target, file.path, 'file');
    if (stats?.size === file.size) {
      const bytes = await readFile(path);
      if (createHash('sha256').update(bytes).digest('hex') === file.sha256) return bytes;
    }
  }
  const missing = bundle.missingVolumes.length === 0 ? '' : ` (missing: volume ${bundle.missingVolumes.join(', ')} of ${bundle.manifest.volume.count})`;
  throw new FerryError('FERRY_BUNDLE_INCOMPLETE', `The metadata file ${file.path} is on no volume given${missing}${options.target === undefined ? '' : ' and not in the target'}; signatures cannot be checked without it.`, {
    path: file.path,
    expected: file.sha256,
    actual: 'missing',
  });
}

/**
 * A signer's key the bundle's own keyrings/ hold (not trusted unasked): FERRY_BUNDLE_KEY_UNTRUSTED
 * naming its fingerprint, to compare out of band, and the keyring file; undefined when none holds
 * it (or the keyrings are not bundle.json's), so the caller's FERRY_SIG_UNKNOWN_KEY stands.
 */
async function carriedKeyError(bundle: OpenedBundle, keyId: string): Promise<FerryError | undefined> {
  const paths = await bundleKeyrings(bundle).catch(() => []);
  for (const path of paths) {
    const keyring = await loadKeyring([{ name: path, bytes: await readBundleFile(path, path) }]).catch(() => undefined);
    const fingerprint = keyring === undefined ? undefined : fingerprintHolding(keyring, keyId);
    if (fingerprint === undefined) continue;
    return new FerryError(
      'FERRY_BUNDLE_KEY_UNTRUSTED',
      `The bundle's metadata is signed by key ${fingerprint}, which is not in the keyrings verified with; only the bundle's own keyring ${path} holds it. A bundle's own keys are not trusted unless you say so: whoever can change the drive can re-sign its metadata and bring their own key.`,
      {
        path,
        keyId: fingerprint,
        hint: `Compare the fingerprint ${fingerprint} with the publisher's, learned out of band (not from this drive); only if they match, verify with that keyring.`,
      },
    );
  }
  return undefined;
}

/** The bundle's keyrings/ files, each checked against the sha256 bundle.json lists for it. */
async function bundleKeyrings(bundle: OpenedBundle): Promise<string[]> {
  const paths: string[] = [];
  for (const keyring of bundle.manifest.keyrings) {
    // Each volume carries the keyrings; the first one readable is checked.
    let path = join(bundle.volumes[0]?.dir ?? '', keyring.file);
    let bytes: Buffer | undefined;
    for (const volume of bundle.volumes) {
      path = join(volume.dir, keyring.file);
      // Through readBundleFile: a FIFO planted as a keyring would block a plain read forever.
      bytes = await readBundleFile(path, keyring.file).catch(() => undefined);
      if (bytes !== undefined) break;
    }
    const digest = bytes === undefined ? 'missing' : createHash('sha256').update(bytes).digest('hex');
    if (digest !== keyring.sha256) {
      throw new FerryError('FERRY_BUNDLE_INVALID', `The keyring ${keyring.file} of the bundle is not the one bundle.json lists.`, {
        path,
        field: 'keyrings',
        expected: keyring.sha256,
        actual: digest,
      });
    }
    paths.push(path);
  }
  return paths;
}

/**
 * Every file of `files` is either a metadata file the load read (readMetadata refused any it read
 * that `files` does not list), or an item file the signed products list with that size and sha256. Answers the item
 * files' signed items by path. Throws FERRY_BUNDLE_INVALID naming the first file that is neither.
 */
function checkFilesAgainstMetadata(files: readonly BundleFile[], stream: LoadedStream): Map<string, StreamItem> {
  const loaded = new Set(stream.metadataFiles.map((file) => file.path));
  const signed = new Map<string, StreamItem[]>();
  for (const products of stream.products) {
    for (const item of flattenProducts(products.document)) {
      if (item.path !== undefined) signed.set(item.path, [...(signed.get(item.path) ?? []), item]);
    }
  }
  const items = new Map<string, StreamItem>();
  for (const file of files) {
    const refuse = (why: string): FerryError =>
      new FerryError('FERRY_BUNDLE_INVALID', `bundle.json lists ${file.path}, but ${why}; the bundle is refused.`, { path: file.path, field: 'files' });
    if (file.role === 'metadata') {
      if (!loaded.has(file.path)) throw refuse('the signed index does not reach it');
      continue;
    }
    const match = signed.get(file.path)?.find((item) => item.size === file.size && item.checksums.sha256 === file.sha256);
    if (match === undefined) throw refuse(signed.has(file.path) ? 'the signed metadata lists another size or sha256 for it' : 'no item of the signed metadata has that path');
    items.set(file.path, match);
  }
  return items;
}
