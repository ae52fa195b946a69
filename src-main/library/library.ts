import type { Stats } from 'node:fs';
import { join, posix, resolve, win32 } from 'node:path';
import { performance } from 'node:perf_hooks';
import { FerryError } from '../base/errors.js';
import { BlobStore } from './blobs.js';
import { Catalog, catalogLost } from './catalog.js';
import type { CatalogOptions } from './catalog.js';
import { fileKindOf, lstatIfExists } from '../base/files.js';
import { refuseWhileLocked } from './lock.js';
import { NO_LIBRARY_REPAIRS, NO_TREE_REPAIRS, repairLibrary, repairTree } from './repair.js';
import type { LibraryRepairReport, TreeRepairReport } from './repair.js';
import { TempArea } from './temp-area.js';

export const CATALOG_FILE_NAME = 'catalog.db';
/** The folder of a mirror tree that holds Stream Ferry's own state; never part of the mirror. */
export const TREE_STATE_FOLDER = '.ferry';

export type LibraryOptions = CatalogOptions;

/** The folders of a tree's state, outermost first; each must be a real directory or missing. */
const TREE_STATE_FOLDERS = [TREE_STATE_FOLDER, `${TREE_STATE_FOLDER}/tmp`, `${TREE_STATE_FOLDER}/tmp/partial`];
/** The same for a library's own folders (the library folder itself is the operator's choice, as TARGET is). */
const LIBRARY_FOLDERS = ['tmp', 'tmp/partial', 'blobs', 'blobs/sha256'];

/** How a command that deletes (gc) opens the library. */
export interface TrustedLibraryOptions extends LibraryOptions {
  /**
   * Runs after the catalog passed the trust checks and before startup repair writes anything:
   * gc deletes here, so that it frees space on a disk too full for any catalog write.
   */
  readonly beforeRepair?: (catalog: Catalog, blobs: BlobStore) => Promise<void>;
}

export interface Library {
  /** Absolute. */
  readonly dir: string;
  readonly catalog: Catalog;
  readonly blobs: BlobStore;
  /** What startup repair found and fixed. */
  readonly repaired: LibraryRepairReport;
  close(): void;
}

export interface TreeState {
  /** Absolute. */
  readonly targetDir: string;
  /** `<target>/.ferry` */
  readonly stateDir: string;
  readonly catalog: Catalog;
  /** `<target>/.ferry/tmp`, on the tree's file system so that a finished file is placed by a rename. */
  readonly temp: TempArea;
  readonly repaired: TreeRepairReport;
  close(): void;
}

/**
 * Opens (creating if needed) the library at `dir` and repairs what a crash may have left, so
 * that the catalog describes exactly the verified blobs on disk before anything else runs. The
 * caller holds the library's lock (lockLibrary): repair assumes no other process is writing, and
 * the catalog is opened in SQLite's exclusive mode. A catalog truncated to 0 bytes while blobs are
 * stored is refused (FERRY_CATALOG_CORRUPT) rather than started anew. Also throws what
 * Catalog.open throws (FERRY_CATALOG_CORRUPT, FERRY_CATALOG_TOO_NEW, FERRY_DISK_FULL) and
 * FERRY_DISK_FULL or FERRY_IO for the folders and files repair touches.
 */
export async function openLibrary(dir: string, options: LibraryOptions = {}): Promise<Library> {
  const root = resolve(dir);
  await assertRealFolders(root, LIBRARY_FOLDERS);
  const blobs = new BlobStore(root);
  const file = join(root, CATALOG_FILE_NAME);
  if ((await catalogFileStats(file))?.size === 0) await refuseEmptyCatalogFile(file, blobs);
  await blobs.ensureDirectories();
  return repairedLibrary(root, blobs, Catalog.open(file, { ...options, exclusive: true }));
}

/**
 * The library at `dir` for a command that deletes (`ferry gc`): it never creates a catalog, and
 * refuses one it cannot trust before anything is changed: missing, or without our schema, or
 * recording no blob while blobs are stored (FERRY_CATALOG_LOST); damaged, including a 0-byte file
 * or a page failing SQLite's quick_check (FERRY_CATALOG_CORRUPT); newer (FERRY_CATALOG_TOO_NEW).
 * The caller holds the library's lock.
 */
export async function openTrustedLibrary(dir: string, options: TrustedLibraryOptions = {}): Promise<Library> {
  const root = resolve(dir);
  await assertRealFolders(root, LIBRARY_FOLDERS);
  const blobs = new BlobStore(root);
  const file = join(root, CATALOG_FILE_NAME);
  const stats = await catalogFileStats(file);
  if (stats === undefined) throw catalogLost(file, `is missing while blobs/ holds ${await countStoredBlobs(blobs)} file(s)`);
  if (stats.size === 0) await refuseEmptyCatalogFile(file, blobs);
  const catalog = Catalog.open(file, { ...options, exclusive: true, mustExist: true });
  try {
    await assertCatalogTrusted(catalog, blobs);
    await options.beforeRepair?.(catalog, blobs);
  } catch (error) {
    catalog.close();
    throw error;
  }
  return repairedLibrary(root, blobs, catalog);
}

