// Writing a bundle volume (issue 9 §3, docs/bundle.md): blobs first, each through `<name>.partial`,
// fsynced and renamed only once the whole blob's sha256 is proven; then SHA256SUMS, README.txt,
// audit.jsonl, the keyrings and import.sh; bundle.json last. A directory without bundle.json is
// an unfinished export: a rerun of the same plan finds it by its plan marker and keeps every blob
// already at its final path that hashes right.
import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { open, readFile, rm, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { FerryError } from '../../base/errors.js';
import { ensureDirectoryDurably, fileKindOf, fsyncDirectory, lstatIfExists, readdirIfExists, renameIntoPlace, withFileErrors } from '../../base/files.js';
import { hashOpenFile } from '../../base/hashing.js';
import { PIPELINE_CHUNK_BYTES, PIPELINE_DEPTH, copyInKernel, pumpChunks, writeFully } from '../../base/pipeline.js';
import { BUNDLE_FILES, PARTIAL_SUFFIX, blobFilePath, blobPartPath, type BundleBlob } from './manifest.js';
import type { PlannedBlob } from './plan.js';

/** Marks an unfinished bundle directory with the plan it belongs to; removed once bundle.json is in place. */
export const PLAN_MARKER = 'export-plan.json';
const BUNDLE_ID = /^\d{8}T\d{6}Z-[0-9a-f]{8}$/;
/** Opening a FIFO for reading blocks until a writer comes; O_NONBLOCK makes open() answer at once. */
const NON_BLOCK = (fsConstants.O_NONBLOCK as number | undefined) ?? 0;

/** Where a blob's bytes come from: a file (re-hashed while copied, never trusted), or bytes in memory. */
export type BlobSource = { kind: 'file'; path: string } | { kind: 'bytes'; bytes: Buffer };

/** A file read back around the page cache: what it holds and how it was read ('cached' where the file system refused O_DIRECT). */
export interface ReadBack {
  sha256: string;
  size: number;
  method: 'direct' | 'cached';
}

/**
 * Reads the file at `path` back around the page cache and hashes it (the engine passes net's
 * readBackFile: media/ does not reach net/). Throws FERRY_IO, FERRY_CANCELLED.
 */
export type ReadBackFile = (path: string, options: { signal: AbortSignal; onBytes: (delta: number) => void }) => Promise<ReadBack>;

export interface CopyOptions {
  signal: AbortSignal;
  /** Told of each chunk copied or re-hashed (negative to take back bytes of a copy that failed). */
  onBytes: (delta: number) => void;
  readBack: ReadBackFile;
}

/** A blob written (or found) on a volume: its manifest entry and whether a previous run had written it. */
export interface WrittenBlob {
  entry: BundleBlob;
  kept: boolean;
  /**
   * Its file as read back around the page cache once at its final path's partial name (or, kept,
   * at its final path), `path` absolute; undefined when it was not read back yet (parts, bytes
   * from memory, no kernel copy here): the caller reads those back afterwards.
   */
  readBack: (ReadBack & { path: string }) | undefined;
}

/** A blob whose bytes are on their way to the volume: `finish` reads them back and renames them into place; `abandon` removes what is staged. */
export interface StagedBlob {
  finish(): Promise<WrittenBlob>;
  abandon(): Promise<void>;
}

/**
 * The id and creation time of an unfinished bundle under `bundlesDir` (`<target>/FERRY`) made for
 * the plan `planKey`, or undefined. A directory with bundle.json is finished and never reused.
 * With `removeAbandoned`, bundle directories a killed run left before writing their marker go.
 */
export async function findUnfinishedBundle(bundlesDir: string, planKey: string, removeAbandoned: boolean): Promise<{ id: string; created: string } | undefined> {
  for (const entry of await readdirIfExists(bundlesDir)) {
    if (!entry.isDirectory() || !BUNDLE_ID.test(entry.name)) continue;
    const dir = join(bundlesDir, entry.name);
    if ((await lstatIfExists(join(dir, BUNDLE_FILES.manifest))) !== undefined) continue;
    const marker = await readFile(join(dir, PLAN_MARKER), 'utf8').catch(() => undefined);
    if (marker === undefined) {
      if (removeAbandoned) await removeIfNeverStarted(dir);
      continue;
    }
    try {
      const parsed = JSON.parse(marker) as { key?: unknown; id?: unknown; created?: unknown };
      if (parsed.key === planKey && parsed.id === entry.name && typeof parsed.created === 'string') return { id: entry.name, created: parsed.created };
    } catch {
      // A marker cut short by a kill belongs to no plan we can match; that directory is left alone.
    }
  }
  return undefined;
}

/**
 * A run killed between creating a bundle directory and writing its marker left at most the
 * marker's partial file there: nothing of value, and no plan to match, so the directory goes.
 */
async function removeIfNeverStarted(dir: string): Promise<void> {
  const entries = await readdirIfExists(dir);
  if (!entries.every((entry) => entry.isFile() && entry.name.endsWith(PARTIAL_SUFFIX))) return;
  await withFileErrors(dir, 'remove the abandoned bundle directory', () => rm(dir, { recursive: true, force: true }));
}

/**
 * What export-plan.json records: the plan key, the bundle id and its creation time; a volume of an
 * export carried one drive after another also its volume number, the item blobs on each volume
 * (the split, which the first drive's free space chose) and the volumes finished before it, so a
 * rerun given only this drive plans the same volumes and skips the finished ones.
 */
export interface VolumeMarker {
  key: string;
  id: string;
  created: string;
  volume?: number;
  itemCounts?: number[];
  finished?: number[];
}

/** Creates the volume's directory and its plan marker (first, so a kill at any later point leaves a findable directory). */
export async function startVolume(dir: string, marker: VolumeMarker): Promise<void> {
  await ensureDirectoryDurably(dir);
  await writeFileDurably(join(dir, PLAN_MARKER), JSON.stringify(marker));
}

/**
 * Starts writing one planned blob into the volume at `dir` from `source`; the answer's `finish`
 * completes it. Its sha256 and size must be the plan's (the signed metadata's), else nothing
 * reaches a final path and FERRY_HASH_MISMATCH / FERRY_SIZE_MISMATCH names `describe` (the source
 * file). A whole blob from a file is copied in the kernel (copyInKernel) to `<path>.partial`,
 * fsynced, and `finish` reads it back around the page cache and hashes it (issue 9 §3's read-back,
 * done before the rename, so nothing unproven reaches a final path): when those bytes are wrong,
 * the source is hashed to tell whose fault it is: a wrong source throws, a right one means the
 * drive returned other bytes than it was given, and the blob is renamed into place and reported
 * with the bytes read (the caller lists it as bad, as a later read-back would). Parts and bytes
 * from memory are hashed while copied through user space, and read back by the caller afterwards.
 * A blob whose files are already at their final paths with the right bytes (an interrupted run of
 * the same plan) is kept, after reading them back. Throws those codes, FERRY_IO, FERRY_DISK_FULL,
 * FERRY_CANCELLED (from either step).
 */
export function stageBlob(dir: string, blob: PlannedBlob, source: BlobSource, describe: string, options: CopyOptions): Promise<StagedBlob> {
  return stageVerified(dir, storagePaths(blob), blob, source, describe, options);
}

/**
 * Starts writing one file of a plain mirror tree (`--layout tree`) at `path` under `root`, as
 * stageBlob starts a whole blob: copied, read back and hashed before its rename, kept when already right.
 */
export function stageTreeFile(root: string, file: { path: string; size: number; sha256: string }, source: BlobSource, describe: string, options: CopyOptions): Promise<StagedBlob> {
  return stageVerified(root, [file.path], { sha256: file.sha256, size: file.size, partSize: undefined, parts: 1 }, source, describe, options);
}

function settled(result: WrittenBlob): StagedBlob {
  return { finish: () => Promise.resolve(result), abandon: () => Promise.resolve() };
}

async function stageVerified(dir: string, paths: string[], blob: PlannedBlob, source: BlobSource, describe: string, options: CopyOptions): Promise<StagedBlob> {
  const [only] = paths;
  if (only === undefined || paths.length > 1 || source.kind !== 'file') {
    const found = await hashExisting(dir, blob, paths, options);
    return settled(found !== undefined ? { entry: found, kept: true, readBack: undefined } : await writeVerified(dir, paths, blob, source, describe, options));
  }
  const final = join(dir, only);
  const kept = await readBackExisting(final, blob, options);
  if (kept !== undefined) return settled({ entry: { sha256: blob.sha256, size: blob.size }, kept: true, readBack: kept });
  await ensureDirectoryDurably(dirname(final));
  const partial = final + PARTIAL_SUFFIX;
  // The copy creates the partial (O_EXCL): a stale one, or a link planted at its name, goes first.
  await withFileErrors(partial, 'remove', () => rm(partial, { force: true }));
  const copied = await copySourceInKernel(source.path, partial, blob, describe);
  if (!copied) return settled(await writeVerified(dir, paths, blob, source, describe, options));
  const abandon = (): Promise<void> => rm(partial, { force: true }).catch(() => undefined);
  return {
    abandon,
    finish: async () => {
      let reported = 0;
      const onBytes = (delta: number): void => {
        reported += delta;
        options.onBytes(delta);
      };
      try {
        const read = await options.readBack(partial, { signal: options.signal, onBytes });
        if (read.size !== blob.size || read.sha256 !== blob.sha256) {
          // Whose fault: a source that is not the signed bytes throws (naming it); a right one means the drive's.
          await hashSource(source, blob, describe, options.signal);
        }
        await renameIntoPlace(partial, final);
        return { entry: { sha256: blob.sha256, size: blob.size }, kept: false, readBack: { ...read, path: final } };
      } catch (error) {
        options.onBytes(-reported);
        await abandon();
        throw error;
      }
    },
  };
}

/**
 * Copies the source file at `path` to the new file `partial` in the kernel and flushes it, after
 * opening the source without following links or blocking and checking it is a regular file of the
 * planned size. Answers false (nothing written) where the kernel copy is refused. Throws
 * FERRY_HASH_MISMATCH (not a regular file), FERRY_SIZE_MISMATCH naming `describe`, FERRY_IO,
 * FERRY_DISK_FULL.
 */
async function copySourceInKernel(path: string, partial: string, blob: PlannedBlob, describe: string): Promise<boolean> {
  const handle = await withFileErrors(describe, 'read', () => open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | NON_BLOCK));
  try {
    const stats = await withFileErrors(describe, 'read', () => handle.stat());
    if (!stats.isFile()) {
      throw new FerryError('FERRY_HASH_MISMATCH', `${describe} is not a regular file but ${fileKindOf(stats).toLowerCase()}; it was not exported.`, {
        path: describe,
        expected: 'a regular file',
        actual: fileKindOf(stats),
      });
    }
    if (stats.size !== blob.size) throw sizeMismatch(describe, blob, stats.size);
    return await withFileErrors(partial, 'write', () => copyInKernel(handle, partial));
  } finally {
    await handle.close();
  }
}

