import { FerryError, isFerryError, type FerryErrorCode } from '../base/errors.js';
import type { ProgressTracker } from '../base/progress.js';
import type { Catalog, NewHeldItem } from '../library/catalog.js';
import { throwIfCancelled } from '../base/cancel.js';
import { runTransfers } from '../base/concurrency.js';
import type { StreamItem } from '../streams/index.js';
import { orphanedPaths, type HeldEntry, type MirrorPlan, type WantedFile } from './plan.js';

/** Errors of present() that concern that one path (what is at it, or on the way), not the run. */
const PER_FILE_CODES: ReadonlySet<FerryErrorCode> = new Set<FerryErrorCode>(['FERRY_PATH_BLOCKED', 'FERRY_UNSAFE_PATH']);

/** What a verified download produced. */
export interface VerifiedFile {
  sha256: string;
  size: number;
}

/**
 * Where verified files live: a plain mirror tree (files at their item paths) or the library's
 * content-addressed blobs. Apply does not know which; both keep their own catalog records.
 */
export interface FileStore {
  /**
   * The file's sha256 when it is already present and verified, so nothing needs fetching. Cheap when
   * the catalog vouches for it (size and mtime unchanged); an unknown file is hashed, never trusted
   * blindly; `rehash` re-hashes everything (--verify-existing). A tree never removes a wrong file
   * here (place() replaces it in the publish step); the library drops a blob whose bytes changed.
   * Throws FERRY_PATH_BLOCKED or FERRY_UNSAFE_PATH for that one path, which fails only that file.
   */
  present(file: WantedFile, rehash: boolean): Promise<string | undefined>;
  /** A stable temporary path for the file, so an interrupted download resumes on the next run. */
  partialPath(file: WantedFile): string;
  /** Moves a verified partial file into place and records it. */
  place(file: WantedFile, partialPath: string, verified: VerifiedFile): Promise<void>;
  /** Deletes a file no held item references any more; false when the store keeps it (gc's job). */
  remove(path: string): Promise<boolean>;
  /** For planning: whether a file of the right size is there, without hashing or changing anything. */
  peek(file: WantedFile): Promise<boolean>;
  /** Free bytes where files are placed; undefined where the platform cannot tell. */
  freeBytes(): Promise<number | undefined>;
}

/** Downloads one wanted file to `partialPath`, verified; the net layer retries and resumes. */
export type FileFetcher = (
  file: WantedFile,
  partialPath: string,
  signal: AbortSignal,
  onBytes: (delta: number) => void,
) => Promise<VerifiedFile>;

export interface ApplyOptions {
  store: FileStore;
  fetch: FileFetcher;
  catalog: Catalog;
  sourceId: number;
  concurrency: number;
  /** Re-hash files that are already present (`--verify-existing`). */
  rehash: boolean;
  /** Record the plan's items without fetching them (`--no-item-download`). */
  fetchItems: boolean;
  progress: ProgressTracker | undefined;
  /** Told of each file checked for presence (with `rehash`, each present file is read whole). */
  checkProgress?: ProgressTracker | undefined;
  signal: AbortSignal;
  onFileDone?: (file: WantedFile, outcome: 'fetched' | 'present') => void;
}

export interface FileFailure {
  path: string;
  items: StreamItem[];
  error: FerryError;
}

export interface ApplyResult {
  fetched: WantedFile[];
  present: WantedFile[];
  failures: FileFailure[];
}

/**
 * Makes the target hold every file the plan wants: checks what is present, fetches the rest in
 * parallel, records every verified file's items as held. One file that fails never stops the
 * others. Nothing is removed here: versions past the maximum leave only through retire, after the
 * caller has published metadata that no longer lists them (see retire). A file's failure (a
 * FerryError from the fetcher or the store: FERRY_PATH_BLOCKED, FERRY_UNSAFE_PATH, a download's
 * codes) is in `failures`. Throws FERRY_CANCELLED when `signal` aborts, FERRY_SETTING_INVALID
 * (setting `concurrency`), and what checking present files meets beyond one path (the store's or
 * the catalog's FERRY_DISK_FULL, FERRY_IO, FERRY_CATALOG_CORRUPT).
 */
