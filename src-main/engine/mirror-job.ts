import { lstat, readFile, rm, stat } from 'node:fs/promises';
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
import { flattenProducts, joinMirrorUrl, resolveSource, type Selection } from '../streams/index.js';
import { readPublishedMetadata } from '../mirror/published.js';
import { FerryError, redactUrl } from '../base/errors.js';
import { formatBytes } from '../base/format.js';
import type { MirrorInput, MirroredProduct, MirrorOutcome, PlanEntry, PlanSummary, SelectionAdvice, TransferInput } from './api.js';
import { adviseSelection } from './query.js';
import { JOB_DEFAULTS } from './defaults.js';
import { acquireStream, stepProgress, type JobContext } from './job-context.js';
import { selectionFromGroups } from './job-input.js';
import { publishedMetadataText, type LoadedStream, type MetadataFile } from './stream.js';

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
 * The `mirror` job (`ferry mirror`): make TARGET a SimpleStreams tree holding the selection, as
 * sstream-mirror would, but in parallel, resumable and verified; its own state lives in
 * TARGET/.ferry/. Throws FERRY_TARGET_NOT_DIRECTORY, the codes of loadStream (when the job loads
 * its stream) and of opening the tree's state (FERRY_IO, FERRY_CATALOG_*), FERRY_NOT_ENOUGH_SPACE,
 * FERRY_DISK_FULL and FERRY_CANCELLED; a file that fails is a failure in the outcome, not a throw.
 */