/** Hashes the source again (its copy read back wrong); throws FERRY_SIZE_MISMATCH / FERRY_HASH_MISMATCH naming `describe` when it is not the planned bytes. */
async function hashSource(source: BlobSource, blob: PlannedBlob, describe: string, signal: AbortSignal): Promise<void> {
  const hash = createHash('sha256');
  const reader = await openSource(source, describe);
  let size: number;
  try {
    size = await pumpChunks({ read: (buffer, length, position) => reader.read(buffer, length, position), inspect: (chunk) => hash.update(chunk), signal });
  } finally {
    await reader.close();
  }
  if (size !== blob.size) throw sizeMismatch(describe, blob, size);
  const actual = hash.digest('hex');
  if (actual !== blob.sha256) throw hashMismatch(describe, blob, actual);
}

function sizeMismatch(describe: string, blob: PlannedBlob, size: number): FerryError {
  const larger = size > blob.size;
  return new FerryError('FERRY_SIZE_MISMATCH', `${describe} is ${larger ? 'larger' : `${size} bytes`}; the signed metadata lists ${blob.size} bytes. It was not exported.`, {
    path: describe,
    expected: String(blob.size),
    actual: larger ? `more than ${blob.size}` : String(size),
  });
}

function hashMismatch(describe: string, blob: PlannedBlob, actual: string): FerryError {
  return new FerryError('FERRY_HASH_MISMATCH', `${describe} does not have the sha256 the signed metadata lists; it was not exported.`, {
    path: describe,
    expected: blob.sha256,
    actual,
  });
}

