// Reading a bundle (docs/bundle.md) as the offline side finds it: one or more volume directories
// given in any order, grouped by bundle id, with every blob's bytes read back and checked against
// bundle.json while they are read. Signatures are the engine's part (engine/bundle-open.ts); this
// module answers "which volumes, which blobs where, and are these bytes the ones named".

import { createHash } from 'node:crypto';
import { constants as fsConstants, type Stats } from 'node:fs';
import { lstat, open, readdir, realpath, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FerryError, describeError, errnoCode } from '../../base/errors.js';
import { lstatIfExists, withFileErrors } from '../../base/files.js';
import { PIPELINE_CHUNK_BYTES, PIPELINE_DEPTH, copyInKernel, pumpChunks } from '../../base/pipeline.js';
import {
  BUNDLE_FILES,
  BUNDLES_FOLDER,
  blobFilePath,
  blobStoragePaths,
  parseBundleManifest,
  parseChecksums,
  type BundleBlob,
  type BundleFile,
  type BundleManifest,
} from './manifest.js';

/** One volume directory as found: its manifest and its SHA256SUMS (storage path → sha256). */
export interface BundleVolume {
  /** Absolute path of the volume's bundle directory (`…/FERRY/<id>`). */
  dir: string;
  manifest: BundleManifest;
}

/** Where a blob's bytes are: the volume holding it and its entry there. */
export interface BlobLocation {
  volume: BundleVolume;
  blob: BundleBlob;
}

/** The volumes of one bundle that were given, and what they hold together. */
export interface OpenedBundle {
  id: string;
  /** The manifest of the first volume given; every volume agrees on everything but `volume` and `blobs`. */
  manifest: BundleManifest;
  /** By volume index. */
  volumes: BundleVolume[];
  /** Volume indexes (1-based) of the bundle that were not given. */
  missingVolumes: number[];
  /** sha256 → the volume and entry holding that blob. */
  blobs: Map<string, BlobLocation>;
}

/** Read-ahead of one blob file. */
const NO_FOLLOW = (fsConstants.O_NOFOLLOW as number | undefined) ?? 0;
/** Opening a FIFO for reading blocks until a writer comes; O_NONBLOCK makes open() answer at once. */
const NON_BLOCK = (fsConstants.O_NONBLOCK as number | undefined) ?? 0;

/**
 * The bundle directories `path` names: itself when it holds bundle.json, else the one bundle in its
 * `FERRY/` folder. Throws FERRY_BUNDLE_NOT_FOUND when there is none, or several (they are listed
 * in `actual`, so that the operator can name one), and FERRY_IO when the path cannot be read.
 */
export async function findBundleDirectory(path: string): Promise<string> {
  if ((await lstatIfExists(join(path, BUNDLE_FILES.manifest)))?.isFile() === true) return resolve(path);
  const folder = join(path, BUNDLES_FOLDER);
  const entries = (await lstatIfExists(folder))?.isDirectory() === true ? await withFileErrors(folder, 'list', () => readdir(folder)) : [];
  const found: string[] = [];
  for (const name of entries.sort()) {
    if ((await lstatIfExists(join(folder, name, BUNDLE_FILES.manifest)))?.isFile() === true) found.push(join(folder, name));
  }
  const [only] = found;
  if (only !== undefined && found.length === 1) return resolve(only);
  throw new FerryError(
    'FERRY_BUNDLE_NOT_FOUND',
    found.length === 0
      ? `${path} holds no bundle: neither ${BUNDLE_FILES.manifest} nor ${BUNDLES_FOLDER}/<bundle id>/${BUNDLE_FILES.manifest} (a folder without ${BUNDLE_FILES.manifest} is an unfinished export).`
      : `${path} holds ${found.length} bundles; name one of them: ${found.join(', ')}.`,
    { path, expected: 'one bundle directory', actual: found.length === 0 ? 'none' : found.join(', ') },
  );
}

/**
 * Opens the volumes at `paths` (bundle directories or folders holding `FERRY/<id>/`, in any order)
 * as one bundle: each manifest parsed (parseBundleManifest) and its SHA256SUMS checked to list
 * exactly the volume's blob and part files (their digests are not trusted: each blob is hashed
 * against bundle.json when read). Throws FERRY_BUNDLE_NOT_FOUND, FERRY_BUNDLE_TOO_NEW,
 * FERRY_BUNDLE_INVALID (volumes of different bundles, or disagreeing; a volume given twice;
 * SHA256SUMS listing other files than bundle.json), FERRY_IO.
 */
