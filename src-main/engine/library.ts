import { access } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import {
  CATALOG_FILE_NAME,
  Catalog,
  defaultLibraryDir,
  lockLibrary,
  openLibrary,
  openLibraryForReading,
  type JsonValue,
  type PartialFile,
  type SnapshotFile,
} from '../library/index.js';
import { OR_SEPARATOR } from '../streams/index.js';
import { describeError, isFerryError } from './errors.js';

export interface LibraryLocationOptions {
  /** The library folder; default: $FERRY_LIBRARY, then the platform's folder for application data. */
  library?: string | undefined;
  env?: NodeJS.ProcessEnv | undefined;
  cwd?: string | undefined;
}

/** Absolute. `FERRY_LIBRARY` lets scripts and tests point every command at one library. */
export function resolveLibraryDir(options: LibraryLocationOptions): string {
  const env = options.env ?? process.env;
  const chosen = options.library ?? (env.FERRY_LIBRARY === '' ? undefined : env.FERRY_LIBRARY);
  if (chosen !== undefined) return resolvePath(options.cwd ?? process.cwd(), chosen);
  return defaultLibraryDir(env, process.platform, homedir());
}

async function libraryExists(dir: string): Promise<boolean> {
  return access(join(dir, CATALOG_FILE_NAME)).then(
    () => true,
    () => false,
  );
}

/** A saved selection's filter groups as command-line arguments (groups joined by `--or`). */
export function selectionArguments(filterGroups: readonly (readonly string[])[]): string[] {
  return filterGroups.flatMap((group, index) => (index === 0 ? [...group] : [OR_SEPARATOR, ...group]));
}

/** Any plain object as the JSON the catalog stores (optional fields left out, as JSON.stringify does). */
export function toJsonValue(value: unknown): JsonValue {
  return JSON.parse(JSON.stringify(value)) as JsonValue;
}

/**
 * Records a job's failure without hiding it: if the catalog cannot be written either (the disk is
 * full, say), the original error is still the one the caller reports.
 */
export function recordJobFailure(catalog: Catalog, jobId: string, error: unknown): void {
  try {
    const detail = isFerryError(error) ? error.toJSON() : { message: describeError(error) };
    catalog.addJobEvent(jobId, 'error', toJsonValue(detail));
    catalog.finishJob(jobId, isFerryError(error, 'FERRY_CANCELLED') ? 'cancelled' : 'failed', toJsonValue({ error: detail }));
  } catch {
    // See above: the first failure is the one to report.
  }
}

// `ferry library`

export interface LibraryProduct {
  sourceUrl: string;
  contentId: string;
  product: string;
  /** Oldest first, in the plain string order versions are compared in. */
  versions: string[];
  itemCount: number;
  /** The sizes of the held items added up; a file shared with another product counts in both. */
  bytes: number;
}

export interface LibraryProfile {
  name: string;
  source: string;
  /** The entry file relative to the source (--path), when the source does not name it. */
  path: string | undefined;
  /** The filters as `ferry sync` takes them, groups joined by `--or`. */
  filters: string[];
  max: number | undefined;
  keep: boolean;
  updatedAt: string;
}

export interface LibrarySource {
  url: string;
  entryPath: string;
  /** The metadata the library was last brought up to date with; undefined before the first complete sync. */
  latestSnapshot:
    | { id: number; fetchedAt: string; signed: boolean; keyringFingerprints: string[]; files: SnapshotFile[] }
    | undefined;
}

export interface LibrarySummary {
  libraryDir: string;
  /** false when there is no library at libraryDir yet (everything else is then empty). */
  exists: boolean;
  products: LibraryProduct[];
  totals: {
    products: number;
    versions: number;
    items: number;
    /** Item sizes added up, shared files counted once per item. */
    itemBytes: number;
    /** What the library takes on disk: every stored blob once (item files and metadata). */
    blobs: number;
    blobBytes: number;
  };
  profiles: LibraryProfile[];
  sources: LibrarySource[];
}