/** A whole blob already at its final path `final` (an interrupted run of the same plan), read back around the page cache; undefined when absent or not its bytes. */
async function readBackExisting(final: string, blob: PlannedBlob, options: CopyOptions): Promise<(ReadBack & { path: string }) | undefined> {
  const stats = await lstatIfExists(final);
  if (stats?.isFile() !== true || stats.size !== blob.size) return undefined;
  let reported = 0;
  const read = await options.readBack(final, {
    signal: options.signal,
    onBytes: (delta) => {
      reported += delta;
      options.onBytes(delta);
    },
  });
  if (read.size === blob.size && read.sha256 === blob.sha256) return { ...read, path: final };
  options.onBytes(-reported);
  return undefined;
}

/** Copies a blob through user space, hashing it as it passes (parts, bytes from memory, no kernel copy). */
async function writeVerified(dir: string, paths: string[], blob: PlannedBlob, source: BlobSource, describe: string, options: CopyOptions): Promise<WrittenBlob> {
  for (const folder of new Set(paths.map((path) => dirname(join(dir, path))))) await ensureDirectoryDurably(folder);
  const whole = createHash('sha256');
  const parts: Array<{ size: number; sha256: string }> = [];
  let copied = 0;
  let reported = 0;
  const reader = await openSource(source, describe);
  const buffers = ringBuffers();
  try {
    for (const [index, path] of paths.entries()) {
      const partBytes = blob.partSize === undefined ? blob.size : Math.min(blob.partSize, blob.size - index * blob.partSize);
      const partial = join(dir, path + PARTIAL_SUFFIX);
      // A whole blob is its one part: hashing the bytes twice would halve the copy's speed.
      const partHash = paths.length === 1 ? undefined : createHash('sha256');
      const start = copied;
      await withFileErrors(partial, 'write', async () => {
        const handle = await open(partial, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC | fsConstants.O_NOFOLLOW, 0o644);
        try {
          copied += await pumpChunks({
            read: (buffer, length, position) => reader.read(buffer, length, start + position),
            limit: partBytes,
            inspect: (chunk) => {
              whole.update(chunk);
              partHash?.update(chunk);
              reported += chunk.length;
              options.onBytes(chunk.length);
            },
            write: (chunk, position) => writeFully(handle, chunk, position),
            buffers,
            signal: options.signal,
          });
          // Once per file: the whole blob reaches the drive before its name can become final.
          await handle.sync();
        } finally {
          await handle.close();
        }
      });
      parts.push({ size: partBytes, sha256: partHash?.digest('hex') ?? '' });
    }
    const extra = await reader.read(Buffer.alloc(1), 1, copied);
    const actual = whole.digest('hex');
    if (copied !== blob.size || extra > 0) throw sizeMismatch(describe, blob, extra > 0 ? blob.size + 1 : copied);
    if (actual !== blob.sha256) throw hashMismatch(describe, blob, actual);
  } catch (error) {
    options.onBytes(-reported);
    await Promise.all(paths.map((path) => rm(join(dir, path + PARTIAL_SUFFIX), { force: true }).catch(() => undefined)));
    throw error;
  } finally {
    await reader.close();
  }
  for (const path of paths) await renameIntoPlace(join(dir, path + PARTIAL_SUFFIX), join(dir, path));
  return { entry: blob.partSize === undefined ? { sha256: blob.sha256, size: blob.size } : { sha256: blob.sha256, size: blob.size, parts }, kept: false, readBack: undefined };
}