export async function runMirror(input: MirrorInput, context: JobContext): Promise<MirrorOutcome> {
  const target = resolvePath(context.cwd, input.target);
  await assertTargetCanBeDirectory(target);
  // Each prefix as a mirror base, as SOURCE is read (sstream-mirror's --mirror): refused before anything is fetched.
  const mirrors = (input.mirrors ?? []).map((prefix) => resolveSource(prefix, { cwd: context.cwd }).baseUrl);
  const created = await outermostMissing(join(target, TREE_STATE_FOLDER));
  try {
    return await mirrorInto(target, { ...input, mirrors }, context);
  } catch (error) {
    // A run refused before its first item byte leaves TARGET as it found it, not even .ferry/.
    if (created !== undefined && error instanceof FerryError && REFUSED_BEFORE_WRITING.has(error.code)) await rm(created, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Refusals that come after the tree's state was opened (and so TARGET/.ferry/ made) but before any
 * item was fetched; earlier ones (signatures, options, paths) are thrown before anything is made.
 */
const REFUSED_BEFORE_WRITING: ReadonlySet<string> = new Set(['FERRY_NOT_ENOUGH_SPACE']);

/** The outermost directory on the way to `path` that does not exist yet (undefined: `path` exists). */
async function outermostMissing(path: string): Promise<string | undefined> {
  let missing: string | undefined;
  for (let current = path; !(await pathExists(current)); current = dirname(current)) {
    missing = current;
    if (dirname(current) === current) break;
  }
  return missing;
}

async function pathExists(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined)) !== undefined;
}

async function mirrorInto(target: string, input: MirrorInput & { mirrors: string[] }, context: JobContext): Promise<MirrorOutcome> {
  const { stream, client } = await acquireStream(input.stream, context, input);
  let lock: LibraryLock | undefined;
  try {
    // Two runs into one tree would write the same partial files and remove each other's temp
    // files. Taken once the metadata is verified, so a refused source creates no target; a dry
    // run changes nothing, so it neither waits for nor blocks a real one.
    if (input.dryRun !== true) {
      // The lock is the first write into .ferry/: a link there must be refused before it.
      await assertTreeStateFolders(target);
      lock = await lockLibrary(join(target, TREE_STATE_FOLDER), 'mirror');
    }
    context.emit({ type: 'loaded', source: stream.source.display, trust: stream.trust, metadataFiles: stream.metadataFiles.length });
    // A dry run writes nothing, not even .ferry/, so it needs no lock (see openTreeStateForReading).
    const state = input.dryRun === true ? await openTreeStateForReading(target) : await openTreeState(target);
    try {
      if (hasRepairs(state.repaired)) context.emit({ type: 'repaired', report: state.repaired });
      const store = new TreeStore(state.targetDir, state.catalog, state.temp);
      const sourceId = recordStreamSource(state.catalog, stream);
      const publish: Publish = async (retired) => {
        // Products files first and the index last, byte for byte as verified: MAAS never sees an
        // index naming files that are not there yet. A kill between two writes leaves old and new
        // products files side by side, each listing only files that are present, because nothing
        // is removed until the index is written. Re-spun files (new bytes at a path the published
        // metadata lists) waited in partial/ until now: renames only, right before the metadata.
        await store.publishStaged();
        await eachMetadataFile(stream, context, input.progressIntervalMs, (file) => store.writeMetadata(file.path, file.bytes));
        const metadataWritten = stream.metadataFiles.map((file) => file.path);
        context.emit({ type: 'metadata-written', paths: metadataWritten });
        // Files before rows: a kill in between leaves held items whose version the next run's plan
        // retires again, never a file no row remembers.
        const removedPaths = await retired.deleteFiles();
        retired.forgetItems();
        return { metadataWritten, removedPaths };
      };
      return await syncInto(
        stream,
        { store, catalog: state.catalog, sourceId, publish, publishedVersions: () => treePublishedVersions(state.targetDir, stream.source.entryPath) },
        client,
        { ...input, selection: selectionFromGroups(input.selection) },
        context,
      );
    } finally {
      state.close();
    }
  } finally {
    await client.close();
    await lock?.release();
  }
}

/**
 * Writes or records each metadata file in order, products files first and the index last,
 * reporting progress as step `metadata`.
 */
export async function eachMetadataFile(
  stream: LoadedStream,
  context: JobContext,
  intervalMs: number | undefined,
  write: (file: MetadataFile) => Promise<void>,
): Promise<void> {
  const bytes = stream.metadataFiles.reduce((sum, file) => sum + file.bytes.length, 0);
  const progress = stepProgress(context, 'metadata', { files: stream.metadataFiles.length, bytes }, intervalMs);
  try {
    for (const file of stream.metadataFiles) {
      const tracked = progress.startFile(file.path, file.bytes.length);
      await write(file);
      tracked.addBytes(file.bytes.length);
      tracked.done();
    }
  } finally {
    progress.finish();
  }
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
  /** Publishes the verified metadata (a tree's files, a library snapshot); called only for a complete run. */
  publish: Publish;
  /**
   * The versions (versionKey) the published metadata lists, as sstream-mirror would read them
   * from the target; undefined when unknown (the plan's lines then compare with what is held).
   */
  publishedVersions?: () => Promise<ReadonlySet<string> | undefined>;
}

function versionKey(contentId: string, product: string, version: string): string {
  return `${contentId}\u0000${product}\u0000${version}`;
}

/**
 * The versions listed by the metadata published in the tree at `targetDir` (entry `entryPath`):
 * an empty set when nothing is published yet, undefined when what is there cannot be read whole.
 */
async function treePublishedVersions(targetDir: string, entryPath: string): Promise<ReadonlySet<string> | undefined> {
  try {
    const metadata = await readPublishedMetadata(entryPath, async (path) => {
      const bytes = await readFile(join(targetDir, path)).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      });
      return bytes === undefined ? undefined : publishedMetadataText(path, bytes);
    });
    if (metadata.unpublished.length > 0) return undefined;
    return new Set(
      metadata.products.flatMap(({ contentId, document }) => flattenProducts(document).map((item) => versionKey(contentId, item.productName, item.versionName))),
    );
  } catch (error) {
    if (error instanceof FerryError || (error as NodeJS.ErrnoException).code !== undefined) return undefined;
    throw error;
  }
}

/**
 * Makes the run's metadata what readers see, then retires the versions it no longer lists (their
 * files and held items): removal comes after publishing, so a kill at any instant leaves published
 * metadata that lists only files present.
 */
export type Publish = (retired: Retirement) => Promise<{ metadataWritten: string[]; removedPaths: string[] }>;

