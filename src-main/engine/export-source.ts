// What an export carries (issue 9 §2): the verified metadata and the selected item files, from the
// library's latest snapshot or from a mirror tree, each with where its bytes are read from.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, join, resolve as resolvePath } from 'node:path';
import { redactUrl, FerryError } from '../base/errors.js';
import { lstatIfExists, withFileErrors } from '../base/files.js';
import type { Library } from '../library/index.js';
import type { BlobSource } from '../media/bundle/writer.js';
import type { BundleFile } from '../media/bundle/manifest.js';
import { readPublishedMetadata, wantedFromPublished, type PublishedProducts } from '../mirror/published.js';
import type { WantedFile } from '../mirror/plan.js';
import { keyExpiries, loadKeyring, verifyClearsigned, type Keyring } from '../pgp/index.js';
import { resolveSource, type Selection } from '../streams/index.js';
import type { ExportInput, TrustWarning } from './api.js';
import { createJobClient, loadWithProgress, type JobContext } from './job-context.js';
import { selectionFromGroups } from './job-input.js';
import { keyringPaths, publishedMetadataText, readKeyrings } from './stream.js';
import { profileKeyringFiles } from './sync-job.js';
import { trustWarnings } from './trust-warnings.js';

/** A file of the exported tree with where its bytes come from. */
export interface ExportedFile extends BundleFile {
  source: BlobSource;
  /** For messages: the tree file or library blob read. */
  describe: string;
}

export interface ExportSource {
  kind: 'library' | 'tree';
  /** The mirror base URL (library) or the tree's file URL. */
  url: string;
  indexPath: string;
  /** Sorted by path. */
  files: ExportedFile[];
  signatures: Array<{ path: string; keyFingerprint: string; signedAt: string }>;
  /** The signatures' age and the keyring's expired or soon-expiring keys (trustWarnings). */
  trustWarnings: TrustWarning[];
  keyrings: Array<{ name: string; bytes: Buffer; fingerprints: string[] }>;
  selection: string[][];
  max: number | null;
  /** Said to the operator with the verdict (items a tree's metadata lists that the tree lacks). */
  notes: string[];
  /** When the metadata was fetched (the library's snapshot), for the audit log. */
  fetchedAt: string | undefined;
  /** The library, open for the ledger (locked unless a dry run); undefined for a tree. */
  library: Library | undefined;
  libraryDir: string | undefined;
}

/**
 * Gathers an export's source. A tree is loaded through loadStream (a file source: every signature
 * checked with the keyring); the library's latest snapshot of the source is read from its blobs
 * (each checked against its sha256) and its signatures checked again here. Either way the selection
 * and max are applied as sstream-mirror would (wantedFromPublished). Throws FERRY_PROFILE_UNKNOWN,
 * FERRY_EXPORT_UNAVAILABLE (source never synced, a wanted blob missing), FERRY_NO_CHECKSUM (an item
 * without sha256), the loadStream and signature codes, FERRY_IO, FERRY_CANCELLED.
 */
export async function gatherExportSource(input: ExportInput, context: JobContext, library: Library | undefined, libraryDir: string | undefined): Promise<ExportSource> {
  // A saved selection carries the trust it was synced with (its keyring files, or no verification), as `sync --profile` uses it.
  const saved = input.tree === undefined && input.source === undefined && input.profile !== undefined ? library?.catalog.getSelection(input.profile) : undefined;
  const keyringFiles = (saved === undefined ? input.keyringFiles : profileKeyringFiles(input.keyringFiles, saved)) ?? [];
  const verify = saved?.verify !== false;
  const paths = keyringPaths(keyringFiles, context.cwd);
  const keyring = await readKeyrings(keyringFiles, context.cwd);
  const keyrings = await Promise.all(
    paths.map(async (path) => {
      const bytes = await withFileErrors(path, 'read the keyring', () => readFile(path));
      const own = await loadKeyring([{ name: path, bytes }]);
      return { name: keyringFileName(path), bytes, fingerprints: [...own.fingerprints] };
    }),
  );
  const warned = async (gathered: Gathered): Promise<Gathered & { trustWarnings: TrustWarning[] }> => {
    const now = new Date();
    return { ...gathered, trustWarnings: trustWarnings(gathered.signatures.map((signature) => new Date(signature.signedAt)), await keyExpiries(keyring, now), now) };
  };
  if (input.tree !== undefined) return { ...(await warned(await fromTree(input, context, keyring))), keyrings, library: undefined, libraryDir: undefined };
  if (library === undefined || libraryDir === undefined) throw new Error('gatherExportSource: a library export needs the library open');
  return { ...(await warned(await fromLibrary(input, context.cwd, library, libraryDir, verify ? keyring : undefined))), keyrings, library, libraryDir };
}

type Gathered = Omit<ExportSource, 'keyrings' | 'library' | 'libraryDir' | 'trustWarnings'>;

