import { lockLibrary, openLibrary, openLibraryForReading, type Catalog, type JsonValue, type Library, type SnapshotFile, type SnapshotSelection } from '../library/index.js';
import { LibraryStore } from '../mirror/library-store.js';
import type { Selection } from '../streams/index.js';
import { resolve as resolvePath } from 'node:path';
import { FerryError } from '../base/errors.js';
import type { StreamRef, StreamSettings, SyncInput, SyncOutcome } from './api.js';
import { acquireStream, isStreamId, type JobContext } from './job-context.js';
import { selectionFromGroups } from './job-input.js';
import { recordJobFailure, resolveLibraryDir, toJsonValue } from './library.js';
import { eachMetadataFile, hasRepairs, recordStreamSource, syncInto, type Publish } from './mirror-job.js';
import { reloadableSource, type LoadedStream } from './stream.js';

/** What one run syncs, from the command line or from a saved selection. */
interface SyncRequest {
  stream: StreamRef;
  selection: Selection;
  max: number | undefined;
  keep: boolean;
  /** Save the selection under this name once its source has loaded. */
  saveAs: string | undefined;
}

/**
 * The `sync` job (`ferry sync`): brings the library up to date with a selection of a stream. Item
 * files become content-addressed blobs; the verified metadata is recorded last, as a snapshot of
 * its raw bytes, and only when every wanted file arrived, so the latest snapshot always describes
 * complete content. Throws FERRY_PROFILE_UNKNOWN, the codes of loadStream (when the job loads its
 * stream) and of opening the library (FERRY_IO, FERRY_CATALOG_*), FERRY_NOT_ENOUGH_SPACE,
 * FERRY_DISK_FULL and FERRY_CANCELLED; a file that fails is a failure in the outcome, not a throw.
 */