export type SyncIntoOptions = Omit<TransferInput, 'connectionsPerHost'> & {
  selection: Selection;
  max?: number | undefined;
  keep?: boolean | undefined;
  fetchItems?: boolean | undefined;
  /** Mirror bases (ending in '/') tried in order for an item file the source fails. */
  mirrors?: readonly string[] | undefined;
};

/**
 * Failures another mirror cannot help with: they concern this machine (disk, cancel) or the
 * metadata (no checksum to check against). Every other failure of the source (404, 5xx after
 * retries, wrong bytes, a stall) sends the file to the next mirror, as sstream-mirror's reader does.
 */
const LOCAL_FAILURES: ReadonlySet<string> = new Set(['FERRY_CANCELLED', 'FERRY_DISK_FULL', 'FERRY_IO', 'FERRY_NO_CHECKSUM']);

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
  context: JobContext,
): Promise<MirrorOutcome> {
  const { store, catalog, sourceId } = target;
  const { jobId, signal, emit } = context;
  const held: HeldEntry[] = catalog.heldItems(sourceId);
  const planInput = {
    products: stream.products,
    selection: options.selection,
    max: options.max,
    keep: options.keep ?? false,
    held,
    metadataPaths: stream.metadataFiles.map((file) => file.path),
  };
  const plan = planMirror(planInput);
  // sstream-mirror compares with the published metadata: versions an unfinished run already holds
  // are still `+` lines to it, and the versions they would replace still `-` lines.
  const publishedVersions = await target.publishedVersions?.();
  const heldPublished = publishedVersions === undefined ? held : held.filter((entry) => publishedVersions.has(versionKey(entry.contentId, entry.product, entry.version)));
  const referencePlan = heldPublished.length === held.length ? plan : planMirror({ ...planInput, held: heldPublished });
  const fetchItems = options.fetchItems ?? true;
  const missing = fetchItems ? await filesNotPresent(plan, store) : [];
  const advice = adviseSelection(stream, options.selection, plan.added.length === 0 && plan.wanted.size === 0);
  const summary = summarizePlan(plan, referencePlan, held, missing, fetchItems && options.verifyExisting === true, advice);
  emit({ type: 'plan', plan: summary });

  const mirrored = mirroredProducts(plan);
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
    mirrored,
    productsNotMirrored: stream.products.reduce((sum, products) => sum + products.document.products.length, 0) - mirrored.length,
  };
  if (options.dryRun === true) return outcome;
  await assertFreeSpace(store, summary.bytesToFetch);
  const reportFailure = (path: string, error: FerryError): void => {
    const url = redactUrl(joinMirrorUrl(stream.source.baseUrl, path));
    const serialized = error.toJSON();
    emit({ type: 'file-failed', path, url, error: serialized });
    outcome.failures.push({ path, url, error: serialized });
  };

  const rehash = options.verifyExisting === true;
  // Re-hashing reads every present file, which takes long enough to need its own progress.
  const checkProgress = rehash && fetchItems ? stepProgress(context, 'verify-existing', { files: summary.filesWanted, bytes: summary.bytesWanted }, options.progressIntervalMs) : undefined;
  const progress = stepProgress(context, 'download', { files: summary.filesToFetch, bytes: summary.bytesToFetch }, options.progressIntervalMs);
  const partialPaths = new Map<string, string>();
  let result: ApplyResult;
  try {
    result = await applyPlan(plan, {
      store,
      catalog,
      sourceId,
      concurrency: options.concurrency ?? JOB_DEFAULTS.concurrency,
      rehash,
      fetchItems,
      progress,
      checkProgress,
      signal,
      onFileDone: (file, fileOutcome) => {
        const partialPath = partialPaths.get(file.path);
        if (partialPath !== undefined) context.partials.placed(partialPath);
        emit({ type: 'file-done', path: file.path, outcome: fileOutcome });
      },
      fetch: (file, partialPath, fileSignal, onBytes) => {
        partialPaths.set(file.path, partialPath);
        context.partials.started(partialPath);
        const fetchFrom = (baseUrl: string) =>
          downloadFile(
            { url: joinMirrorUrl(baseUrl, file.path), tempPath: partialPath, expectedSize: file.size, checksum: file.checksum },
            { client, signal: fileSignal, onBytes, directIo: options.directIo ?? true },
          );
        return fetchWithMirrors(stream.source.baseUrl, options.mirrors ?? [], fetchFrom);
      },
    });
  } catch (error) {
    // Cancel (unlike pause) leaves nothing to resume; done here, while the caller holds the lock.
    if (context.stopping() === 'cancel') await context.partials.discard();
    throw error;
  } finally {
    checkProgress?.finish();
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

/**
 * `fetchFrom(base)` for the source's base, then for each mirror base in turn while the failure is
 * one another mirror may not have; the same partial file serves them all, so bytes already
 * verified are kept. Throws the source's error when every mirror failed too (the file is the
 * source's), or at once a failure in LOCAL_FAILURES.
 */
async function fetchWithMirrors<T>(sourceBase: string, mirrors: readonly string[], fetchFrom: (baseUrl: string) => Promise<T>): Promise<T> {
  const mirrorMayHelp = (error: unknown): boolean => error instanceof FerryError && !LOCAL_FAILURES.has(error.code);
  try {
    return await fetchFrom(sourceBase);
  } catch (sourceError) {
    if (!mirrorMayHelp(sourceError)) throw sourceError;
    for (const baseUrl of mirrors) {
      try {
        return await fetchFrom(baseUrl);
      } catch (mirrorError) {
        if (!mirrorMayHelp(mirrorError)) throw mirrorError;
      }
    }
    throw sourceError;
  }
}

/** One entry per product with a wanted file, with the fields MAAS selects by. */
function mirroredProducts(plan: MirrorPlan): MirroredProduct[] {
  const products = new Map<string, MirroredProduct>();
  for (const file of plan.wanted.values()) {
    for (const item of file.items) {
      const key = `${item.contentId}\u0000${item.productName}`;
      if (products.has(key)) continue;
      const entry: MirroredProduct = { contentId: item.contentId, product: item.productName };
      const fields = [['os', 'os'], ['release', 'release'], ['arch', 'arch'], ['subarch', 'subarch'], ['label', 'label'], ['bootloaderType', 'bootloader-type']] as const;
      for (const [name, field] of fields) {
        const value = item.flat[field];
        if (value !== undefined) entry[name] = value;
      }
      products.set(key, entry);
    }
  }
  return [...products.values()];
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
      { expected: `${bytesNeeded} bytes`, actual: `${free} bytes free`, hint: 'Free some space, choose another target, or select fewer products or versions.' },
    );
  }
}