/**
 * The checks of openTrustedLibrary that need the open catalog, shared with a dry run of gc:
 * SQLite's quick_check, and a catalog recording no blob while blobs are stored.
 */
export async function assertCatalogTrusted(catalog: Catalog, blobs: BlobStore): Promise<void> {
  catalog.assertIntact();
  if (catalog.countBlobs() > 0) return;
  const stored = await countStoredBlobs(blobs);
  if (stored > 0) throw catalogLost(catalog.file, `records no blob while blobs/ holds ${stored} file(s)`);
}

async function repairedLibrary(root: string, blobs: BlobStore, catalog: Catalog): Promise<Library> {
  const repaired = await closingOnFailure(catalog, () => repairLibrary(catalog, blobs, performance.timeOrigin));
  return { dir: root, catalog, blobs, repaired, close: () => { catalog.close(); } };
}

/** Startup repair runs with the catalog open; if it fails, the catalog is closed before the error leaves. */
async function closingOnFailure<T>(catalog: Catalog, repair: () => Promise<T>): Promise<T> {
  try {
    return await repair();
  } catch (error) {
    catalog.close();
    throw error;
  }
}

/**
 * SQLite takes a 0-byte file for a new database. Ours never leaves one behind once it has stored
 * a blob (setting WAL mode writes the header first), so with blobs stored it is a truncation.
 */
async function refuseEmptyCatalogFile(file: string, blobs: BlobStore): Promise<void> {
  const stored = await countStoredBlobs(blobs);
  if (stored === 0) return;
  throw new FerryError('FERRY_CATALOG_CORRUPT', `The catalog ${file} is empty (0 bytes) while blobs/ holds ${stored} file(s)`, {
    path: file,
    hint: 'Nothing was changed. Move the catalog aside and sync again: a new catalog is created and the stored files are re-adopted after hashing.',
  });
}

async function countStoredBlobs(blobs: BlobStore): Promise<number> {
  let count = 0;
  const files = blobs.list();
  while (!(await files.next()).done) count += 1;
  return count;
}

/**
 * The library at `dir` for a command that only looks (a dry run, `ferry library`): it creates
 * nothing and writes nothing, so it needs no lock. While a job holds the library (and so its
 * catalog, in exclusive mode) it refuses at once with FERRY_LIBRARY_BUSY naming that job. The catalog is a copy
 * in memory (see Catalog.openCopy) and startup repair is skipped; a missing library reads as an
 * empty catalog, which is exactly what a new library would hold. With `trusted` (the dry run of
 * gc), the checks of openTrustedLibrary apply, so that the dry run refuses what gc would refuse.
 * Throws FERRY_CATALOG_CORRUPT, FERRY_CATALOG_TOO_NEW, and with `trusted` FERRY_CATALOG_LOST.
 */
export async function openLibraryForReading(dir: string, options: LibraryOptions & { readonly trusted?: boolean } = {}): Promise<Library> {
  const root = resolve(dir);
  const blobs = new BlobStore(root);
  const file = join(root, CATALOG_FILE_NAME);
  const stats = options.trusted === true ? await catalogFileStats(file) : undefined;
  if (options.trusted === true && stats === undefined) {
    const stored = await countStoredBlobs(blobs);
    if (stored > 0) throw catalogLost(file, `is missing while blobs/ holds ${stored} file(s)`);
  }
  if (stats?.size === 0) await refuseEmptyCatalogFile(file, blobs);
  const catalog = await openCatalogForReading(root, 'The library', options);
  try {
    if (stats !== undefined) {
      // The copy was migrated in memory; schema version 0 means the file held no catalog.
      if (catalog.migration.from === 0) throw catalogLost(file, 'is a database without a catalog in it');
      await assertCatalogTrusted(catalog, blobs);
    }
  } catch (error) {
    catalog.close();
    throw error;
  }
  return {
    dir: root,
    catalog,
    blobs,
    repaired: NO_LIBRARY_REPAIRS,
    close: () => {
      catalog.close();
    },
  };
}

/**
 * The state of the tree at `targetDir` for a dry run: as openLibraryForReading, for a mirror tree.
 * Throws FERRY_CATALOG_CORRUPT, FERRY_CATALOG_TOO_NEW.
 */
export async function openTreeStateForReading(targetDir: string, options: LibraryOptions = {}): Promise<TreeState> {
  const root = resolve(targetDir);
  const stateDir = join(root, TREE_STATE_FOLDER);
  const catalog = await openCatalogForReading(stateDir, 'The state of the mirror tree', options);
  return {
    targetDir: root,
    stateDir,
    catalog,
    // Never created: nothing is downloaded or placed.
    temp: new TempArea(join(stateDir, 'tmp')),
    repaired: NO_TREE_REPAIRS,
    close: () => {
      catalog.close();
    },
  };
}

