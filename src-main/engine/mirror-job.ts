import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { dirname, join, resolve as resolvePath } from 'node:path';
import {
  Catalog,
  TREE_STATE_FOLDER,
  assertTreeStateFolders,
  lockLibrary,
  openTreeState,
  openTreeStateForReading,
  type LibraryLock,
  type LibraryRepairReport,
  type TreeRepairReport,
} from '../library/index.js';
import { applyPlan, retire, type ApplyResult, type FileStore, type Retirement } from '../mirror/apply.js';
import { describeItem, orphanedPaths, planMirror, type HeldEntry, type MirrorPlan, type WantedFile } from '../mirror/plan.js';
import { TreeStore } from '../mirror/tree-store.js';
import { downloadFile, type HttpClient } from '../net/index.js';
import { joinMirrorUrl, type Selection } from '../streams/index.js';
import { FerryError, redactUrl, type SerializedFerryError } from '../base/errors.js';
import { formatBytes } from '../base/format.js';
import { ProgressTracker, type Progress } from '../base/progress.js';
import { JOB_DEFAULTS } from './defaults.js';
import { createStreamClient, loadStream, type LoadStreamOptions, type LoadedStream, type RetryEvent, type StreamTrust } from './stream.js';

export interface TransferOptions {
  /** Files downloading at once. */
  concurrency?: number | undefined;
  /** Connections kept per origin. */
  connectionsPerHost?: number | undefined;
  /** How often progress events are sent. */
  progressIntervalMs?: number | undefined;
  /** Write downloads around the page cache where the file system allows it (default true). */
  directIo?: boolean | undefined;
}

export interface SelectionOptions {
  selection: Selection;
  max?: number | undefined;
  keep?: boolean | undefined;
}

/** Retries are reported through onEvent, as RetryEvents. */
export interface MirrorOptions extends Omit<LoadStreamOptions, 'client' | 'onRetry'>, SelectionOptions, TransferOptions {
  target: string;
  dryRun?: boolean | undefined;
  /** false records the metadata without fetching items (`--no-item-download`). */
  fetchItems?: boolean | undefined;
  verifyExisting?: boolean | undefined;
  onEvent?: ((event: JobEvent) => void) | undefined;
}

/** Everything a running job tells its face; the CLI renders these, the UI will too. */
export type JobEvent =
  | { type: 'loaded'; source: string; trust: StreamTrust; metadataFiles: number }
  | { type: 'repaired'; report: TreeRepairReport | LibraryRepairReport }
  | { type: 'plan'; plan: PlanSummary }
  | { type: 'progress'; progress: Progress }
  | { type: 'file-done'; path: string; outcome: 'fetched' | 'present' }
  | { type: 'file-failed'; path: string; url: string; error: SerializedFerryError }
  | { type: 'removed'; path: string }
  | { type: 'metadata-written'; paths: string[] }
  | RetryEvent;

export interface PlanSummary {
  /** sstream-mirror's lines: `+ product version item path N Mb`, `- ...`, then `N Mb change`. */
  referenceLines: string[];
  versionsAdded: number;
  versionsRemoved: number;
  /** Distinct files the selection wants after the run. */
  filesWanted: number;
  bytesWanted: number;
  /** Of those, files that must be fetched (a dry run counts a file of the right size as present). */
  filesToFetch: number;
  bytesToFetch: number;
  /** Files present that --verify-existing re-hashes; each that proves wrong is fetched again. */
  filesToVerify: number;
  bytesToVerify: number;
  filesToRemove: number;
  bytesToRemove: number;
  /** Items that cannot be mirrored, with the reason. */
  rejected: Array<{ item: string; error: SerializedFerryError }>;
}

export interface MirrorOutcome {
  jobId: string;
  dryRun: boolean;
  trust: StreamTrust;
  plan: PlanSummary;
  filesFetched: number;
  bytesFetched: number;
  filesPresent: number;
  removedPaths: string[];
  failures: Array<{ path: string; url: string; error: SerializedFerryError }>;
  metadataWritten: string[];
}

const MIB = 1024 * 1024;