export async function openBundle(paths: readonly string[]): Promise<OpenedBundle> {
  const volumes: BundleVolume[] = [];
  const seen = new Set<string>();
  for (const path of paths) {
    const dir = await findBundleDirectory(path);
    const real = await withFileErrors(dir, 'resolve', () => realpath(dir));
    if (seen.has(real)) continue;
    seen.add(real);
    volumes.push(await readVolume(dir));
  }
  const [first] = volumes;
  if (first === undefined) throw new FerryError('FERRY_BUNDLE_NOT_FOUND', 'No bundle was given.', { expected: 'one or more bundle directories' });
  const shared = sharedFields(first.manifest);
  const byIndex = new Map<number, BundleVolume>();
  for (const volume of volumes) {
    const where = join(volume.dir, BUNDLE_FILES.manifest);
    if (volume.manifest.id !== first.manifest.id) {
      throw invalid(where, 'id', `${volume.dir} is bundle ${volume.manifest.id}, not ${first.manifest.id}: give the volumes of one bundle at a time`);
    }
    if (sharedFields(volume.manifest) !== shared) throw invalid(where, 'files', `volume ${volume.manifest.volume.index} disagrees with volume ${first.manifest.volume.index} of the same bundle`);
    if (byIndex.has(volume.manifest.volume.index)) throw invalid(where, 'volume', `volume ${volume.manifest.volume.index} was given twice (${byIndex.get(volume.manifest.volume.index)?.dir ?? ''} and ${volume.dir})`);
    byIndex.set(volume.manifest.volume.index, volume);
  }
  const blobs = new Map<string, BlobLocation>();
  for (const volume of volumes) {
    for (const blob of volume.manifest.blobs) {
      // Metadata blobs are on every volume, so that each verifies on its own; the bytes are named by their sha256, so any copy serves.
      if (!blobs.has(blob.sha256)) blobs.set(blob.sha256, { volume, blob });
    }
  }
  const count = first.manifest.volume.count;
  const missingVolumes = Array.from({ length: count }, (_, index) => index + 1).filter((index) => !byIndex.has(index));
  return { id: first.manifest.id, manifest: first.manifest, volumes: [...byIndex.values()].sort((a, b) => a.manifest.volume.index - b.manifest.volume.index), missingVolumes, blobs };
}

async function readVolume(dir: string): Promise<BundleVolume> {
  const manifestPath = join(dir, BUNDLE_FILES.manifest);
  const manifest = parseBundleManifest((await readBundleFile(manifestPath, BUNDLE_FILES.manifest)).toString('utf8'), manifestPath);
  const checksumsPath = join(dir, BUNDLE_FILES.checksums);
  const checksums = parseChecksums((await readBundleFile(checksumsPath, BUNDLE_FILES.checksums)).toString('utf8'), checksumsPath);
  const stored = manifest.blobs.flatMap(blobStoragePaths);
  // bundle.json's sha256 is what each blob is checked against as it is read: a line of SHA256SUMS
  // changed along with its blob must not hide the blob's damage behind a format error.
  for (const file of stored) {
    if (!checksums.has(file.path)) throw invalid(checksumsPath, BUNDLE_FILES.checksums, `${file.path} is not listed`);
  }
  if (checksums.size !== stored.length) throw invalid(checksumsPath, BUNDLE_FILES.checksums, `lists ${checksums.size} files where bundle.json has ${stored.length} on this volume`);
  return { dir, manifest };
}

/**
 * The most bytes one of a volume's own files (bundle.json, SHA256SUMS, a keyring) may have: far
 * above a bundle of every MAAS product (bundle.json of 25,000 products is a few tens of MB), and a
 * bound on what a damaged or hostile drive can make the reader hold in memory.
 */
export const BUNDLE_FILE_LIMIT_BYTES = 256 * 1024 * 1024;

/**
 * Reads one of a volume's own files whole (`name`: its name in the bundle, for messages), opened
 * as blobs are (openRegularFile): a FIFO, socket, device, link or directory planted there is
 * refused at once rather than blocking the read forever, and a file over `limit` bytes is refused
 * before it is read. Throws FERRY_BUNDLE_INVALID (missing, not a regular file, too large; `path`
 * and `field` name it), FERRY_IO.
 */
export async function readBundleFile(path: string, name: string, limit = BUNDLE_FILE_LIMIT_BYTES): Promise<Buffer> {
  const handle = await openRegularFile({ path, name, size: limit, sha256: '' }).catch((error: unknown) => {
    if (!(error instanceof FerryError) || error.code === 'FERRY_IO') throw error;
    throw invalid(path, name, error.code === 'FERRY_BUNDLE_INCOMPLETE' ? 'is missing' : `is not a regular file but ${error.actual ?? 'something else'}: the drive was changed or damaged`);
  });
  try {
    const { size } = await handle.stat();
    const tooLarge = (bytes: number): FerryError => invalid(path, name, `has ${bytes} bytes, more than the ${limit} a bundle's own file may have`);
    if (size > limit) throw tooLarge(size);
    const bytes = await handle.readFile();
    // Grown since the stat: still bounded.
    if (bytes.length > limit) throw tooLarge(bytes.length);
    return bytes;
  } catch (error) {
    if (error instanceof FerryError) throw error;
    throw new FerryError('FERRY_IO', `Cannot read ${path}: ${describeError(error)}.`, { path, errno: errnoCode(error), cause: error });
  } finally {
    await handle.close();
  }
}