/** `what` names `dir` in FERRY_LIBRARY_BUSY ("The library"). */
async function openCatalogForReading(dir: string, what: string, options: LibraryOptions): Promise<Catalog> {
  const file = join(dir, CATALOG_FILE_NAME);
  const exists = (await catalogFileStats(file)) !== undefined;
  if (!exists) return Catalog.open(':memory:', options);
  await refuseWhileLocked(dir, what);
  try {
    return Catalog.openCopy(file, options);
  } catch (error) {
    // A job that took the lock after the check above holds the catalog now: say so, not "locked".
    await refuseWhileLocked(dir, what);
    throw error;
  }
}

/**
 * The catalog file's lstat, or undefined when there is none. FERRY_PATH_BLOCKED when something other
 * than a regular file is there (a FIFO, socket, device, directory or symbolic link): SQLite would
 * wait on a FIFO or fail with a bare "disk I/O error", and a link would send our writes elsewhere.
 */
async function catalogFileStats(file: string): Promise<Stats | undefined> {
  const stats = await lstatIfExists(file);
  if (stats === undefined || stats.isFile()) return stats;
  throw new FerryError('FERRY_PATH_BLOCKED', `${fileKindOf(stats)} is at ${file}, where Stream Ferry's catalog (an SQLite database file) belongs; nothing was opened or changed.`, {
    path: file,
    hint: `Move ${file} aside, then run again: a new catalog is made and the files present are re-adopted after hashing.`,
  });
}

/**
 * Opens the state of a plain mirror tree (`ferry mirror`): `<target>/.ferry/catalog.db`, with
 * startup repair; the caller holds the tree's lock. Throws what Catalog.open throws
 * (FERRY_CATALOG_CORRUPT, FERRY_CATALOG_TOO_NEW, FERRY_DISK_FULL) and FERRY_DISK_FULL or FERRY_IO
 * for the files repair touches.
 */
export async function openTreeState(targetDir: string, options: LibraryOptions = {}): Promise<TreeState> {
  const root = resolve(targetDir);
  await assertTreeStateFolders(root);
  const stateDir = join(root, TREE_STATE_FOLDER);
  const file = join(stateDir, CATALOG_FILE_NAME);
  await catalogFileStats(file);
  const temp = new TempArea(join(stateDir, 'tmp'));
  await temp.ensure();
  const catalog = Catalog.open(file, { ...options, exclusive: true });
  const repaired = await closingOnFailure(catalog, () => repairTree(catalog, root, temp, performance.timeOrigin));
  return { targetDir: root, stateDir, catalog, temp, repaired, close: () => { catalog.close(); } };
}

/**
 * Throws FERRY_PATH_BLOCKED, naming it, when `TARGET/.ferry`, its `tmp/` or `tmp/partial/` is a
 * symbolic link or not a directory: the catalog, the lock and partial downloads would be written
 * through it, outside the tree. Call before anything is written there (the lock included).
 */
export async function assertTreeStateFolders(targetDir: string): Promise<void> {
  await assertRealFolders(resolve(targetDir), TREE_STATE_FOLDERS);
}

/** Each folder (relative to root, outermost first) must be a real directory or missing; a link is never followed. */
async function assertRealFolders(root: string, folders: readonly string[]): Promise<void> {
  for (const folder of folders) {
    const path = join(root, folder);
    const stats = await lstatIfExists(path);
    if (stats === undefined || stats.isDirectory()) continue;
    const what = stats.isSymbolicLink() ? 'a symbolic link' : 'not a directory';
    throw new FerryError('FERRY_PATH_BLOCKED', `${path} is ${what}; Stream Ferry keeps its own state only in a real directory there, so nothing was written.`, {
      path,
      hint: `Move ${path} away (a link's target is left alone); a new state folder is created on the next run.`,
    });
  }
}

/**
 * The platform's folder for application data, computed from its inputs only (so every platform
 * can be tested anywhere): `$XDG_DATA_HOME/stream-ferry` or `~/.local/share/stream-ferry` on Linux
 * and other Unixes, `~/Library/Application Support/Stream Ferry` on macOS, and
 * `%APPDATA%\Stream Ferry` on Windows (the XDG Base Directory specification; Apple's and
 * Microsoft's conventions). Throws nothing.
 */
export function defaultLibraryDir(
  env: Readonly<Record<string, string | undefined>>,
  platform: NodeJS.Platform,
  homedir: string,
): string {
  if (platform === 'win32') {
    const appData = env.APPDATA;
    const base = appData !== undefined && win32.isAbsolute(appData) ? appData : win32.join(homedir, 'AppData', 'Roaming');
    return win32.join(base, 'Stream Ferry');
  }
  if (platform === 'darwin') return posix.join(homedir, 'Library', 'Application Support', 'Stream Ferry');
  // The XDG spec says a relative (or empty) value is invalid and must be ignored.
  const dataHome = env.XDG_DATA_HOME;
  const base = dataHome !== undefined && posix.isAbsolute(dataHome) ? dataHome : posix.join(homedir, '.local', 'share');
  return posix.join(base, 'stream-ferry');
}