/**
 * Throws FERRY_TARGET_NOT_DIRECTORY when `target`, or the nearest part of it that exists, is not
 * a directory (a file given as TARGET), before anything is fetched or written; otherwise the
 * first write would fail with a bare ENOTDIR. A missing TARGET is fine: it is created.
 */
async function assertTargetCanBeDirectory(target: string): Promise<void> {
  for (let current = target; ; current = dirname(current)) {
    const stats = await stat(current).catch(() => undefined);
    if (stats?.isDirectory() === true) return;
    if (stats !== undefined) {
      const message =
        current === target
          ? `TARGET is a file, not a directory: ${target}`
          : `${current} is a file, not a directory, so TARGET ${target} cannot be made inside it`;
      throw new FerryError('FERRY_TARGET_NOT_DIRECTORY', message, {
        path: current,
        hint: 'Give a directory for the mirror (a new one is created); nothing was written.',
      });
    }
    if (dirname(current) === current) return;
  }
}

/**
 * `ferry mirror`: make TARGET a SimpleStreams tree holding the selection, as sstream-mirror would,
 * but in parallel, resumable and verified; its own state lives in TARGET/.ferry/.
 */
export async function runMirror(options: MirrorOptions): Promise<MirrorOutcome> {
  const emit = options.onEvent ?? (() => undefined);
  const target = resolvePath(options.cwd ?? process.cwd(), options.target);
  const client = createClient(options);
  let lock: LibraryLock | undefined;
  try {
    await assertTargetCanBeDirectory(target);
    const stream = await loadStream({ ...options, client });
    // Two runs into one tree would write the same partial files and remove each other's temp
    // files. Taken once the metadata is verified, so a refused source creates no target; a dry
    // run changes nothing, so it neither waits for nor blocks a real one.
    if (options.dryRun !== true) {
      // The lock is the first write into .ferry/: a link there must be refused before it.
      await assertTreeStateFolders(target);
      lock = await lockLibrary(join(target, TREE_STATE_FOLDER), 'mirror');
    }
    emit({ type: 'loaded', source: stream.source.display, trust: stream.trust, metadataFiles: stream.metadataFiles.length });
    // A dry run writes nothing, not even .ferry/, so it needs no lock (see openTreeStateForReading).
    const state = options.dryRun === true ? await openTreeStateForReading(target) : await openTreeState(target);
    try {
      if (hasRepairs(state.repaired)) emit({ type: 'repaired', report: state.repaired });
      const store = new TreeStore(state.targetDir, state.catalog, state.temp);
      const sourceId = recordStreamSource(state.catalog, stream);
      const publish: Publish = async (retired) => {
        // Products files first and the index last, byte for byte as verified: MAAS never sees an
        // index naming files that are not there yet. A kill between two writes leaves old and new
        // products files side by side, each listing only files that are present, because nothing
        // is removed until the index is written. Re-spun files (new bytes at a path the published
        // metadata lists) waited in partial/ until now: renames only, right before the metadata.
        await store.publishStaged();
        for (const file of stream.metadataFiles) await store.writeMetadata(file.path, file.bytes);
        const metadataWritten = stream.metadataFiles.map((file) => file.path);
        emit({ type: 'metadata-written', paths: metadataWritten });
        // Files before rows: a kill in between leaves held items whose version the next run's plan
        // retires again, never a file no row remembers.
        const removedPaths = await retired.deleteFiles();
        retired.forgetItems();
        return { metadataWritten, removedPaths };
      };
      const outcome = await syncInto(stream, { store, catalog: state.catalog, sourceId, publish }, client, options, emit);
      return outcome;
    } finally {
      state.close();
    }
  } finally {
    await client.close();
    await lock?.release();
  }
}


/** A job's client (see createStreamClient): its retries, of metadata and files alike, become JobEvents. */
export function createClient(
  options: Pick<MirrorOptions, 'proxy' | 'env' | 'connectionsPerHost' | 'retry' | 'stallTimeoutMs' | 'onEvent'>,
): HttpClient {
  return createStreamClient({ ...options, onRetry: options.onEvent });
}

export function hasRepairs(report: TreeRepairReport | LibraryRepairReport): boolean {
  return Object.values(report).some((count) => typeof count === 'number' && count > 0);
}

