import { randomBytes } from 'node:crypto';
import { link, lstat, readFile, readdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FerryError, errnoCode } from '../base/errors.js';
import { ensureDirectoryDurably, fileSystemError, isProcessAlive, withFileErrors } from '../base/files.js';

export const LOCK_FILE_NAME = 'lock';

/** How long an unreadable lock file is taken to be one that its creator is still writing. */
const LOCK_WRITE_GRACE_MS = 10_000;
/** File systems without symbolic links (FAT, exFAT: libraries on USB drives; Windows without the privilege) answer with these. */
const NO_SYMLINKS: ReadonlySet<string> = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);
/** A symlink's target is our lock record: `ferry-lock:<pid>:<job>:<since, epoch ms>:<token>`. */
const LINK_PREFIX = 'ferry-lock';
/** Drafts (`.tmp`) and moved-aside stale locks (`.stale`) that a killed or failed locker left: `lock.<pid>.<16 hex>.<kind>`. */
const LEFTOVER_NAME = /^lock\.(\d+)\.[0-9a-f]{16}\.(tmp|stale)$/;

/** Who holds a library: written into the lock file so that a refusal can name the other job. */
export interface LockHolder {
  readonly pid: number;
  readonly job: string;
  readonly since: string;
  /** Tells this holder's lock apart from a later one by the same pid. */
  readonly token: string;
}

export interface LibraryLock {
  readonly path: string;
  readonly holder: LockHolder;
  /** Removes the lock file if it is still ours; calling it twice is harmless. */
  release(): Promise<void>;
}

/** The lock file as found: its text, who it names (if it says), and whether that job still runs. */
interface FoundLock {
  readonly text: string;
  readonly holder: LockHolder | undefined;
  readonly live: boolean;
}

/**
 * Makes this process the only writer of the library (or a mirror tree's state) at `dir` until
 * release(). Two syncs would otherwise append to the same partial download, and gc could delete a
 * blob that a sync has just found present but not yet recorded as held. The lock is a symbolic link
 * whose target names the holder, created by one atomic symlink(): it appears whole, and since a
 * short target lives in the inode, it needs no free data block, so gc can lock a full disk to free
 * it. Where symbolic links are refused (FAT, exFAT, Windows) the lock is a file created exclusively.
 * A lock whose process is gone (a crash, a kill -9) is taken over, and what lockers that were killed
 * left behind (drafts of earlier versions, moved-aside stale locks) is removed. Throws
 * FERRY_LIBRARY_BUSY (in use, naming the holder), FERRY_IO, FERRY_DISK_FULL (no inode left).
 */
export async function lockLibrary(dir: string, job: string, now: () => Date = () => new Date()): Promise<LibraryLock> {
  await ensureDirectoryDurably(dir);
  const path = join(dir, LOCK_FILE_NAME);
  const holder: LockHolder = { pid: process.pid, job, since: now().toISOString(), token: randomBytes(8).toString('hex') };
  // Once for a free library, once more after taking over a stale lock.
  for (let attempt = 0; attempt < 2; attempt += 1) {
    if (await createIfAbsent(path, holder)) {
      await removeLeftovers(dir);
      return { path, holder, release: () => releaseLock(path, holder) };
    }
    const found = await inspect(path);
    if (found === undefined) continue;
    if (found.live) throw inUse(dir, path, found.holder);
    await removeStale(dir, path, found);
  }
  throw inUse(dir, path, (await inspect(path))?.holder);
}

async function createIfAbsent(path: string, holder: LockHolder): Promise<boolean> {
  try {
    await symlink(linkTarget(holder), path);
    return true;
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'EEXIST') return false;
    if (code === undefined || !NO_SYMLINKS.has(code)) throw fileSystemError(error, path, 'create the lock');
  }
  // Without symbolic links, an exclusive create; for a moment the file is empty, which inspect() allows for.
  try {
    await writeFile(path, `${JSON.stringify(holder)}\n`, { flag: 'wx' });
    return true;
  } catch (error) {
    if (errnoCode(error) === 'EEXIST') return false;
    throw fileSystemError(error, path, 'create the lock');
  }
}

function linkTarget(holder: LockHolder): string {
  return [LINK_PREFIX, String(holder.pid), holder.job, String(Date.parse(holder.since)), holder.token].join(':');
}