export async function runSync(input: SyncInput, context: JobContext): Promise<SyncOutcome> {
  const libraryDir = resolveLibraryDir({ library: input.library, env: context.env, cwd: context.cwd });
  const dryRun = input.dryRun === true;
  // A dry run changes nothing, so it neither waits for nor blocks another job.
  const lock = dryRun ? undefined : await lockLibrary(libraryDir, 'sync');
  try {
    const library = dryRun ? await openLibraryForReading(libraryDir) : await openLibrary(libraryDir);
    try {
      const request = syncRequest(input, library.catalog, libraryDir);
      const recorded = dryRun ? undefined : library.catalog.startJob('sync', context.jobId);
      const jobContext = recorded === undefined ? context : { ...context, emit: recordingMainEvents(library.catalog, recorded, context.emit) };
      try {
        if (hasRepairs(library.repaired)) jobContext.emit({ type: 'repaired', report: library.repaired });
        const outcome = await syncLibrary(library, request, input, jobContext);
        if (recorded !== undefined) library.catalog.finishJob(recorded, outcome.failures.length === 0 ? 'succeeded' : 'failed', jobSummary(outcome));
        return { ...outcome, libraryDir, profile: input.profile };
      } catch (error) {
        if (recorded !== undefined) recordJobFailure(library.catalog, recorded, error);
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
  input: SyncInput,
  context: JobContext,
): Promise<Omit<SyncOutcome, 'libraryDir' | 'profile'>> {
  const { stream, client, settings } = await acquireStream(request.stream, context, input);
  try {
    context.emit({ type: 'loaded', source: stream.source.display, trust: stream.trust, metadataFiles: stream.metadataFiles.length });
    if (request.saveAs !== undefined && input.dryRun !== true) saveProfile(library.catalog, request.saveAs, request, stream, settings, context.cwd);
    const sourceId = recordStreamSource(library.catalog, stream);
    const store = new LibraryStore(library, sourceId);
    let snapshotId: number | undefined;
    const publish: Publish = async (retired) => {
      const files = await writeMetadataBlobs(library, stream, context, input.progressIntervalMs);
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
      context.emit({ type: 'metadata-written', paths: metadataWritten });
      return { metadataWritten, removedPaths: await retired.deleteFiles() };
    };
    const outcome = await syncInto(
      stream,
      { store, catalog: library.catalog, sourceId, publish },
      client,
      { ...input, selection: request.selection, max: request.max, keep: request.keep },
      context,
    );
    return { ...outcome, snapshotId };
  } finally {
    await client.close();
  }
}

/** The keyring files a run of a saved selection verifies with: the run's own (`--keyring`) when it names any, else the saved ones (undefined: the bundled keyring). Shared by sync and export. */
export function profileKeyringFiles(given: readonly string[] | undefined, saved: { readonly keyringFiles?: readonly string[] | undefined }): string[] | undefined {
  return given !== undefined && given.length > 0 ? [...given] : saved.keyringFiles?.slice();
}

function syncRequest(input: SyncInput, catalog: Catalog, libraryDir: string): SyncRequest {
  const given = input.stream;
  if (given !== undefined && (isStreamId(given) || 'source' in given)) {
    return {
      stream: given,
      selection: selectionFromGroups(input.selection ?? []),
      max: input.max,
      keep: input.keep === true,
      saveAs: input.profile,
    };
  }
  // validateJobInput has made sure a profile is named when no stream is.
  const name = input.profile ?? '';
  const saved = catalog.getSelection(name);
  if (saved === undefined) {
    const known = catalog.listSelections().map((selection) => selection.name);
    // The names are facts (asked, saved); the face says how to save one.
    throw new FerryError('FERRY_PROFILE_UNKNOWN', `No selection named ${JSON.stringify(name)} is saved in the library ${libraryDir}.`, {
      path: libraryDir,
      actual: name,
      ...(known.length === 0 ? {} : { expected: known.join(', ') }),
      hint: known.length === 0 ? 'Save a selection under this name first.' : `Saved selections: ${known.join(', ')}.`,
    });
  }
  // The saved trust applies unless this run names its own keyring or skips verification; --max may
  // be given for one run (validateJobInput refuses the rest of a selection).
  const keyringFiles = profileKeyringFiles(given?.keyringFiles, saved);
  return {
    stream: { ...given, keyringFiles, verify: given?.verify === false ? false : saved.verify, source: saved.source, path: saved.path ?? undefined },
    selection: selectionFromGroups(saved.filterGroups.map((group) => [...group])),
    max: input.max ?? saved.maxVersions ?? undefined,
    keep: saved.keep,
    saveAs: undefined,
  };
}

/** Saves the source as reloadableSource names it, so that a rerun from another directory reads the very same stream. */
function saveProfile(catalog: Catalog, name: string, request: SyncRequest, stream: LoadedStream, settings: StreamSettings, cwd: string): void {
  const { source, path } = reloadableSource(stream.source);
  // Keyring files by absolute path, so that a rerun from another directory checks the same keys.
  // The settings are the stream's as it was loaded, also when the sync names it by id (the app),
  // so a profile saved there keeps its keyring and its verify setting.
  const keyringFiles = settings.keyringFiles === undefined || settings.keyringFiles.length === 0 ? undefined : settings.keyringFiles.map((file) => resolvePath(cwd, file));
  catalog.saveSelection({
    name,
    source,
    path: path ?? null,
    ...snapshotSelection(request),
    keyringFiles,
    verify: settings.verify === false ? false : undefined,
  });
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
async function writeMetadataBlobs(library: Library, stream: LoadedStream, context: JobContext, intervalMs: number | undefined): Promise<SnapshotFile[]> {
  const files: SnapshotFile[] = [];
  await eachMetadataFile(stream, context, intervalMs, async (file) => {
    const blob = await library.blobs.writeBytes(file.bytes);
    library.catalog.recordBlob(blob);
    files.push({ path: file.path, sha256: blob.sha256, size: blob.size });
  });
  return files;
}

/**
 * The job log keeps what explains a run afterwards; per-file and progress events stay with the
 * face, and the outcome events are the registry's, sent after this job's code has returned.
 */
function recordingMainEvents(catalog: Catalog, jobId: string, emit: JobContext['emit']): JobContext['emit'] {
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
        const { referenceLines, entries, ...counts } = event.plan;
        catalog.addJobEvent(jobId, 'plan', toJsonValue({ ...counts, changeLines: referenceLines.length, changeItems: entries.length }));
        return;
      }
      case 'progress':
      case 'file-done':
      case 'removed':
      case 'retry':
      case 'result':
      case 'failed':
      case 'cancelled':
      case 'paused':
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
