import { access } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import {
  BlobStore,
  CATALOG_FILE_NAME,
  Catalog,
  defaultLibraryDir,
  lockLibrary,
  openLibraryForReading,
  openTrustedLibrary,
  type BlobRecord,
  type JsonValue,
  type PartialFile,
  type SnapshotFile,
  type SnapshotSelection,
  type SourceRecord,
} from '../library/index.js';
import { readPublishedMetadata, wantedFromPublished, type PublishedMetadata } from '../mirror/published.js';
import { OR_SEPARATOR, compareVersionNames, parseSelection, resolveSource } from '../streams/index.js';
import { FerryError, describeError, isFerryError } from '../base/errors.js';
import type { GcOutcome } from './api.js';
import { publishedMetadataText } from './stream.js';

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

/** True when `dir` holds a library (its catalog database, catalog.db). */
export async function libraryExists(dir: string): Promise<boolean> {
  return pathExists(join(dir, CATALOG_FILE_NAME));
}

async function pathExists(path: string): Promise<boolean> {
  return access(path).then(
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
  path?: string | undefined;
  /** The filters as `ferry sync` takes them, groups joined by `--or`. */
  filters: string[];
  max?: number | undefined;
  keep: boolean;
  /** Keyring files the selection verifies with (absolute); empty: the bundled keyring. */
  keyringFiles: string[];
  /** false when it was saved with --no-verify. */
  verify: boolean;
  updatedAt: string;
}

export interface LibrarySource {
  url: string;
  entryPath: string;
  /** The metadata the library was last brought up to date with; undefined before the first complete sync. */
  latestSnapshot?:
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
    /** What the library takes on disk: every recorded blob found with its size, once (item files and metadata). */
    blobs: number;
    blobBytes: number;
    /** Recorded blobs that are gone from disk or have another size (deleted or changed by hand); the next sync repairs. */
    blobsMissing: number;
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
        versions: [...row.versions].sort(compareVersionNames),
        itemCount: row.itemCount,
        bytes: row.bytes,
      }),
    );
    // The catalog is as last recorded; a blob deleted or truncated by hand since is not on disk.
    const blobs = await presentBlobs(catalog.listBlobs(), library.blobs);
    return {
      libraryDir,
      exists,
      products,
      totals: {
        products: products.length,
        versions: products.reduce((sum, product) => sum + product.versions.length, 0),
        items: products.reduce((sum, product) => sum + product.itemCount, 0),
        itemBytes: products.reduce((sum, product) => sum + product.bytes, 0),
        blobs: blobs.present.length,
        blobBytes: blobs.present.reduce((sum, blob) => sum + blob.size, 0),
        blobsMissing: blobs.missing,
      },
      profiles: catalog.listSelections().map((saved) => ({
        name: saved.name,
        source: saved.source,
        path: saved.path ?? undefined,
        filters: selectionArguments(saved.filterGroups),
        max: saved.maxVersions ?? undefined,
        keep: saved.keep,
        keyringFiles: saved.keyringFiles?.slice() ?? [],
        verify: saved.verify !== false,
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
  /** The engine's id of this job, recorded as the catalog's. */
  jobId: string;
}

/**
 * `ferry gc`: deletes the blobs that nothing needs, and partial downloads nothing will resume.
 * Needed, and kept: a held item's blob, the metadata files of each source's latest snapshot, what
 * the selection recorded with that snapshot wants from that metadata, and what each saved
 * selection wants from its source's latest metadata (see digestsWantedByLatestMetadata). After a
 * failed run the latest snapshot is the previous one, so what it wants stays. The catalog must be trusted first (see
 * openTrustedLibrary: FERRY_CATALOG_LOST, FERRY_CATALOG_CORRUPT, FERRY_CATALOG_TOO_NEW); a blob
 * that startup repair adopts in this run was no candidate, so it is kept until the next gc.
 *
 * Files are deleted before their rows and before anything else is written (the lock is a symbolic
 * link, which takes no data block), so gc frees a disk that has no byte left. A kill in between
 * leaves rows without files that nothing references, which the next start drops as gc's. The
 * library is locked meanwhile, so a sync never sees a blob vanish between finding it present and
 * recording it as held. Throws those codes, FERRY_IO (in use, unreadable), FERRY_HASH_MISMATCH
 * (latest metadata changed on disk), FERRY_DISK_FULL.
 */
export async function runGc(options: GcOptions): Promise<GcOutcome> {
  const libraryDir = resolveLibraryDir(options);
  const dryRun = options.dryRun === true;
  const outcome: GcOutcome = { libraryDir, dryRun, jobId: undefined, removedBlobs: [], removedPartials: [], partialsKept: 0, bytesFreed: 0 };
  const describe = (plan: GcPlan): void => {
    outcome.removedBlobs = plan.blobs.map((blob) => ({ sha256: blob.sha256, size: blob.size }));
    outcome.removedPartials = plan.partials.map((partial) => ({ name: partial.name, size: partial.size }));
    outcome.partialsKept = plan.partialsKept;
    outcome.bytesFreed = [...plan.blobs, ...plan.partials].reduce((sum, file) => sum + file.size, 0);
  };
  if (dryRun) {
    // Changes nothing and so needs no lock; refuses what gc would refuse.
    const library = await openLibraryForReading(libraryDir, { trusted: true });
    try {
      describe(await planGc(library.catalog, library.blobs));
      return outcome;
    } finally {
      library.close();
    }
  }
  // A folder without a catalog or a store is no library: nothing to collect, and nothing created.
  if (!(await libraryExists(libraryDir)) && !(await pathExists(join(libraryDir, 'blobs')))) return outcome;

  const lock = await lockLibrary(libraryDir, 'gc');
  try {
    let plan: GcPlan | undefined;
    const library = await openTrustedLibrary(libraryDir, {
      beforeRepair: async (catalog, blobs) => {
        plan = await planGc(catalog, blobs);
        describe(plan);
        for (const blob of plan.blobs) await blobs.remove(blob.sha256);
        for (const partial of plan.partials) await blobs.temp.removePartial(partial);
        // Now that space is free; a kill before this commit leaves rows that repair drops as gc's.
        const deleted = plan.blobs;
        catalog.transaction(() => {
          for (const blob of deleted) catalog.removeBlob(blob.sha256);
        });
      },
    });
    try {
      const jobId = library.catalog.startJob('gc', options.jobId);
      outcome.jobId = jobId;
      library.catalog.finishJob(
        jobId,
        'succeeded',
        toJsonValue({ blobsRemoved: outcome.removedBlobs.length, partialsRemoved: outcome.removedPartials.length, bytesFreed: outcome.bytesFreed }),
      );
      return outcome;
    } finally {
      library.close();
    }
  } finally {
    await lock.release();
  }
}

interface GcPlan {
  blobs: BlobRecord[];
  partials: PartialFile[];
  partialsKept: number;
}

/** What gc deletes, read from the catalog as it is (before repair) and the latest metadata on disk. */
async function planGc(catalog: Catalog, blobs: BlobStore): Promise<GcPlan> {
  const listed = await digestsWantedByLatestMetadata(catalog, blobs);
  const partials = await blobs.temp.partials();
  const stale = stalePartials(partials, catalog);
  // A row whose file is already gone (a gc killed between the two) frees nothing; repair drops it.
  const unneeded = catalog.unreferencedBlobs().filter((blob) => !listed.has(blob.sha256));
  return {
    blobs: (await presentBlobs(unneeded, blobs)).present,
    partials: stale,
    partialsKept: partials.length - stale.length,
  };
}

/** A sha256 as metadata spells it: 64 hex digits, whatever the key or the signature around it. */
const SHA256_IN_TEXT = /(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])/g;

/**
 * The blobs the latest metadata of each source needs, besides its own files: what the selection
 * recorded with the latest snapshot wants from it, and what every saved selection of that source
 * wants from it (each is the selection and --max applied to the published versions, as
 * sstream-mirror would mirror them: wantedFromPublished). A snapshot recorded without its selection
 * (before catalog schema 3), or metadata that no longer parses, keeps every sha256 written in its
 * text: a superset, decided without a parser. The metadata is read from its blobs and checked
 * against their digests; a file that is gone or changed leaves gc unable to tell what it protects,
 * so nothing is deleted (FERRY_IO, FERRY_HASH_MISMATCH).
 */
async function digestsWantedByLatestMetadata(catalog: Catalog, blobs: BlobStore): Promise<Set<string>> {
  const digests = new Set<string>();
  const profiles = savedSelectionsBySource(catalog);
  for (const source of catalog.listSources()) {
    const snapshot = catalog.latestSnapshot(source.id);
    if (snapshot === undefined) continue;
    const files = new Map<string, Buffer>();
    for (const file of snapshot.files) files.set(file.path, await readMetadataBlob(blobs, source, file));
    const recorded = snapshot.selection;
    const metadata = recorded === undefined ? undefined : await publishedOrUndefined(source.entryPath, files);
    if (recorded === undefined || metadata === undefined) {
      for (const bytes of files.values()) {
        for (const match of bytes.toString('latin1').matchAll(SHA256_IN_TEXT)) digests.add(match[0].toLowerCase());
      }
      continue;
    }
    for (const selection of [recorded, ...(profiles.get(source.id) ?? [])]) {
      const selected = parseSelection(selectionArguments(selection.filterGroups));
      const { wanted } = wantedFromPublished(metadata.products, selected, selection.maxVersions ?? undefined);
      // An item listing only sha512 or md5 is stored under the sha256 of its bytes, which only its
      // held item records; held items' blobs are kept anyway.
      for (const file of wanted.values()) if (file.sha256 !== undefined) digests.add(file.sha256.toLowerCase());
    }
  }
  return digests;
}

/** Saved selections by the id of the source they read from (a selection of a source never synced has none). */
function savedSelectionsBySource(catalog: Catalog): Map<number, SnapshotSelection[]> {
  const bySource = new Map<number, SnapshotSelection[]>();
  for (const saved of catalog.listSelections()) {
    const source = catalog.findSource(resolveSource(saved.source, { path: saved.path ?? undefined }).entryUrl);
    if (source === undefined) continue;
    bySource.set(source.id, [...(bySource.get(source.id) ?? []), saved]);
  }
  return bySource;
}

async function readMetadataBlob(blobs: BlobStore, source: SourceRecord, file: SnapshotFile): Promise<Buffer> {
  try {
    return await blobs.readBytes(file.sha256);
  } catch (error) {
    if (!isFerryError(error)) throw error;
    throw new FerryError(error.code, `Nothing was deleted: the latest metadata of ${source.url} (${file.path}) cannot be read, so what it needs is unknown. ${error.message}`, {
      path: blobs.pathFor(file.sha256),
      cause: error,
      hint: 'Sync that source again: it drops the damaged metadata and records it again; then collect garbage again.',
    });
  }
}

/**
 * The snapshot's metadata as published, or undefined when this build cannot read it whole (it no
 * longer parses, or an index lists a file the snapshot lacks): gc then falls back to the text.
 */
async function publishedOrUndefined(entryPath: string, files: ReadonlyMap<string, Buffer>): Promise<PublishedMetadata | undefined> {
  try {
    const metadata = await readPublishedMetadata(entryPath, (path) => {
      const bytes = files.get(path);
      return bytes === undefined ? undefined : publishedMetadataText(path, bytes);
    });
    return metadata.unpublished.length === 0 && metadata.products.length > 0 ? metadata : undefined;
  } catch (error) {
    if (isFerryError(error)) return undefined;
    throw error;
  }
}

/** Splits recorded blobs into those on disk with their recorded size and a count of the others. */
async function presentBlobs(records: readonly BlobRecord[], blobs: BlobStore): Promise<{ present: BlobRecord[]; missing: number }> {
  const present: BlobRecord[] = [];
  for (const record of records) {
    if (await blobs.has(record.sha256, record.size)) present.push(record);
  }
  return { present, missing: records.length - present.length };
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