/** Everything a volume must share with the others of its bundle, as one comparable string. */
function sharedFields(manifest: BundleManifest): string {
  return JSON.stringify({ ...manifest, volume: null, blobs: null });
}

function invalid(path: string, field: string, message: string): FerryError {
  return new FerryError('FERRY_BUNDLE_INVALID', `${path}: ${message}.`, { path, field });
}

/** The tree files each blob is for: sha256 → files of `manifest.files` with those bytes. */
export function filesByBlob(manifest: BundleManifest): Map<string, BundleFile[]> {
  const map = new Map<string, BundleFile[]>();
  for (const file of manifest.files) map.set(file.sha256, [...(map.get(file.sha256) ?? []), file]);
  return map;
}

/** A stored file to read: its absolute path, the name errors give it, and the size and sha256 it must have. */
export interface StoredFile {
  path: string;
  name: string;
  size: number;
  sha256: string;
}

/**
 * Reads a blob's bytes from its volume (the blob file, or its parts in order) through readStored.
 * Throws as readStored does; a missing stored file is FERRY_BUNDLE_INCOMPLETE naming it relative to
 * the volume (`path`).
 */
export function readBlob(location: BlobLocation, onChunk: (chunk: Buffer, position: number) => Promise<void> | void, signal: AbortSignal): Promise<void> {
  const stored = blobStoragePaths(location.blob).map((entry) => ({ path: join(location.volume.dir, entry.path), name: entry.path, size: entry.size, sha256: entry.sha256 }));
  return readStored(stored, { name: blobFilePath(location.blob.sha256), sha256: location.blob.sha256 }, onChunk, signal);
}

/**
 * Reads `stored` files laid end to end, handing each chunk and its position in the whole to
 * `onChunk` (up to three calls may be under way at once, so a writer writes at that position; the
 * chunk's buffer is reused once its call has settled, so keeping it needs a copy), checking each file's
 * size and sha256, and the sha256 of the whole, as it goes (the one read-and-check loop of the
 * offline side: blobs, parts, and files an import copies from its target). Files are opened
 * without following links. Throws FERRY_BUNDLE_INCOMPLETE (a file missing; `path` is its name),
 * FERRY_SIZE_MISMATCH or FERRY_HASH_MISMATCH naming it (`onChunk` may then have seen bad bytes, so
 * a writer discards what it wrote), FERRY_IO, FERRY_CANCELLED.
 */
export async function readStored(
  stored: readonly StoredFile[],
  whole: { name: string; sha256: string },
  onChunk: (chunk: Buffer, position: number) => Promise<void> | void,
  signal: AbortSignal,
): Promise<void> {
  const wholeHash = createHash('sha256');
  const buffers = Array.from({ length: PIPELINE_DEPTH }, () => Buffer.allocUnsafe(PIPELINE_CHUNK_BYTES));
  let offset = 0;
  for (const file of stored) {
    const handle = await openRegularFile(file);
    // A blob stored whole is its own only part: one hash serves both checks.
    const part = stored.length === 1 && file.sha256 === whole.sha256 ? undefined : createHash('sha256');
    let size: number;
    try {
      // Reading the drive, hashing and writing the target overlap (pumpChunks); positions are
      // the whole's, so a writer can place each chunk where it belongs.
      const base = offset;
      size = await pumpChunks({
        read: async (buffer, length, position) => (await handle.read(buffer, 0, length, position)).bytesRead,
        limit: file.size,
        inspect: (chunk) => {
          part?.update(chunk);
          wholeHash.update(chunk);
        },
        write: (chunk, position) => Promise.resolve(onChunk(chunk, base + position)),
        buffers,
        signal,
      });
      // One byte past the listed size tells a longer file from a whole one.
      if (size === file.size && (await handle.read(Buffer.alloc(1), 0, 1, size)).bytesRead > 0) size = file.size + 1;
    } catch (error) {
      if (error instanceof FerryError) throw error;
      throw new FerryError('FERRY_IO', `Cannot read ${file.path}: ${describeError(error)}.`, { path: file.name, errno: errnoCode(error), cause: error });
    } finally {
      await handle.close();
    }
    offset += Math.min(size, file.size);
    if (size !== file.size) throw sizeMismatch(file, size);
    if (part !== undefined) {
      const digest = part.digest('hex');
      if (digest !== file.sha256) throw hashMismatch(file.name, file.sha256, digest);
    }
  }
  const digest = wholeHash.digest('hex');
  if (digest !== whole.sha256) throw hashMismatch(whole.name, whole.sha256, digest);
}

