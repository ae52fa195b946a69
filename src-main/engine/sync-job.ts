import { lockLibrary, openLibrary, openLibraryForReading, type Catalog, type JsonValue, type Library, type SnapshotFile, type SnapshotSelection } from '../library/index.js';
import { LibraryStore } from '../mirror/library-store.js';
import { parseSelection, resolveSource, type Selection } from '../streams/index.js';
import { FerryError } from '../base/errors.js';
import {
  recordJobFailure,
  resolveLibraryDir,
  selectionArguments,
  toJsonValue,
  type LibraryLocationOptions,
} from './library.js';
import {
  createClient,
  hasRepairs,
  recordStreamSource,
  syncInto,
  type JobEvent,
  type MirrorOutcome,
  type Publish,
  type TransferOptions,
} from './mirror-job.js';
import { loadStream, type LoadStreamOptions, type LoadedStream } from './stream.js';

export interface SyncOptions extends Omit<LoadStreamOptions, 'client' | 'source' | 'onRetry'>, LibraryLocationOptions, TransferOptions {
  /** What to sync from; may be left out when `profile` names a saved selection. */
  source?: string | undefined;
  /** Required with `source` (an empty selection selects everything). */
  selection?: Selection | undefined;
  max?: number | undefined;
  keep?: boolean | undefined;
  /** With `source`: the selection is saved under this name. Alone: the saved selection is run. */
  profile?: string | undefined;
  dryRun?: boolean | undefined;
  verifyExisting?: boolean | undefined;
  onEvent?: ((event: JobEvent) => void) | undefined;
}

export interface SyncOutcome extends MirrorOutcome {
  libraryDir: string;
  /** The saved selection that was run or saved, if any. */
  profile: string | undefined;
  /** The snapshot recorded for this run's metadata; undefined after failures or in a dry run. */
  snapshotId: number | undefined;
}

/** What one run syncs, from the command line or from a saved selection. */
interface SyncRequest {
  source: string;
  /** The entry file relative to the source (--path), when the source does not name it. */
  path: string | undefined;
  selection: Selection;
  max: number | undefined;
  keep: boolean;
  /** Save the selection under this name once its source has loaded. */
  saveAs: string | undefined;
}

/**
 * `ferry sync`: brings the library up to date with a selection of a stream. Item files become
 * content-addressed blobs; the verified metadata is recorded last, as a snapshot of its raw bytes,
 * and only when every wanted file arrived, so the latest snapshot always describes complete content.
 */
export async function runSync(options: SyncOptions): Promise<SyncOutcome> {
  const emit = options.onEvent ?? (() => undefined);
  const libraryDir = resolveLibraryDir(options);
  const dryRun = options.dryRun === true;
  // A dry run changes nothing, so it neither waits for nor blocks another job.
  const lock = dryRun ? undefined : await lockLibrary(libraryDir, 'sync');
  try {
    const library = dryRun ? await openLibraryForReading(libraryDir) : await openLibrary(libraryDir);
    try {
      const request = syncRequest(options, library.catalog, libraryDir);
      const jobId = dryRun ? undefined : library.catalog.startJob('sync');
      const emitAndRecord = jobId === undefined ? emit : recordingMainEvents(library.catalog, jobId, emit);
      try {
        if (hasRepairs(library.repaired)) emitAndRecord({ type: 'repaired', report: library.repaired });
        const outcome = await syncLibrary(library, request, { ...options, jobId }, emitAndRecord);
        if (jobId !== undefined) library.catalog.finishJob(jobId, outcome.failures.length === 0 ? 'succeeded' : 'failed', jobSummary(outcome));
        return { ...outcome, libraryDir, profile: options.profile };
      } catch (error) {
        if (jobId !== undefined) recordJobFailure(library.catalog, jobId, error);
        throw error;
      }
    } finally {
      library.close();
    }
  } finally {
    await lock?.release();
  }
}

async function syncLibrary(
  library: Library,
  request: SyncRequest,
  options: SyncOptions & { jobId: string | undefined },
  emit: (event: JobEvent) => void,
): Promise<Omit<SyncOutcome, 'libraryDir' | 'profile'>> {
  const client = createClient(options);
  try {
    const stream = await loadStream({ ...options, source: request.source, path: request.path, client });
    emit({ type: 'loaded', source: stream.source.display, trust: stream.trust, metadataFiles: stream.metadataFiles.length });
    if (request.saveAs !== undefined && options.dryRun !== true) saveProfile(library.catalog, request.saveAs, request, stream);
    const sourceId = recordStreamSource(library.catalog, stream);
    const store = new LibraryStore(library, sourceId);
    let snapshotId: number | undefined;
    const publish: Publish = async (retired) => {
      const files = await writeMetadataBlobs(library, stream);
      const { trust } = stream;
      // The snapshot and the retired versions' held items change in one transaction: gc never sees
      // a latest snapshot beside held items it no longer lists, nor the reverse.
      library.catalog.transaction(() => {
        snapshotId = library.catalog.recordSnapshot(
          sourceId,
          files,
          trust.kind === 'verified',
          trust.kind === 'verified' ? trust.signers : [],
          snapshotSelection(request),
        );
        retired.forgetItems();
      });
      const metadataWritten = stream.metadataFiles.map((file) => file.path);
      emit({ type: 'metadata-written', paths: metadataWritten });
      return { metadataWritten, removedPaths: await retired.deleteFiles() };
    };
    const outcome = await syncInto(
      stream,
      { store, catalog: library.catalog, sourceId, jobId: options.jobId, publish },
      client,
      { ...options, selection: request.selection, max: request.max, keep: request.keep },
      emit,
    );
    return { ...outcome, snapshotId };
  } finally {
    await client.close();
  }
}