/** `ferry library`: what the library holds, per product, with totals, saved selections and snapshots. */
export async function runLibrarySummary(options: LibraryLocationOptions = {}): Promise<LibrarySummary> {
  const libraryDir = resolveLibraryDir(options);
  const exists = await libraryExists(libraryDir);
  const library = await openLibraryForReading(libraryDir);
  try {
    const { catalog } = library;
    const products = catalog.librarySummary().map(
      (row): LibraryProduct => ({
        sourceUrl: row.sourceUrl,
        contentId: row.contentId,
        product: row.product,
        versions: [...row.versions],
        itemCount: row.itemCount,
        bytes: row.bytes,
      }),
    );
    const blobs = catalog.listBlobs();
    return {
      libraryDir,
      exists,
      products,
      totals: {
        products: products.length,
        versions: products.reduce((sum, product) => sum + product.versions.length, 0),
        items: products.reduce((sum, product) => sum + product.itemCount, 0),
        itemBytes: products.reduce((sum, product) => sum + product.bytes, 0),
        blobs: blobs.length,
        blobBytes: blobs.reduce((sum, blob) => sum + blob.size, 0),
      },
      profiles: catalog.listSelections().map((saved) => ({
        name: saved.name,
        source: saved.source,
        path: saved.path ?? undefined,
        filters: selectionArguments(saved.filterGroups),
        max: saved.maxVersions ?? undefined,
        keep: saved.keep,
        updatedAt: saved.updatedAt,
      })),
      sources: catalog.listSources().map((source): LibrarySource => {
        const snapshot = catalog.latestSnapshot(source.id);
        return {
          url: source.url,
          entryPath: source.entryPath,
          latestSnapshot:
            snapshot === undefined
              ? undefined
              : {
                  id: snapshot.id,
                  fetchedAt: snapshot.fetchedAt,
                  signed: snapshot.signed,
                  keyringFingerprints: [...snapshot.keyringFingerprints],
                  files: [...snapshot.files],
                },
        };
      }),
    };
  } finally {
    library.close();
  }
}

// `ferry gc`

export interface GcOptions extends LibraryLocationOptions {
  /** List what would be removed and remove nothing. */
  dryRun?: boolean | undefined;
}

export interface GcOutcome {
  libraryDir: string;
  dryRun: boolean;
  /** The job recorded in the catalog; undefined for a dry run, which records nothing. */
  jobId: string | undefined;
  removedBlobs: Array<{ sha256: string; size: number }>;
  removedPartials: Array<{ name: string; size: number }>;
  /** Partial downloads kept because the last sync did not finish and a rerun resumes them. */
  partialsKept: number;
  bytesFreed: number;
}

/**
 * `ferry gc`: deletes the blobs that no held item and no file of a source's latest snapshot needs,
 * and partial downloads nothing will resume. The library is locked meanwhile, so a sync can never
 * see a blob vanish between finding it present and recording it as held.
 */
export async function runGc(options: GcOptions = {}): Promise<GcOutcome> {
  const libraryDir = resolveLibraryDir(options);
  const dryRun = options.dryRun === true;
  // A dry run changes nothing and so needs no lock; a missing library has nothing to collect.
  const lock = !dryRun && (await libraryExists(libraryDir)) ? await lockLibrary(libraryDir, 'gc') : undefined;
  try {
    const library = lock === undefined ? await openLibraryForReading(libraryDir) : await openLibrary(libraryDir);
    try {
      const { catalog, blobs } = library;
      const unreferenced = catalog.unreferencedBlobs();
      const partials = await blobs.temp.partials();
      const stale = stalePartials(partials, catalog);
      const outcome: GcOutcome = {
        libraryDir,
        dryRun,
        jobId: undefined,
        removedBlobs: unreferenced.map((blob) => ({ sha256: blob.sha256, size: blob.size })),
        removedPartials: stale.map((partial) => ({ name: partial.name, size: partial.size })),
        partialsKept: partials.length - stale.length,
        bytesFreed: [...unreferenced, ...stale].reduce((sum, file) => sum + file.size, 0),
      };
      if (dryRun || lock === undefined) return outcome;

      const jobId = catalog.startJob('gc');
      outcome.jobId = jobId;
      try {
        for (const blob of unreferenced) {
          // Row first, then the file (see Catalog.removeBlob): a crash in between leaves a file
          // without a row, which the next start re-adopts after hashing and the next gc removes.
          catalog.removeBlob(blob.sha256);
          await blobs.remove(blob.sha256);
        }
        for (const partial of stale) await blobs.temp.removePartial(partial);
        catalog.finishJob(
          jobId,
          'succeeded',
          toJsonValue({ blobsRemoved: unreferenced.length, partialsRemoved: stale.length, bytesFreed: outcome.bytesFreed }),
        );
      } catch (error) {
        recordJobFailure(catalog, jobId, error);
        throw error;
      }
      return outcome;
    } finally {
      library.close();
    }
  } finally {
    await lock?.release();
  }
}

/**
 * Partial downloads that nothing will resume: those whose bytes are already a complete blob (every
 * held item has its blob, so none needs them), and every other one not written during the last
 * sync, if that sync did not finish. Its rerun continues those; anything else was either completed
 * since or left by a selection that was not run again.
 */
function stalePartials(partials: readonly PartialFile[], catalog: Catalog): PartialFile[] {
  const lastSync = catalog.latestJob('sync');
  const resumableSinceMs = lastSync === undefined || lastSync.status === 'succeeded' ? Infinity : Date.parse(lastSync.startedAt);
  return partials.filter((partial) => catalog.getBlob(partial.key) !== undefined || partial.mtimeMs < resumableSinceMs);
}