function sizeMismatch(file: StoredFile, size: number): FerryError {
  return new FerryError('FERRY_SIZE_MISMATCH', `${file.name} does not have the size bundle.json lists.`, {
    path: file.name,
    expected: String(file.size),
    actual: size > file.size ? `more than ${file.size}` : String(size),
  });
}

/**
 * Copies the stored file `file` (a blob stored whole, or a file in an import's target) to the new
 * file `to` inside the kernel (copyInKernel: no byte passes through this process) and flushes it,
 * having opened it as readStored does (a regular file, not followed through a link, never
 * blocking) and found it of its listed size. Nothing is hashed here: the caller hashes what landed
 * at `to` (readStored), and reads the source through readStored to name it when that is wrong.
 * Answers false, having written nothing, where the kernel copy is refused. Throws
 * FERRY_BUNDLE_INCOMPLETE (missing), FERRY_HASH_MISMATCH (not a regular file), FERRY_SIZE_MISMATCH
 * naming it, FERRY_DISK_FULL, FERRY_IO naming `to`.
 */
export async function copyStoredInKernel(file: StoredFile, to: string): Promise<boolean> {
  const handle = await openRegularFile(file);
  try {
    const { size } = await handle.stat();
    if (size !== file.size) throw sizeMismatch(file, size);
    return await withFileErrors(to, 'write', () => copyInKernel(handle, to));
  } finally {
    await handle.close();
  }
}

/**
 * Opens a stored file for reading, refusing anything but a regular file: lstat first (a FIFO,
 * socket or device would block open() or read() forever, and a directory is no blob), then
 * O_NOFOLLOW|O_NONBLOCK so that a file swapped for a FIFO or link in between cannot block or
 * redirect the open, and fstat again on the open descriptor (what is read is what was checked).
 * Throws FERRY_BUNDLE_INCOMPLETE (missing), FERRY_HASH_MISMATCH (not a regular file: a bad blob,
 * named), FERRY_IO.
 */
async function openRegularFile(file: StoredFile): Promise<FileHandle> {
  const notRegular = (kind: string): FerryError =>
    new FerryError('FERRY_HASH_MISMATCH', `${file.name} is not a regular file but ${kind} (${file.path}): it was changed or damaged.`, {
      path: file.name,
      expected: 'a regular file',
      actual: kind,
    });
  const found = await lstat(file.path).catch((error: unknown) => {
    if (errnoCode(error) === 'ENOENT') {
      throw new FerryError('FERRY_BUNDLE_INCOMPLETE', `${file.name} is missing (${file.path}).`, { path: file.name, expected: `${file.size} bytes`, actual: 'missing' });
    }
    throw new FerryError('FERRY_IO', `Cannot read ${file.path}: ${describeError(error)}.`, { path: file.name, errno: errnoCode(error), cause: error });
  });
  if (!found.isFile()) throw notRegular(fileKind(found));
  const handle = await open(file.path, fsConstants.O_RDONLY | NO_FOLLOW | NON_BLOCK).catch((error: unknown) => {
    const code = errnoCode(error);
    if (code === 'ENOENT') {
      throw new FerryError('FERRY_BUNDLE_INCOMPLETE', `${file.name} is missing (${file.path}).`, { path: file.name, expected: `${file.size} bytes`, actual: 'missing' });
    }
    if (code === 'ELOOP' || code === 'ENXIO' || code === 'EISDIR') throw notRegular('replaced while it was opened');
    throw new FerryError('FERRY_IO', `Cannot read ${file.path}: ${describeError(error)}.`, { path: file.name, errno: code, cause: error });
  });
  const opened = await handle.stat().catch(async (error: unknown) => {
    await handle.close();
    throw new FerryError('FERRY_IO', `Cannot read ${file.path}: ${describeError(error)}.`, { path: file.name, errno: errnoCode(error), cause: error });
  });
  if (!opened.isFile()) {
    await handle.close();
    throw notRegular(fileKind(opened));
  }
  return handle;
}

function fileKind(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  if (stats.isBlockDevice() || stats.isCharacterDevice()) return 'a device';
  return 'not a regular file';
}

function hashMismatch(name: string, expected: string, actual: string): FerryError {
  return new FerryError('FERRY_HASH_MISMATCH', `${name} does not have the sha256 bundle.json lists: it was changed or damaged.`, { path: name, expected, actual });
}
