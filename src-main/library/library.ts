import { lstat } from 'node:fs/promises';
import { join, posix, resolve, win32 } from 'node:path';
import { performance } from 'node:perf_hooks';
import { FerryError } from '../base/errors.js';
import { BlobStore } from './blobs.js';
import { Catalog, catalogLost } from './catalog.js';
import type { CatalogOptions } from './catalog.js';
import { lstatIfExists } from '../base/files.js';
import { NO_LIBRARY_REPAIRS, NO_TREE_REPAIRS, repairLibrary, repairTree } from './repair.js';
import type { LibraryRepairReport, TreeRepairReport } from './repair.js';
import { TempArea } from './temp-area.js';

export const CATALOG_FILE_NAME = 'catalog.db';
/** The folder of a mirror tree that holds Stream Ferry's own state; never part of the mirror. */
export const TREE_STATE_FOLDER = '.ferry';

export type LibraryOptions = CatalogOptions;

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
 * stored is refused (FERRY_CATALOG_CORRUPT) rather than started anew.
 */
export async function openLibrary(dir: string, options: LibraryOptions = {}): Promise<Library> {
  const root = resolve(dir);
  const blobs = new BlobStore(root);
  const file = join(root, CATALOG_FILE_NAME);
  if ((await lstatIfExists(file))?.size === 0) await refuseEmptyCatalogFile(file, blobs);
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
  const blobs = new BlobStore(root);
  const file = join(root, CATALOG_FILE_NAME);
  const stats = await lstatIfExists(file);
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
    hint: 'Nothing was changed. Move the catalog aside and run `ferry sync`: a new catalog is created and the stored files are re-adopted after hashing.',
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
 * nothing and writes nothing, so it needs no lock and may run beside a sync. The catalog is a copy
 * in memory (see Catalog.openCopy) and startup repair is skipped; a missing library reads as an
 * empty catalog, which is exactly what a new library would hold. With `trusted` (the dry run of
 * gc), the checks of openTrustedLibrary apply, so that the dry run refuses what gc would refuse.
 */
export async function openLibraryForReading(dir: string, options: LibraryOptions & { readonly trusted?: boolean } = {}): Promise<Library> {
  const root = resolve(dir);
  const blobs = new BlobStore(root);
  const file = join(root, CATALOG_FILE_NAME);
  const stats = options.trusted === true ? await lstatIfExists(file) : undefined;
  if (options.trusted === true && stats === undefined) {
    const stored = await countStoredBlobs(blobs);
    if (stored > 0) throw catalogLost(file, `is missing while blobs/ holds ${stored} file(s)`);
  }
  if (stats?.size === 0) await refuseEmptyCatalogFile(file, blobs);
  const catalog = await openCatalogForReading(root, options);
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

/** The state of the tree at `targetDir` for a dry run: as openLibraryForReading, for a mirror tree. */
export async function openTreeStateForReading(targetDir: string, options: LibraryOptions = {}): Promise<TreeState> {
  const root = resolve(targetDir);
  const stateDir = join(root, TREE_STATE_FOLDER);
  const catalog = await openCatalogForReading(stateDir, options);
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

async function openCatalogForReading(dir: string, options: LibraryOptions): Promise<Catalog> {
  const file = join(dir, CATALOG_FILE_NAME);
  const exists = await lstat(file).then(
    () => true,
    () => false,
  );
  return exists ? Catalog.openCopy(file, options) : Catalog.open(':memory:', options);
}

/** Opens the state of a plain mirror tree (`ferry mirror`): `<target>/.ferry/catalog.db`. */
export async function openTreeState(targetDir: string, options: LibraryOptions = {}): Promise<TreeState> {
  const root = resolve(targetDir);
  const stateDir = join(root, TREE_STATE_FOLDER);
  const temp = new TempArea(join(stateDir, 'tmp'));
  await temp.ensure();
  const catalog = Catalog.open(join(stateDir, CATALOG_FILE_NAME), { ...options, exclusive: true });
  const repaired = await closingOnFailure(catalog, () => repairTree(catalog, root, temp, performance.timeOrigin));
  return { targetDir: root, stateDir, catalog, temp, repaired, close: () => { catalog.close(); } };
}

/**
 * The platform's folder for application data, computed from its inputs only (so every platform
 * can be tested anywhere): `$XDG_DATA_HOME/stream-ferry` or `~/.local/share/stream-ferry` on Linux
 * and other Unixes, `~/Library/Application Support/Stream Ferry` on macOS, and
 * `%APPDATA%\Stream Ferry` on Windows.
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
