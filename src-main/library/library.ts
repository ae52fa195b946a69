import { lstat } from 'node:fs/promises';
import { join, posix, resolve, win32 } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BlobStore } from './blobs.js';
import { Catalog } from './catalog.js';
import type { CatalogOptions } from './catalog.js';
import { NO_LIBRARY_REPAIRS, NO_TREE_REPAIRS, repairLibrary, repairTree } from './repair.js';
import type { LibraryRepairReport, TreeRepairReport } from './repair.js';
import { TempArea } from './temp-area.js';

export const CATALOG_FILE_NAME = 'catalog.db';
/** The folder of a mirror tree that holds Stream Ferry's own state; never part of the mirror. */
export const TREE_STATE_FOLDER = '.ferry';

export type LibraryOptions = CatalogOptions;

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
 * caller holds the library's lock (lockLibrary): repair assumes no other process is writing.
 */
export async function openLibrary(dir: string, options: LibraryOptions = {}): Promise<Library> {
  const root = resolve(dir);
  const blobs = new BlobStore(root);
  await blobs.ensureDirectories();
  const catalog = Catalog.open(join(root, CATALOG_FILE_NAME), options);
  try {
    const repaired = await repairLibrary(catalog, blobs, performance.timeOrigin);
    return {
      dir: root,
      catalog,
      blobs,
      repaired,
      close: () => {
        catalog.close();
      },
    };
  } catch (error) {
    catalog.close();
    throw error;
  }
}

/**
 * The library at `dir` for a command that only looks (a dry run, `ferry library`): it creates
 * nothing and writes nothing, so it needs no lock and may run beside a sync. The catalog is a copy
 * in memory (see Catalog.openCopy) and startup repair is skipped; a missing library reads as an
 * empty catalog, which is exactly what a new library would hold.
 */
export async function openLibraryForReading(dir: string, options: LibraryOptions = {}): Promise<Library> {
  const root = resolve(dir);
  const catalog = await openCatalogForReading(root, options);
  return {
    dir: root,
    catalog,
    blobs: new BlobStore(root),
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
  const catalog = Catalog.open(join(stateDir, CATALOG_FILE_NAME), options);
  try {
    const repaired = await repairTree(catalog, root, temp, performance.timeOrigin);
    return {
      targetDir: root,
      stateDir,
      catalog,
      temp,
      repaired,
      close: () => {
        catalog.close();
      },
    };
  } catch (error) {
    catalog.close();
    throw error;
  }
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