function syncRequest(options: SyncOptions, catalog: Catalog, libraryDir: string): SyncRequest {
  if (options.source !== undefined) {
    return {
      source: options.source,
      path: options.path,
      selection: options.selection ?? parseSelection([]),
      max: options.max,
      keep: options.keep === true,
      saveAs: options.profile,
    };
  }
  const name = options.profile;
  if (name === undefined) {
    throw new FerryError('FERRY_USAGE', 'Name a SOURCE to sync, or a saved selection with --profile NAME.', {
      hint: 'For example: ferry sync --profile noble stable os=ubuntu release=noble (saves it), then: ferry sync --profile noble',
    });
  }
  if (options.selection !== undefined || options.max !== undefined || options.keep === true) {
    throw new FerryError('FERRY_USAGE', `--profile ${name} without a SOURCE runs the saved selection exactly as it was saved.`, {
      hint: `To change it, give the SOURCE and filters again with --profile ${name}.`,
    });
  }
  const saved = catalog.getSelection(name);
  if (saved === undefined) {
    const known = catalog.listSelections().map((selection) => selection.name);
    throw new FerryError('FERRY_PROFILE_UNKNOWN', `No selection named ${JSON.stringify(name)} is saved in the library ${libraryDir}.`, {
      hint:
        known.length === 0
          ? `Save one first: ferry sync --profile ${name} SOURCE [filters...]`
          : `Saved selections: ${known.join(', ')}. Or save this one: ferry sync --profile ${name} SOURCE [filters...]`,
    });
  }
  return {
    source: saved.source,
    path: saved.path ?? undefined,
    selection: parseSelection(selectionArguments(saved.filterGroups)),
    max: saved.maxVersions ?? undefined,
    keep: saved.keep,
    saveAs: undefined,
  };
}

/**
 * Saves the source as the URL of its entry file, so that a rerun from another directory (or of a
 * preset whose address changes one day) reads the very same stream. An entry file that its URL
 * alone does not find again (one given with --path outside streams/v1/) is saved as the mirror
 * base and the path.
 */
function saveProfile(catalog: Catalog, name: string, request: SyncRequest, stream: LoadedStream): void {
  const { baseUrl, entryPath, entryUrl } = stream.source;
  const reread = resolveSource(entryUrl);
  const foundByUrl = reread.baseUrl === baseUrl && reread.entryPath === entryPath;
  catalog.saveSelection({ name, source: foundByUrl ? entryUrl : baseUrl, path: foundByUrl ? null : entryPath, ...snapshotSelection(request) });
}

/** The request's selection as the catalog stores it, for a saved selection and for the snapshot its run records. */
function snapshotSelection(request: SyncRequest): SnapshotSelection {
  return {
    filterGroups: request.selection.groups.map((group) => group.map((filter) => filter.expression)),
    maxVersions: request.max ?? null,
    keep: request.keep,
  };
}

/** The verified metadata, byte for byte, as blobs (each file before its row), for a snapshot to list. */
async function writeMetadataBlobs(library: Library, stream: LoadedStream): Promise<SnapshotFile[]> {
  const files: SnapshotFile[] = [];
  for (const file of stream.metadataFiles) {
    const blob = await library.blobs.writeBytes(file.bytes);
    library.catalog.recordBlob(blob);
    files.push({ path: file.path, sha256: blob.sha256, size: blob.size });
  }
  return files;
}

/** The job log keeps what explains a run afterwards; per-file and progress events stay with the face. */
function recordingMainEvents(catalog: Catalog, jobId: string, emit: (event: JobEvent) => void): (event: JobEvent) => void {
  return (event) => {
    emit(event);
    switch (event.type) {
      case 'loaded':
      case 'repaired':
      case 'file-failed':
      case 'metadata-written':
        catalog.addJobEvent(jobId, event.type, toJsonValue(event));
        return;
      case 'plan': {
        // The +/- lines list every item; the counts and rejections are what a history needs.
        const { referenceLines, ...counts } = event.plan;
        catalog.addJobEvent(jobId, 'plan', toJsonValue({ ...counts, changeLines: referenceLines.length }));
        return;
      }
      case 'progress':
      case 'file-done':
      case 'removed':
      case 'retry':
        return;
    }
  };
}

function jobSummary(outcome: Omit<SyncOutcome, 'libraryDir' | 'profile'>): JsonValue {
  return toJsonValue({
    filesFetched: outcome.filesFetched,
    bytesFetched: outcome.bytesFetched,
    filesPresent: outcome.filesPresent,
    failures: outcome.failures.length,
    snapshotId: outcome.snapshotId,
  });
}