/** Where syncInto puts files and records what is held: a mirror tree's state or the library. */
export interface SyncTarget {
  store: FileStore;
  catalog: Catalog;
  /** From recordStreamSource. */
  sourceId: number;
  /** The job's id when the caller has recorded the job already; otherwise a new one. */
  jobId?: string | undefined;
  /** Publishes the verified metadata (a tree's files, a library snapshot); called only for a complete run. */
  publish: Publish;
}

/**
 * Makes the run's metadata what readers see, then retires the versions it no longer lists (their
 * files and held items): removal comes after publishing, so a kill at any instant leaves published
 * metadata that lists only files present.
 */
export type Publish = (retired: Retirement) => Promise<{ metadataWritten: string[]; removedPaths: string[] }>;

export type SyncIntoOptions = SelectionOptions &
  TransferOptions &
  Pick<MirrorOptions, 'dryRun' | 'fetchItems' | 'verifyExisting' | 'signal'>;

/** The catalog's id for the stream's source; held items and snapshots are recorded under it. */
export function recordStreamSource(catalog: Catalog, stream: LoadedStream): number {
  return catalog.upsertSource(redactUrl(stream.source.entryUrl), stream.source.entryPath);
}

/**
 * Plan and apply against any file store; shared by `ferry mirror` (a tree) and `ferry sync` (the
 * library). All or nothing: only when every wanted file is present and verified and no selected
 * item was rejected does it publish (target.publish) and then remove the retired versions; any
 * failed file or rejected item leaves the previous published state and every held version as they
 * were, and is reported in `failures` (exit 1 in the CLI).
 */
export async function syncInto(
  stream: LoadedStream,
  target: SyncTarget,
  client: HttpClient,
  options: SyncIntoOptions,
  emit: (event: JobEvent) => void,
): Promise<MirrorOutcome> {
  const { store, catalog, sourceId } = target;
  const jobId = target.jobId ?? randomUUID();
  const signal = options.signal ?? new AbortController().signal;
  const held: HeldEntry[] = catalog.heldItems(sourceId);
  const plan = planMirror({
    products: stream.products,
    selection: options.selection,
    max: options.max,
    keep: options.keep ?? false,
    held,
    metadataPaths: stream.metadataFiles.map((file) => file.path),
  });
  const fetchItems = options.fetchItems ?? true;
  const missing = fetchItems ? await filesNotPresent(plan, store) : [];
  const summary = summarizePlan(plan, held, missing, fetchItems && options.verifyExisting === true);
  emit({ type: 'plan', plan: summary });

  const outcome: MirrorOutcome = {
    jobId,
    dryRun: options.dryRun === true,
    trust: stream.trust,
    plan: summary,
    filesFetched: 0,
    bytesFetched: 0,
    filesPresent: 0,
    removedPaths: [],
    failures: [],
    metadataWritten: [],
  };
  if (options.dryRun === true) return outcome;
  await assertFreeSpace(store, summary.bytesToFetch);
  const reportFailure = (path: string, error: FerryError): void => {
    const url = redactUrl(joinMirrorUrl(stream.source.baseUrl, path));
    const serialized = error.toJSON();
    emit({ type: 'file-failed', path, url, error: serialized });
    outcome.failures.push({ path, url, error: serialized });
  };

  const progress = new ProgressTracker({
    jobId,
    step: 'download',
    bytesTotal: summary.bytesToFetch,
    filesTotal: summary.filesToFetch,
    intervalMs: options.progressIntervalMs,
    emit: (snapshot) => {
      emit({ type: 'progress', progress: snapshot });
    },
  });
  let result: ApplyResult;
  try {
    result = await applyPlan(plan, {
      store,
      catalog,
      sourceId,
      concurrency: options.concurrency ?? JOB_DEFAULTS.concurrency,
      rehash: options.verifyExisting === true,
      fetchItems,
      progress,
      signal,
      onFileDone: (file, fileOutcome) => {
        emit({ type: 'file-done', path: file.path, outcome: fileOutcome });
      },
      fetch: (file, partialPath, fileSignal, onBytes) =>
        downloadFile(
          { url: joinMirrorUrl(stream.source.baseUrl, file.path), tempPath: partialPath, expectedSize: file.size, checksum: file.checksum },
          {
            client,
            signal: fileSignal,
            onBytes,
            directIo: options.directIo ?? true,
          },
        ),
    });
  } finally {
    progress.finish();
  }
  for (const failure of result.failures) reportFailure(failure.path, failure.error);
  // --no-item-download keeps its sstream-mirror meaning: the metadata without the items, so
  // items that could not be verified do not hold the metadata back there.
  if (fetchItems) for (const { item, error } of plan.rejected) reportFailure(item.path ?? describeItem(item), error);
  outcome.filesFetched = result.fetched.length;
  outcome.bytesFetched = result.fetched.reduce((sum, file) => sum + file.size, 0);
  outcome.filesPresent = result.present.length;
  if (outcome.failures.length > 0) return outcome;

  const published = await target.publish(retire(plan, held, { store, catalog, sourceId }));
  outcome.metadataWritten = published.metadataWritten;
  outcome.removedPaths = published.removedPaths;
  for (const path of published.removedPaths) emit({ type: 'removed', path });
  return outcome;
}