async function fromTree(input: ExportInput, context: JobContext, keyring: Keyring): Promise<Gathered> {
  const treeDir = resolvePath(context.cwd, input.tree ?? '.');
  const client = createJobClient(input, context, undefined);
  try {
    const stream = await loadWithProgress({ source: treeDir, path: input.path, keyringFiles: input.keyringFiles, verify: true }, context, client, input.progressIntervalMs);
    const metadata = new Map(stream.metadataFiles.map((file) => [file.path, file.bytes]));
    const products: PublishedProducts[] = stream.products.map((entry) => ({ contentId: entry.contentId, path: entry.file.path, document: entry.document }));
    const selection = selectionFromGroups(input.selection ?? []);
    const listed = new Map<string, WantedFile>();
    const wanted = wantedItems(products, selection, input.max, (file) => {
      listed.set(file.path, file);
      return { source: { kind: 'file', path: join(treeDir, file.path) }, describe: join(treeDir, file.path) };
    });
    const { items, notes } = await presentInTree(treeDir, wanted, listed, (input.selection ?? []).some((group) => group.length > 0) || input.max !== undefined);
    return {
      kind: 'tree',
      url: stream.source.baseUrl,
      indexPath: stream.source.entryPath,
      files: sortFiles([...metadataFiles(metadata), ...items]),
      signatures: await signaturesOf(metadata, keyring),
      selection: input.selection ?? [],
      max: input.max ?? null,
      notes,
      fetchedAt: undefined,
    };
  } finally {
    await client.close();
  }
}

/** `keyring` undefined: the saved selection skips verification (--no-verify), so no signature is checked or reported. */
async function fromLibrary(input: ExportInput, cwd: string, library: Library, libraryDir: string, keyring: Keyring | undefined): Promise<Gathered> {
  const { catalog, blobs } = library;
  let request: { source: string; path: string | undefined; selection: string[][]; max: number | undefined };
  if (input.source === undefined) {
    const name = input.profile ?? '';
    const saved = catalog.getSelection(name);
    if (saved === undefined) {
      throw new FerryError('FERRY_PROFILE_UNKNOWN', `No selection named ${JSON.stringify(name)} is saved in the library ${libraryDir}.`, { path: libraryDir, actual: name });
    }
    request = { source: saved.source, path: saved.path ?? undefined, selection: saved.filterGroups.map((group) => [...group]), max: saved.maxVersions ?? undefined };
  } else {
    request = { source: input.source, path: input.path, selection: input.selection ?? [], max: input.max };
  }
  const entryUrl = redactUrl(resolveSource(request.source, { path: request.path, cwd }).entryUrl);
  const source = catalog.findSource(entryUrl);
  const snapshot = source === undefined ? undefined : catalog.latestSnapshot(source.id);
  if (source === undefined || snapshot === undefined) {
    throw new FerryError('FERRY_EXPORT_UNAVAILABLE', `The library ${libraryDir} holds no complete sync of ${entryUrl}.`, {
      path: libraryDir,
      url: entryUrl,
      hint: 'Sync that source into the library first.',
    });
  }
  const metadata = new Map<string, Buffer>();
  for (const file of snapshot.files) metadata.set(file.path, await blobs.readBytes(file.sha256));
  // Signatures first: the snapshot was verified when synced, and is verified again before it is carried.
  const signatures = keyring === undefined ? [] : await signaturesOf(metadata, keyring);
  const published = await readPublishedMetadata(source.entryPath, (path) => {
    const bytes = metadata.get(path);
    return bytes === undefined ? undefined : publishedMetadataText(path, bytes);
  });
  const selection = selectionFromGroups(request.selection);
  const items = wantedItems(published.products, selection, request.max, (file) => ({
    source: { kind: 'file', path: blobs.pathFor(file.sha256 ?? '') },
    describe: blobs.pathFor(file.sha256 ?? ''),
  }));
  for (const item of items) {
    if (!(await blobs.has(item.sha256, item.size))) {
      throw new FerryError('FERRY_EXPORT_UNAVAILABLE', `The library ${libraryDir} lacks ${item.path} (blob ${item.sha256}) that the selection wants.`, {
        path: blobs.pathFor(item.sha256),
        hint: 'Sync the same source and selection into the library again: it fetches what is missing.',
      });
    }
  }
  const baseUrl = source.url.slice(0, source.url.length - source.entryPath.length);
  return {
    kind: 'library',
    url: baseUrl,
    indexPath: source.entryPath,
    files: sortFiles([...metadataFiles(metadata), ...items]),
    signatures,
    selection: request.selection,
    max: request.max ?? null,
    notes: [],
    fetchedAt: snapshot.fetchedAt,
  };
}

/** The `expected` fact of a tree export refused for a selected file the tree lacks (the CLI keeps the engine's hint). */
export const TREE_HOLDS_SELECTION = 'a tree holding every selected file';

/**
 * A tree mirrored with filters keeps the upstream metadata verbatim, which lists items it never
 * fetched. Without filters the export carries the items whose files are in the tree (each still
 * re-hashed against the signed metadata as it is copied) and says how many are not. With filters or
 * max the operator asked for those files: a missing one is refused before anything is written
 * (FERRY_EXPORT_UNAVAILABLE), naming the files and the filters that match what the tree holds.
 * Something other than a regular file at an item's path is FERRY_PATH_BLOCKED, naming it.
 */
