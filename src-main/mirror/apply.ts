import { FerryError, isFerryError, type FerryErrorCode } from '../engine/errors.js';
import type { ProgressTracker } from '../engine/progress.js';
import type { Catalog, NewHeldItem } from '../library/catalog.js';
import { runTransfers } from '../net/scheduler.js';
import type { StreamItem } from '../streams/index.js';
import { describeItem, orphanedPaths, type HeldEntry, type MirrorPlan, type PlannedRemoval, type WantedFile } from './plan.js';

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
   * blindly; `rehash` re-hashes everything (--verify-existing). A wrong file is removed.
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
  removedPaths: string[];
  /** Versions not removed because a newer version of the same product did not complete. */
  deferredRemovals: PlannedRemoval[];
}

/**
 * Makes the target hold what the plan wants: checks what is present, fetches the rest in parallel,
 * records every verified file's items as held, then removes what left the selection. One file that
 * fails never stops the others; its product keeps its old versions until a rerun succeeds.
 */
export async function applyPlan(plan: MirrorPlan, held: readonly HeldEntry[], options: ApplyOptions): Promise<ApplyResult> {
  const result: ApplyResult = { fetched: [], present: [], failures: [], removedPaths: [], deferredRemovals: [] };
  const files = [...plan.wanted.values()];

  if (options.fetchItems) {
    const missing: WantedFile[] = [];
    for (const file of files) {
      throwIfAborted(options.signal);
      let sha256: string | undefined;
      try {
        sha256 = await options.store.present(file, options.rehash);
      } catch (error) {
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
    if (options.signal.aborted) throw cancelled(options.signal);
  }

  const failedProducts = new Set(
    result.failures.flatMap((failure) => failure.items.map((item) => `${item.contentId}\u0000${item.productName}`)),
  );
  const removals = plan.removals.filter((removal) => {
    if (!failedProducts.has(`${removal.contentId}\u0000${removal.product}`)) return true;
    result.deferredRemovals.push(removal);
    return false;
  });
  const effectivePlan: MirrorPlan = { ...plan, removals };
  const orphans = orphanedPaths(effectivePlan, held);
  options.catalog.removeHeldItems(
    removals.flatMap((removal) =>
      removal.items.map((entry) => ({
        sourceId: options.sourceId,
        contentId: entry.contentId,
        product: entry.product,
        version: entry.version,
        item: entry.item,
      })),
    ),
  );
  for (const path of orphans) {
    // Another source mirrored into the same target may still hold the file.
    if (options.catalog.referencesToPath(path) > 0) continue;
    if (await options.store.remove(path)) result.removedPaths.push(path);
  }
  return result;
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

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw cancelled(signal);
}

function cancelled(signal: AbortSignal): FerryError {
  const reason: unknown = signal.reason;
  return isFerryError(reason) ? reason : new FerryError('FERRY_CANCELLED', 'The mirror run was cancelled.');
}

export function describeFailure(failure: FileFailure): string {
  const first = failure.items[0];
  return `${failure.path}${first === undefined ? '' : ` (${describeItem(first)})`}: ${failure.error.message}`;
}