async function filesNotPresent(plan: MirrorPlan, store: FileStore): Promise<WantedFile[]> {
  const missing: WantedFile[] = [];
  for (const file of plan.wanted.values()) if (!(await store.peek(file))) missing.push(file);
  return missing;
}

async function assertFreeSpace(store: FileStore, bytesNeeded: number): Promise<void> {
  const free = await store.freeBytes();
  if (free !== undefined && bytesNeeded > free) {
    throw new FerryError(
      'FERRY_NOT_ENOUGH_SPACE',
      `The plan needs ${formatBytes(bytesNeeded)} more but only ${formatBytes(free)} is free where the files go.`,
      { expected: `${bytesNeeded} bytes`, actual: `${free} bytes free`, hint: 'Free some space, choose another target, or narrow the selection (filters, --max).' },
    );
  }
}

function summarizePlan(plan: MirrorPlan, held: readonly HeldEntry[], missing: readonly WantedFile[], rehash: boolean): PlanSummary {
  const lines: string[] = [];
  let bytesAdded = 0;
  for (const item of plan.added) {
    if (item.path === undefined || item.size === undefined) continue;
    bytesAdded += item.size;
    lines.push(`+ ${item.productName} ${item.versionName} ${item.itemName} ${item.path} ${Math.trunc(item.size / MIB)} Mb`);
  }
  let bytesRemoved = 0;
  for (const removal of plan.removals) {
    for (const entry of removal.items) {
      bytesRemoved += entry.size;
      lines.push(`- ${entry.product} ${entry.version} ${entry.item} ${entry.path} ${Math.trunc(entry.size / MIB)} Mb`);
    }
  }
  lines.push(`${Math.trunc((bytesAdded - bytesRemoved) / MIB)} Mb change`);
  const wanted = [...plan.wanted.values()];
  const removedSizes = new Map<string, number>();
  for (const removal of plan.removals) for (const entry of removal.items) removedSizes.set(entry.path, entry.size);
  const orphans = orphanedPaths(plan, held);
  const missingPaths = new Set(missing.map((file) => file.path));
  const toVerify = rehash ? wanted.filter((file) => !missingPaths.has(file.path)) : [];
  return {
    referenceLines: lines,
    versionsAdded: new Set(plan.added.map((item) => `${item.contentId}/${item.productName}/${item.versionName}`)).size,
    versionsRemoved: plan.removals.length,
    filesWanted: wanted.length,
    bytesWanted: wanted.reduce((sum, file) => sum + file.size, 0),
    filesToFetch: missing.length,
    bytesToFetch: missing.reduce((sum, file) => sum + file.size, 0),
    filesToVerify: toVerify.length,
    bytesToVerify: toVerify.reduce((sum, file) => sum + file.size, 0),
    filesToRemove: orphans.length,
    bytesToRemove: orphans.reduce((sum, path) => sum + (removedSizes.get(path) ?? 0), 0),
    rejected: plan.rejected.map(({ item, error }) => ({
      item: `${item.contentId}/${item.productName}/${item.versionName}/${item.itemName}`,
      error: error.toJSON(),
    })),
  };
}
