import type { Dirent, Stats } from 'node:fs';
import { lstat, mkdir, open, readdir, rename } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { FerryError, describeError } from '../engine/errors.js';

// EDQUOT is "disk full" from the operator's point of view: the cure (free space) is the same.
const DISK_FULL_CODES: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT']);

export function errnoCode(error: unknown): string | undefined {
  if (error instanceof Error && 'code' in error && typeof error.code === 'string') return error.code;
  return undefined;
}

/** Whether a process with this id runs on this machine (the writer of a temp file, the holder of a lock). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return errnoCode(error) === 'EPERM';
  }
}

/** Turns a Node file-system failure into a FerryError naming the path; a disk-full is FERRY_DISK_FULL. */
export function fileSystemError(error: unknown, path: string, action: string): FerryError {
  if (error instanceof FerryError) return error;
  const code = errnoCode(error);
  if (code !== undefined && DISK_FULL_CODES.has(code)) {
    return new FerryError('FERRY_DISK_FULL', `The disk is full: could not ${action} ${path}`, {
      path,
      cause: error,
      hint: 'Free space on that disk, then run the command again; files already completed are kept.',
    });
  }
  return new FerryError('FERRY_IO', `Could not ${action} ${path}: ${describeError(error)}`, { path, cause: error });
}

export async function withFileErrors<T>(path: string, action: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw fileSystemError(error, path, action);
  }
}

/** lstat that answers undefined for a path that does not exist. */
export async function lstatIfExists(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw fileSystemError(error, path, 'inspect');
  }
}

/** The entries of a directory, or none when it does not exist. */
export async function readdirIfExists(path: string): Promise<Dirent[]> {
  try {
    return await readdir(path, { withFileTypes: true });
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return [];
    throw fileSystemError(error, path, 'list');
  }
}

/**
 * The catalog stores whole milliseconds (STRICT INTEGER columns refuse fractions); comparing
 * truncated values on both sides keeps a file that nobody touched equal to its record.
 */
export function mtimeMsOf(stats: Stats): number {
  return Math.trunc(stats.mtimeMs);
}

/**
 * Refuses a finished temporary file whose size is not the one promised for `what`, and with
 * `flush`, writes its data to the device first, so that a rename never publishes a name whose
 * bytes are still only in cache.
 */
export async function checkFinishedFile(
  path: string,
  expectedSize: number,
  what: string,
  options: { readonly flush: boolean },
): Promise<void> {
  await withFileErrors(path, 'flush', async () => {
    // Windows flushes only through a handle opened for writing.
    const handle = await open(path, options.flush ? 'r+' : 'r');
    try {
      const actualSize = (await handle.stat()).size;
      if (actualSize !== expectedSize) {
        throw new FerryError('FERRY_SIZE_MISMATCH', `${path} holds ${actualSize} bytes, but ${what} has ${expectedSize}`, {
          path,
          expected: String(expectedSize),
          actual: String(actualSize),
        });
      }
      if (options.flush) await handle.sync();
    } finally {
      await handle.close();
    }
  });
}

/** Flushes a directory's entries, so a rename or a new entry survives a power loss. */
export async function fsyncDirectory(path: string): Promise<void> {
  // Windows cannot open a directory as a file; NTFS journals directory changes itself.
  if (process.platform === 'win32') return;
  await withFileErrors(path, 'flush the directory', async () => {
    const handle = await open(path, 'r');
    try {
      await handle.sync();
    } catch (error) {
      // Some file systems (certain FUSE and network mounts) cannot sync a directory; the rename
      // is then as durable as that file system makes it, and startup repair covers the rest.
      if (errnoCode(error) !== 'EINVAL') throw error;
    } finally {
      await handle.close();
    }
  });
}

/**
 * mkdir -p that also flushes every parent whose entries it changed. Levels are created one at a
 * time rather than with Node's recursive mkdir, which reports ENOENT when a level fails for another
 * reason (nodejs/node#42808, #47098): a full disk must read FERRY_DISK_FULL, not "no such file".
 */
export async function ensureDirectoryDurably(path: string): Promise<void> {
  const missing: string[] = [];
  for (let current = path; (await lstatIfExists(current)) === undefined; current = dirname(current)) {
    missing.unshift(current);
    if (dirname(current) === current) break;
  }
  for (const directory of missing) {
    await withFileErrors(directory, 'create the directory', async () => {
      try {
        await mkdir(directory);
      } catch (error) {
        // Another writer may create the same level at the same moment; that is fine.
        if (errnoCode(error) !== 'EEXIST') throw error;
      }
    });
    await fsyncDirectory(dirname(directory));
  }
}

/**
 * Publishes a finished, flushed file at its final path in one atomic step: readers see either
 * nothing or the whole file. Both paths must be on the same file system.
 */
export async function renameIntoPlace(fromPath: string, toPath: string): Promise<void> {
  await ensureDirectoryDurably(dirname(toPath));
  await withFileErrors(toPath, 'move a finished file to', () => rename(fromPath, toPath));
  await fsyncDirectory(dirname(toPath));
}

/** The absolute path of a tree-relative path, or undefined when it would leave the tree (or is its root). */
export function resolveInsideTree(treeRoot: string, treePath: string): string | undefined {
  const absolutePath = resolve(treeRoot, treePath);
  const fromRoot = relative(treeRoot, absolutePath);
  if (fromRoot === '' || fromRoot === '..' || fromRoot.startsWith(`..${sep}`) || isAbsolute(fromRoot)) return undefined;
  return absolutePath;
}
