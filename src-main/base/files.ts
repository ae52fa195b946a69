import { randomBytes } from 'node:crypto';
import { constants as fsConstants, type Dirent, type Stats } from 'node:fs';
import { copyFile, lstat, mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { FerryError, describeError, errnoCode, redactUrl } from './errors.js';

// EDQUOT is "disk full" from the operator's point of view: the cure (free space) is the same.
const DISK_FULL_CODES: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT']);
/**
 * Opens of our own temporary files refuse a symbolic link at the name (ELOOP) instead of writing
 * or flushing through it. Windows has no such flag; creating links there needs privileges.
 */
const NO_FOLLOW = (fsConstants.O_NOFOLLOW as number | undefined) ?? 0;
/** `.ferry-copy.<pid>.<16 hex>.tmp`: a copy across file systems in progress (see copyIntoPlace). */
const COPY_NAME = /^\.ferry-copy\.(\d+)\.[0-9a-f]{16}\.tmp$/;

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

/**
 * The one builder of disk errors: a Node file-system failure as a FerryError naming the path (and
 * the URL being downloaded, when `url` is given). ENOSPC and EDQUOT are FERRY_DISK_FULL, a file
 * where a folder must be (ENOTDIR) FERRY_TARGET_NOT_DIRECTORY, anything else FERRY_IO; a
 * FerryError passes through unchanged. Hints name the folder concerned, so the words fit a mirror
 * tree (`TARGET/.ferry/...`) and a library alike. `action` completes "could not ... PATH" (e.g.
 * 'write', 'remove the blob').
 */
export function fileSystemError(error: unknown, path: string, action: string, context: { url?: string } = {}): FerryError {
  if (error instanceof FerryError) return error;
  const code = errnoCode(error);
  const { url } = context;
  const downloading = url === undefined ? '' : ` (downloading ${redactUrl(url)})`;
  const facts = url === undefined ? { path, cause: error } : { path, url, cause: error };
  if (code !== undefined && DISK_FULL_CODES.has(code)) {
    return new FerryError('FERRY_DISK_FULL', `The disk is full: could not ${action} ${path}${downloading}`, {
      ...facts,
      hint: 'Free space on that disk, then run the command again; completed files and partial downloads are kept.',
    });
  }
  if (code === 'ENOTDIR') {
    // A file where a folder must be (a library or TARGET given as a file): say so, not ENOTDIR.
    return new FerryError('FERRY_TARGET_NOT_DIRECTORY', `Could not ${action} ${path}${downloading}: a part of that path is a file, not a directory`, {
      ...facts,
      hint: 'Give a directory (a missing one is created); nothing was written.',
    });
  }
  const hint = fileErrorHint(code, dirname(path));
  return new FerryError('FERRY_IO', `Could not ${action} ${path}${downloading}: ${describeError(error)}`, hint === undefined ? facts : { ...facts, hint });
}

function fileErrorHint(code: string | undefined, folder: string): string | undefined {
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return `Stream Ferry may not write there; check the permissions of ${folder}.`;
    case 'EROFS':
      return `The file system holding ${folder} is read-only; choose a writable location.`;
    case 'ENOENT':
      return `The folder ${folder} does not exist (or is not a folder); check the location.`;
    default:
      return undefined;
  }
}

/** Runs a file operation; its failure becomes fileSystemError(error, path, action). */
export async function withFileErrors<T>(path: string, action: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw fileSystemError(error, path, action);
  }
}

/** What `lstat` found, for messages: "A FIFO (named pipe)", "A directory", ... */
export function fileKindOf(stats: Stats): string {
  if (stats.isSymbolicLink()) return 'A symbolic link';
  if (stats.isDirectory()) return 'A directory';
  if (stats.isFIFO()) return 'A FIFO (named pipe)';
  if (stats.isSocket()) return 'A socket';
  if (stats.isBlockDevice()) return 'A block device';
  if (stats.isCharacterDevice()) return 'A character device';
  return 'A regular file';
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
    const handle = await open(path, (options.flush ? fsConstants.O_RDWR : fsConstants.O_RDONLY) | NO_FOLLOW);
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
 * nothing or the whole file. When the final directory is on another file system than `fromPath`
 * (a mount point inside a mirror tree), rename(2) says EXDEV and the file is copied instead, see
 * copyIntoPlace. Throws FERRY_IO, FERRY_DISK_FULL, FERRY_SIZE_MISMATCH (a copy that came out short).
 */
export async function renameIntoPlace(fromPath: string, toPath: string): Promise<void> {
  await ensureDirectoryDurably(dirname(toPath));
  try {
    await rename(fromPath, toPath);
  } catch (error) {
    if (errnoCode(error) !== 'EXDEV') throw fileSystemError(error, toPath, 'move a finished file to');
    await copyIntoPlace(fromPath, toPath);
  }
  await fsyncDirectory(dirname(toPath));
}

/**
 * The EXDEV path of renameIntoPlace, keeping its promise that the final path holds the whole file
 * or nothing: the bytes go to a temporary name in the final directory (same file system), are
 * flushed and checked for size, then renamed there; the source goes only after that. A copy left
 * by a killed run is removed the next time a file is copied into that directory.
 */
async function copyIntoPlace(fromPath: string, toPath: string): Promise<void> {
  const directory = dirname(toPath);
  await removeAbandonedCopies(directory);
  const size = (await withFileErrors(fromPath, 'inspect', () => lstat(fromPath))).size;
  const copyPath = join(directory, `.ferry-copy.${String(process.pid)}.${randomBytes(8).toString('hex')}.tmp`);
  try {
    // COPYFILE_EXCL: the copy is a new file, never something (or a link) already at that name.
    await withFileErrors(copyPath, 'copy a finished file to', () => copyFile(fromPath, copyPath, fsConstants.COPYFILE_EXCL));
    await checkFinishedFile(copyPath, size, basename(toPath), { flush: true });
    await withFileErrors(toPath, 'move a finished file to', () => rename(copyPath, toPath));
  } catch (error) {
    await rm(copyPath, { force: true }).catch(() => undefined);
    throw error;
  }
  await withFileErrors(fromPath, 'remove the copied file', () => rm(fromPath, { force: true }));
}

async function removeAbandonedCopies(directory: string): Promise<void> {
  for (const entry of await readdirIfExists(directory)) {
    const writerPid = COPY_NAME.exec(entry.name)?.[1];
    if (writerPid === undefined || Number(writerPid) === process.pid || isProcessAlive(Number(writerPid))) continue;
    const path = join(directory, entry.name);
    await withFileErrors(path, 'remove the abandoned copy', () => rm(path, { force: true }));
  }
}

/** The absolute path of a tree-relative path, or undefined when it would leave the tree (or is its root). */
export function resolveInsideTree(treeRoot: string, treePath: string): string | undefined {
  const absolutePath = resolve(treeRoot, treePath);
  const fromRoot = relative(treeRoot, absolutePath);
  if (fromRoot === '' || fromRoot === '..' || fromRoot.startsWith(`..${sep}`) || isAbsolute(fromRoot)) return undefined;
  return absolutePath;
}
