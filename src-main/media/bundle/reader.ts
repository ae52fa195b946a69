// Reading a bundle (docs/bundle.md) as the offline side finds it: one or more volume directories
// given in any order, grouped by bundle id, with every blob's bytes read back and checked against
// bundle.json while they are read. Signatures are the engine's part (engine/bundle-open.ts); this
// module answers "which volumes, which blobs where, and are these bytes the ones named".

import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { open, readFile, readdir, realpath } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FerryError, describeError, errnoCode } from '../../base/errors.js';
import { lstatIfExists, withFileErrors } from '../../base/files.js';
import { throwIfCancelled } from '../../base/cancel.js';
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
const READ_CHUNK_BYTES = 1024 * 1024;
const NO_FOLLOW = (fsConstants.O_NOFOLLOW as number | undefined) ?? 0;

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
 * exactly the volume's blob and part files with the manifest's digests. Throws
 * FERRY_BUNDLE_NOT_FOUND, FERRY_BUNDLE_TOO_NEW, FERRY_BUNDLE_INVALID (volumes of different
 * bundles, or disagreeing; a volume given twice; SHA256SUMS not matching bundle.json), FERRY_IO.
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
  const manifest = parseBundleManifest(await withFileErrors(manifestPath, 'read', () => readFile(manifestPath, 'utf8')), manifestPath);
  const checksumsPath = join(dir, BUNDLE_FILES.checksums);
  const text = await readFile(checksumsPath, 'utf8').catch((error: unknown) => {
    throw invalid(checksumsPath, BUNDLE_FILES.checksums, `cannot be read: ${describeError(error)}`);
  });
  const checksums = parseChecksums(text, checksumsPath);
  const stored = manifest.blobs.flatMap(blobStoragePaths);
  for (const file of stored) {
    if (checksums.get(file.path) !== file.sha256) throw invalid(checksumsPath, BUNDLE_FILES.checksums, `${file.path} is listed with another sha256 than bundle.json's, or not at all`);
  }
  if (checksums.size !== stored.length) throw invalid(checksumsPath, BUNDLE_FILES.checksums, `lists ${checksums.size} files where bundle.json has ${stored.length} on this volume`);
  return { dir, manifest };
}

/** Everything a volume must share with the others of its bundle, as one comparable string. */
function sharedFields(manifest: BundleManifest): string {
  const { volume: _volume, blobs: _blobs, ...rest } = manifest;
  return JSON.stringify(rest);
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

/**
 * Reads a blob's bytes from its volume (the blob file, or its parts in order), handing each chunk
 * to `onChunk` and checking every stored file's size and sha256 and the whole blob's sha256 against
 * bundle.json as it goes. Stored files are opened without following links. Throws
 * FERRY_BUNDLE_INCOMPLETE (a stored file missing; `path` names it, relative to the volume),
 * FERRY_SIZE_MISMATCH or FERRY_HASH_MISMATCH (naming the stored file; `onChunk` may then have seen
 * bad bytes, so a writer discards what it wrote), FERRY_IO, FERRY_CANCELLED.
 */
export async function readBlob(location: BlobLocation, onChunk: (chunk: Buffer) => Promise<void> | void, signal: AbortSignal): Promise<void> {
  const whole = createHash('sha256');
  const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  for (const stored of blobStoragePaths(location.blob)) {
    const path = join(location.volume.dir, stored.path);
    const handle = await open(path, fsConstants.O_RDONLY | NO_FOLLOW).catch((error: unknown) => {
      if (errnoCode(error) === 'ENOENT') {
        throw new FerryError('FERRY_BUNDLE_INCOMPLETE', `${stored.path} is missing from volume ${location.volume.manifest.volume.index} (${location.volume.dir}).`, {
          path: stored.path,
          expected: `${stored.size} bytes`,
          actual: 'missing',
        });
      }
      throw new FerryError('FERRY_IO', `Cannot read ${path}: ${describeError(error)}.`, { path: stored.path, errno: errnoCode(error), cause: error });
    });
    const part = createHash('sha256');
    let size = 0;
    try {
      for (;;) {
        throwIfCancelled(signal);
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, size);
        if (bytesRead === 0) break;
        // A copy: the buffer is reused for the next read while a writer may still hold the chunk.
        const chunk = Buffer.from(buffer.subarray(0, bytesRead));
        part.update(chunk);
        whole.update(chunk);
        size += bytesRead;
        if (size > stored.size) break;
        await onChunk(chunk);
      }
    } catch (error) {
      if (error instanceof FerryError) throw error;
      throw new FerryError('FERRY_IO', `Cannot read ${path}: ${describeError(error)}.`, { path: stored.path, errno: errnoCode(error), cause: error });
    } finally {
      await handle.close();
    }
    if (size !== stored.size) {
      throw new FerryError('FERRY_SIZE_MISMATCH', `${stored.path} on volume ${location.volume.manifest.volume.index} does not have the size bundle.json lists.`, {
        path: stored.path,
        expected: String(stored.size),
        actual: size > stored.size ? `more than ${stored.size}` : String(size),
      });
    }
    const digest = part.digest('hex');
    if (digest !== stored.sha256) throw hashMismatch(stored.path, location, stored.sha256, digest);
  }
  const digest = whole.digest('hex');
  if (digest !== location.blob.sha256) throw hashMismatch(blobFilePath(location.blob.sha256), location, location.blob.sha256, digest);
}

function hashMismatch(path: string, location: BlobLocation, expected: string, actual: string): FerryError {
  return new FerryError('FERRY_HASH_MISMATCH', `${path} on volume ${location.volume.manifest.volume.index} does not have the sha256 bundle.json lists: it was changed or damaged.`, {
    path,
    expected,
    actual,
  });
}