/** Leftovers of lockers that are gone; one still running may be about to use its draft. */
async function removeLeftovers(dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [])) {
    const pid = LEFTOVER_NAME.exec(name)?.[1];
    if (pid === undefined || (Number(pid) !== process.pid && isProcessAlive(Number(pid)))) continue;
    await rm(join(dir, name), { force: true }).catch(() => undefined);
  }
}

/** The lock's record as text: a symbolic link's target, or a lock file's content. */
async function readLockText(path: string): Promise<{ text: string; modifiedMs: number }> {
  const stats = await lstat(path);
  const text = stats.isSymbolicLink() ? await readlink(path) : await readFile(path, 'utf8');
  return { text, modifiedMs: stats.mtimeMs };
}

/** undefined when there is no lock file (any more). */
async function inspect(path: string): Promise<FoundLock | undefined> {
  let text: string;
  let modifiedMs: number;
  try {
    ({ text, modifiedMs } = await readLockText(path));
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw fileSystemError(error, path, 'read the lock');
  }
  const holder = parseHolder(text);
  const live = holder === undefined ? Date.now() - modifiedMs < LOCK_WRITE_GRACE_MS : isProcessAlive(holder.pid);
  return { text, holder, live };
}

/**
 * Moves the stale lock aside before deleting it, and only if it still is the one judged stale: two
 * processes taking over at once must not delete the lock that the faster one just created.
 */
async function removeStale(dir: string, path: string, stale: FoundLock): Promise<void> {
  const aside = `${path}.${String(process.pid)}.${randomBytes(8).toString('hex')}.stale`;
  try {
    await rename(path, aside);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return;
    throw fileSystemError(error, path, 'move aside the stale lock');
  }
  try {
    const moved = (await readLockText(aside)).text;
    if (moved === stale.text) return;
    // Another job locked the library in between: its lock goes back, and it keeps the library.
    await link(aside, path).catch(() => undefined);
    throw inUse(dir, path, parseHolder(moved));
  } finally {
    await rm(aside, { force: true });
  }
}

function parseHolder(text: string): LockHolder | undefined {
  if (text.startsWith(`${LINK_PREFIX}:`)) {
    const [, pid, job, sinceMs, token] = text.split(':');
    if (pid === undefined || job === undefined || sinceMs === undefined || token === undefined) return undefined;
    const since = new Date(Number(sinceMs));
    if (!/^\d+$/.test(pid) || Number.isNaN(since.getTime())) return undefined;
    return { pid: Number(pid), job, since: since.toISOString(), token };
  }
  try {
    const parsed: unknown = JSON.parse(text);
    return isLockHolder(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function isLockHolder(value: unknown): value is LockHolder {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return (
    typeof record.pid === 'number' && typeof record.job === 'string' && typeof record.since === 'string' && typeof record.token === 'string'
  );
}

async function releaseLock(path: string, holder: LockHolder): Promise<void> {
  const current = await inspect(path);
  // A lock taken over after ours was judged stale belongs to someone else now.
  if (current?.holder?.token !== holder.token) return;
  await withFileErrors(path, 'remove the lock', () => rm(path, { force: true }));
}

/**
 * For commands that only read (a dry run, `ferry library`): refuses at once, with
 * FERRY_LIBRARY_BUSY naming the job, while a running process holds the lock at `dir`. That holder
 * keeps the catalog in SQLite's exclusive mode (docs/ARCHITECTURE.md, "A full disk"), so reading it
 * would only wait out the busy timeout and fail. `what` names the place ("The library").
 */
export async function refuseWhileLocked(dir: string, what: string): Promise<void> {
  const path = join(dir, LOCK_FILE_NAME);
  const found = await inspect(path);
  if (found?.live !== true) return;
  throw new FerryError('FERRY_LIBRARY_BUSY', `${what} ${dir} is in use by ${holderName(found.holder)}; its catalog cannot be read while that job runs.`, {
    path,
    hint: 'Try again when it ends.',
  });
}

function inUse(dir: string, path: string, holder: LockHolder | undefined): FerryError {
  return new FerryError('FERRY_LIBRARY_BUSY', `${dir} is in use by ${holderName(holder)}.`, {
    path,
    hint: `Wait for that job to finish and run the command again. If no such process is running, delete ${path}.`,
  });
}

function holderName(holder: LockHolder | undefined): string {
  return holder === undefined ? 'another Stream Ferry job' : `a Stream Ferry ${holder.job} job (pid ${String(holder.pid)}, since ${holder.since})`;
}