/** `plan` against what is held; `referencePlan` against what is published, which sstream-mirror's lines describe. */
function summarizePlan(
  plan: MirrorPlan,
  referencePlan: MirrorPlan,
  held: readonly HeldEntry[],
  missing: readonly WantedFile[],
  rehash: boolean,
  advice: SelectionAdvice,
): PlanSummary {
  const lines: string[] = [];
  const entries: PlanEntry[] = [];
  let bytesAdded = 0;
  for (const item of referencePlan.added) {
    if (item.path === undefined || item.size === undefined) continue;
    bytesAdded += item.size;
    lines.push(`+ ${item.productName} ${item.versionName} ${item.itemName} ${item.path} ${Math.trunc(item.size / MIB)} Mb`);
    entries.push({ change: 'add', contentId: item.contentId, product: item.productName, version: item.versionName, item: item.itemName, path: item.path, size: item.size });
  }
  let bytesRemoved = 0;
  for (const removal of referencePlan.removals) {
    for (const entry of removal.items) {
      bytesRemoved += entry.size;
      lines.push(`- ${entry.product} ${entry.version} ${entry.item} ${entry.path} ${Math.trunc(entry.size / MIB)} Mb`);
      entries.push({ change: 'remove', contentId: removal.contentId, product: entry.product, version: entry.version, item: entry.item, path: entry.path, size: entry.size });
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
    bytesAdded,
    entries,
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
    advice,
  };
}