async function presentInTree(
  treeDir: string,
  wanted: ExportedFile[],
  listed: ReadonlyMap<string, WantedFile>,
  filtered: boolean,
): Promise<{ items: ExportedFile[]; notes: string[] }> {
  const absent = new Set<string>();
  for (const file of wanted) {
    const path = join(treeDir, file.path);
    const stats = await lstatIfExists(path);
    if (stats === undefined) absent.add(file.path);
    else if (!stats.isFile()) {
      // Something is there but not the file (a link, a FIFO, a folder): never read through it, and
      // never passed over as a file the tree was mirrored without.
      throw new FerryError('FERRY_PATH_BLOCKED', `${path} is ${stats.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}, where the tree's signed metadata lists ${file.path}; nothing was written.`, {
        path,
        hint: 'Replace it with the file itself (mirror the tree again), or move it away.',
      });
    }
  }
  if (absent.size === 0) return { items: wanted, notes: [] };
  const items = wanted.filter((file) => !absent.has(file.path));
  const suggestion = treeFilters(items, wanted, listed);
  if (filtered) {
    const named = [...absent].slice(0, 5);
    throw new FerryError(
      'FERRY_EXPORT_UNAVAILABLE',
      `The tree ${treeDir} lacks ${absent.size} file(s) the selection wants: ${named.join(', ')}${absent.size > named.length ? `, and ${absent.size - named.length} more` : ''}. Nothing was written.`,
      {
        path: join(treeDir, named[0] ?? ''),
        expected: TREE_HOLDS_SELECTION,
        hint: `Select only what the tree holds: use the filters it was mirrored with${suggestion === '' ? '' : ` (its files match ${suggestion})`}, or mirror the missing files into it first.`,
      },
    );
  }
  return {
    items,
    notes: [`${absent.size} item file(s) the tree's metadata lists are not in ${treeDir} (it was mirrored with filters${suggestion === '' ? '' : ` such as ${suggestion}`}); the bundle carries the ${items.length} that are`],
  };
}

/** Filters (`arch=amd64`, `release~^(jammy|noble)$`) matching the present items and not all listed ones; '' when none tell them apart. */
function treeFilters(present: readonly ExportedFile[], wanted: readonly ExportedFile[], listed: ReadonlyMap<string, WantedFile>): string {
  const values = (files: readonly ExportedFile[], key: string): Set<string> =>
    new Set(files.flatMap((file) => (listed.get(file.path)?.items ?? []).map((item) => item.flat[key]).filter((value): value is string => typeof value === 'string')));
  const filters: string[] = [];
  for (const key of ['os', 'release', 'arch', 'subarch']) {
    const held = [...values(present, key)].sort();
    if (held.length === 0 || held.length === values(wanted, key).size) continue;
    filters.push(held.length === 1 ? `${key}=${held[0] ?? ''}` : `${key}~^(${held.join('|')})$`);
  }
  return filters.join(' ');
}

function metadataFiles(metadata: ReadonlyMap<string, Buffer>): ExportedFile[] {
  return [...metadata].map(([path, bytes]) => ({
    path,
    size: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    role: 'metadata',
    source: { kind: 'bytes', bytes },
    describe: path,
  }));
}

function wantedItems(
  products: readonly PublishedProducts[],
  selection: Selection,
  max: number | undefined,
  where: (file: WantedFile) => { source: BlobSource; describe: string },
): ExportedFile[] {
  const { wanted, rejected } = wantedFromPublished(products, selection, max);
  const [first] = rejected;
  if (first !== undefined) throw first.error;
  return [...wanted.values()].map((file) => {
    if (file.sha256 === undefined) {
      throw new FerryError('FERRY_NO_CHECKSUM', `${file.path} lists no sha256; a bundle names every file by its sha256.`, { path: file.path });
    }
    return { path: file.path, size: file.size, sha256: file.sha256.toLowerCase(), role: 'item', ...where(file) };
  });
}

function sortFiles(files: ExportedFile[]): ExportedFile[] {
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Each signed metadata file's signer and signature time, checked with the keyring (FERRY_SIG_* when one fails). */
async function signaturesOf(metadata: ReadonlyMap<string, Buffer>, keyring: Keyring): Promise<ExportSource['signatures']> {
  const signatures: ExportSource['signatures'] = [];
  for (const [path, bytes] of metadata) {
    if (!path.endsWith('.sjson')) continue;
    const verified = await verifyClearsigned(bytes, keyring, path);
    signatures.push({ path, keyFingerprint: verified.signerFingerprint, signedAt: verified.signedAt.toISOString() });
  }
  return signatures;
}

/** A keyring's name in the bundle: `keyrings/<name>.gpg`, ASCII letters, digits, `.`, `_`, `-` only. */
function keyringFileName(path: string): string {
  const name = basename(path).replace(/[^A-Za-z0-9._-]/g, '_');
  return name.endsWith('.gpg') ? name : `${name}.gpg`;
}