/**
 * Bytes of `blobs` already at their final paths under `dir` with their planned sizes (an interrupted
 * run of the same plan), rounded up to `blockSize`: space the rerun does not need again. Sizes only;
 * writeBlob re-hashes before keeping anything.
 */
export async function presentBytes(dir: string, blobs: readonly PlannedBlob[], blockSize: number): Promise<number> {
  let total = 0;
  for (const blob of blobs) {
    for (const [index, path] of storagePaths(blob).entries()) {
      const size = blob.partSize === undefined ? blob.size : Math.min(blob.partSize, blob.size - index * blob.partSize);
      const stats = await lstatIfExists(join(dir, path));
      if (stats?.isFile() === true && stats.size === size) total += Math.ceil(size / blockSize) * blockSize;
    }
  }
  return total;
}

function storagePaths(blob: PlannedBlob): string[] {
  if (blob.partSize === undefined) return [blobFilePath(blob.sha256)];
  return Array.from({ length: blob.parts }, (_unused, index) => blobPartPath(blob.sha256, index + 1));
}

/** The blob's manifest entry when every one of its files is at its final path and they hash right together. */
async function hashExisting(dir: string, blob: PlannedBlob, paths: string[], options: CopyOptions): Promise<BundleBlob | undefined> {
  const sizes = paths.map((_path, index) => (blob.partSize === undefined ? blob.size : Math.min(blob.partSize, blob.size - index * blob.partSize)));
  for (const [index, path] of paths.entries()) {
    const stats = await lstatIfExists(join(dir, path));
    if (stats?.isFile() !== true || stats.size !== sizes[index]) return undefined;
  }
  const whole = createHash('sha256');
  const parts: Array<{ size: number; sha256: string }> = [];
  for (const [index, path] of paths.entries()) {
    const partHash = paths.length === 1 ? undefined : createHash('sha256');
    const full = join(dir, path);
    await withFileErrors(full, 'read', async () => {
      const handle = await open(full, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
      try {
        await hashOpenFile(handle, partHash === undefined ? [whole] : [whole, partHash], { signal: options.signal });
      } finally {
        await handle.close();
      }
    });
    parts.push({ size: sizes[index] ?? 0, sha256: partHash?.digest('hex') ?? '' });
  }
  if (whole.digest('hex') !== blob.sha256) return undefined;
  options.onBytes(blob.size);
  return blob.partSize === undefined ? { sha256: blob.sha256, size: blob.size } : { sha256: blob.sha256, size: blob.size, parts };
}

interface SourceReader {
  /** Reads up to `length` bytes at `position` into `buffer`; answers the bytes read, 0 at the end. */
  read(buffer: Buffer, length: number, position: number): Promise<number>;
  close(): Promise<void>;
}

async function openSource(source: BlobSource, describe: string): Promise<SourceReader> {
  if (source.kind === 'bytes') {
    return {
      read: (buffer, length, position) => Promise.resolve(source.bytes.copy(buffer, 0, Math.min(position, source.bytes.length), Math.min(position + length, source.bytes.length))),
      close: () => Promise.resolve(),
    };
  }
  const handle: FileHandle = await withFileErrors(describe, 'read', () => open(source.path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW));
  return {
    read: async (buffer, length, position) => (await withFileErrors(describe, 'read', () => handle.read(buffer, 0, length, position))).bytesRead,
    close: () => handle.close(),
  };
}

/**
 * The copy ring of one blob: fresh buffers, since a kept buffer pool would hold 16 MiB after the
 * export; the garbage collector takes them back between blobs.
 */
function ringBuffers(): Buffer[] {
  return Array.from({ length: PIPELINE_DEPTH }, () => Buffer.allocUnsafe(PIPELINE_CHUNK_BYTES));
}

/** Writes `bytes` at `path` through `<path>.partial`, fsynced, renamed, the directory flushed. Throws FERRY_IO, FERRY_DISK_FULL. */
export async function writeFileDurably(path: string, bytes: string | Buffer): Promise<void> {
  const partial = path + PARTIAL_SUFFIX;
  await ensureDirectoryDurably(dirname(path));
  await withFileErrors(partial, 'write', async () => {
    const handle = await open(partial, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC | fsConstants.O_NOFOLLOW, 0o644);
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
  });
  await renameIntoPlace(partial, path);
}

/** The volume is complete: bundle.json is in place, so the plan marker goes (a kill before leaves only that stray file). */
export async function finishVolume(dir: string): Promise<void> {
  await withFileErrors(join(dir, PLAN_MARKER), 'remove', () => rm(join(dir, PLAN_MARKER), { force: true }));
  await fsyncDirectory(dir);
}