export async function applyPlan(plan: MirrorPlan, options: ApplyOptions): Promise<ApplyResult> {
  const result: ApplyResult = { fetched: [], present: [], failures: [] };
  const files = [...plan.wanted.values()];
  if (!options.fetchItems) return result;

  const missing: WantedFile[] = [];
  for (const file of files) {
    throwIfCancelled(options.signal);
    let sha256: string | undefined;
    const checked = options.checkProgress?.startFile(file.path, file.size);
    try {
      sha256 = await options.store.present(file, options.rehash);
      checked?.addBytes(file.size);
      checked?.done();
    } catch (error) {
      checked?.failed();
      // A link or special file at one path fails that file; the others are still fetched.
      if (!isFerryError(error) || !PER_FILE_CODES.has(error.code)) throw error;
      result.failures.push({ path: file.path, items: file.items, error });
      continue;
    }
    if (sha256 === undefined) {
      missing.push(file);
      continue;
    }
    recordHeld(options, file, sha256);
    result.present.push(file);
    options.onFileDone?.(file, 'present');
  }

  const transfers = await runTransfers(
    missing,
    async (file, signal) => {
      const tracked = options.progress?.startFile(file.path, file.size);
      try {
        const partialPath = options.store.partialPath(file);
        const verified = await options.fetch(file, partialPath, signal, tracked?.addBytes ?? noBytes);
        await options.store.place(file, partialPath, verified);
        recordHeld(options, file, verified.sha256);
        tracked?.done();
        options.onFileDone?.(file, 'fetched');
        return verified;
      } catch (error) {
        tracked?.failed();
        throw error;
      }
    },
    { concurrency: options.concurrency, signal: options.signal },
  );
  result.fetched.push(...transfers.completed.map((transfer) => transfer.task));
  result.failures.push(...transfers.failures.map(({ task, error }) => ({ path: task.path, items: task.items, error })));
  throwIfCancelled(options.signal);
  return result;
}

/** How the versions a plan retires (past --max, or gone upstream) leave the target. */
export interface Retirement {
  /** Deletes each file only retired items referenced, where the store deletes files (the library leaves that to gc); answers the paths deleted. */
  deleteFiles(): Promise<string[]>;
  /** Forgets the retired held items; synchronous, so a caller can do it in the transaction that publishes. */
  forgetItems(): void;
}

/**
 * The retirement of a plan's removed versions, to run only once the metadata that no longer lists
 * them is published (see docs/ARCHITECTURE.md, Decisions). Which files may go is decided now,
 * before anything changes: a file another source in the same target holds stays. Throws what
 * the catalog throws (FERRY_DISK_FULL, FERRY_CATALOG_CORRUPT); the returned steps throw the
 * store's FERRY_PATH_BLOCKED, FERRY_UNSAFE_PATH, FERRY_IO.
 */
export function retire(plan: MirrorPlan, held: readonly HeldEntry[], options: Pick<ApplyOptions, 'store' | 'catalog' | 'sourceId'>): Retirement {
  const retiredAtPath = new Map<string, number>();
  for (const removal of plan.removals) for (const entry of removal.items) retiredAtPath.set(entry.path, (retiredAtPath.get(entry.path) ?? 0) + 1);
  // Any reference beyond the retired items' own is another source's.
  const deletable = orphanedPaths(plan, held).filter((path) => options.catalog.referencesToPath(path) <= (retiredAtPath.get(path) ?? 0));
  return {
    async deleteFiles() {
      const removedPaths: string[] = [];
      for (const path of deletable) if (await options.store.remove(path)) removedPaths.push(path);
      return removedPaths;
    },
    forgetItems() {
      options.catalog.removeHeldItems(
        plan.removals.flatMap((removal) =>
          removal.items.map((entry) => ({ sourceId: options.sourceId, contentId: entry.contentId, product: entry.product, version: entry.version, item: entry.item })),
        ),
      );
    },
  };
}

function recordHeld(options: ApplyOptions, file: WantedFile, sha256: string): void {
  const items: NewHeldItem[] = file.items.map((item) => ({
    sourceId: options.sourceId,
    contentId: item.contentId,
    product: item.productName,
    version: item.versionName,
    item: item.itemName,
    path: file.path,
    size: file.size,
    sha256,
  }));
  options.catalog.addHeldItems(items);
}

function noBytes(): void {}
