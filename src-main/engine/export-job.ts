// The `export` job (issue 9 §2-3): plan (the verdict, before anything is written), write every
// volume (blobs, then SHA256SUMS, README.txt, audit.jsonl, keyrings, import.sh, bundle.json last),
// read every blob back around the page cache, record the export in the library's ledger, and eject
// the drive (export-eject.ts) when the target is on one.
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { FerryError, isFerryError } from '../base/errors.js';
import type { ProgressTracker } from '../base/progress.js';
import { lstatIfExists, readdirIfExists, withFileErrors } from '../base/files.js';
import { lockLibrary, openLibrary, openLibraryForReading, type Library } from '../library/index.js';
import { importScriptText } from '../media/bundle/import-script.js';
import {
  BUNDLE_FILES,
  BUNDLE_FORMAT,
  BUNDLE_FORMAT_VERSION,
  BUNDLES_FOLDER,
  blobStoragePaths,
  formatChecksums,
  newRecordId,
  parseBundleManifest,
  parseReceipt,
  type BundleBlob,
  type BundleManifest,
} from '../media/bundle/manifest.js';
import { checkVolumeForTarget, planExport, volumeBytesNeeded, volumeSizeFor, type ExportPlan, type ExportPlanInput, type PlannedBlob } from '../media/bundle/plan.js';
import { readmeText } from '../media/bundle/readme.js';
import { inspectTarget, type TargetFilesystem } from '../media/bundle/target.js';
import {
  findUnfinishedBundle,
  finishVolume,
  PLAN_MARKER,
  presentBytes,
  startVolume,
  writeBlob,
  writeFileDurably,
  writeTreeFile,
  type VolumeMarker,
} from '../media/bundle/writer.js';
import { readBackFile, type ReadBackMethod } from '../net/index.js';
import type { ExportInput, ExportOutcome, ExportPlanSummary } from './api.js';
import { ejectExportTarget } from './export-eject.js';
import { gatherExportSource, type ExportedFile, type ExportSource } from './export-source.js';
import { productVersion } from './install.js';
import { stepProgress, type JobContext } from './job-context.js';
import { resolveLibraryDir } from './library.js';

/**
 * Runs an export. Throws FERRY_TARGET_MISSING (`to` is not an existing folder: never created, a
 * mistyped mount point would fill the system disk), what gatherExportSource throws, FERRY_RECEIPT_INVALID / FERRY_BUNDLE_TOO_NEW
 * (`since`), FERRY_TARGET_UNFIT, FERRY_NOT_ENOUGH_SPACE (before anything is written),
 * FERRY_SETTING_INVALID (partSize), FERRY_HASH_MISMATCH / FERRY_SIZE_MISMATCH (a source file that is
 * not what the signed metadata lists: nothing of it reaches a final path), FERRY_DISK_FULL, FERRY_IO,
 * FERRY_LIBRARY_BUSY, FERRY_CANCELLED. A blob that reads back wrong is reported in `verified.bad`;
 * the drive's eject (or why there was none) in `ejected`, never thrown.
 */
export async function runExport(input: ExportInput, context: JobContext): Promise<ExportOutcome> {
  if (input.tree !== undefined) return exportFrom(input, context, undefined, undefined);
  const dryRun = input.dryRun === true;
  const libraryDir = resolveLibraryDir({ library: input.library, env: context.env, cwd: context.cwd });
  // The lock keeps gc from deleting a blob while it is copied, and serialises the ledger.
  const lock = dryRun ? undefined : await lockLibrary(libraryDir, 'export');
  try {
    const library = dryRun ? await openLibraryForReading(libraryDir) : await openLibrary(libraryDir);
    try {
      return await exportFrom(input, context, library, libraryDir);
    } finally {
      library.close();
    }
  } finally {
    await lock?.release();
  }
}

/** Throws FERRY_TARGET_MISSING unless `path` is an existing folder (never created: a mistyped mount point would fill the system disk). */
async function assertTargetFolder(path: string): Promise<void> {
  const stats = await lstatIfExists(path);
  if (stats?.isDirectory() !== true) {
    throw new FerryError('FERRY_TARGET_MISSING', `The export target ${path} ${stats === undefined ? 'does not exist' : 'is not a folder'}; nothing was written.`, {
      path,
      hint: 'Create the folder, or check the drive is mounted there (the list of drives shows where each is mounted).',
    });
  }
}

async function exportFrom(input: ExportInput, context: JobContext, library: Library | undefined, libraryDir: string | undefined): Promise<ExportOutcome> {
  const to = resolvePath(context.cwd, input.to);
  const nextTargets = (input.nextTargets ?? []).map((path) => resolvePath(context.cwd, path));
  for (const path of [to, ...nextTargets]) await assertTargetFolder(path);
  const source = await gatherExportSource(input, context, library, libraryDir);
  const layout = input.layout ?? 'bundle';
  const { carried, base } = await carriedBlobs(input, context, source);
  const target = await inspectTarget(to);
  const keyringBytes = source.keyrings.reduce((sum, keyring) => sum + keyring.bytes.length, 0);
  const created = new Date();
  let bundleId = newRecordId(created, randomBytes(4).toString('hex'));
  const planInput = {
    files: source.files.map(({ path, size, sha256, role }) => ({ path, size, sha256, role })),
    carried,
    layout,
    bundleId,
    filesystem: target.kind,
    blockSize: target.blockSize,
    partSize: input.partSize,
    volumeSize: input.volumeSize,
    volumeOverheadBytes: 64 * 1024 + keyringBytes + 400 * source.files.length,
  };
  // The plan's shape first, to find an unfinished run of it: what that run wrote is not needed again.
  const shape = planExport({ ...planInput, freeBytes: null });
  let createdAt = created.toISOString();
  const count = shape.volumes.length;
  const volumeDir = (index: number): string => (count > 1 ? join(to, `volume-${index}`, BUNDLES_FOLDER, bundleId) : join(to, BUNDLES_FOLDER, bundleId));
  let present = 0;
  const finished = layout === 'bundle' ? await findFinishedBundle(to, shape.volumes, planInput.files, input.site ?? null, base) : undefined;
  if (finished !== undefined) return reverifyFinished(finished, to, input, context, source, target, planSummary(shape, source, target.fsType, base));
  if (layout === 'bundle') {
    const unfinished = await findUnfinishedBundle(count > 1 ? join(to, 'volume-1', BUNDLES_FOLDER) : join(to, BUNDLES_FOLDER), shape.key, input.dryRun !== true);
    if (unfinished !== undefined) {
      ({ id: bundleId, created: createdAt } = unfinished);
      for (const [index, blobs] of shape.volumes.entries()) present += await presentBytes(volumeDir(index + 1), blobs, target.blockSize);
    }
  }
  const drives = { input, context, source, base, planInput, paths: [to, ...nextTargets], first: target };
  if (layout === 'bundle' && nextTargets.length > 0) return exportDriveAfterDrive(drives);
  let plan: ExportPlan;
  try {
    plan = planExport({ ...planInput, freeBytes: target.freeBytes, presentBytes: present });
  } catch (error) {
    // Too big for the one drive, and no volume size asked for: one drive after another.
    if (layout !== 'bundle' || input.volumeSize !== undefined || !isFerryError(error, 'FERRY_NOT_ENOUGH_SPACE')) throw error;
    // A blob larger than the whole drive cannot go drive after drive either: the space verdict stands.
    return exportDriveAfterDrive(drives).catch((driveError: unknown) => {
      throw isFerryError(driveError, 'FERRY_TARGET_UNFIT') ? error : driveError;
    });
  }
  const summary = planSummary(plan, source, target.fsType, base);
  const directories = layout === 'tree' ? [to] : plan.volumes.map((_volume, index) => volumeDir(index + 1));
  const outcome = outcomeBefore(input, context, source, { bundleId, directories, plan: summary });
  if (input.dryRun === true) return outcome;

  const bySha = blobSources(source);
  const progress = stepProgress(context, 'export', { files: 0, bytes: 0 }, input.progressIntervalMs);
  const written = { blobsWritten: 0, blobsKept: 0, bytesWritten: 0 };
  const stored: Array<{ path: string; sha256: string; size: number }> = [];
  try {
    if (layout === 'tree') {
      const ordered = [...source.files.filter((file) => file.role === 'item'), ...metadataInWriteOrder(source.files)];
      progress.addToTotals(ordered.length, ordered.reduce((sum, file) => sum + file.size, 0));
      for (const file of ordered) {
        const tracked = progress.startFile(file.path, file.size);
        const result = await writeTreeFile(to, file, file.source, file.describe, { signal: context.signal, onBytes: tracked.addBytes });
        tracked.done();
        countWritten(written, result.kept, file.size);
        stored.push({ path: join(to, file.path), sha256: file.sha256, size: file.size });
      }
    } else {
      progress.addToTotals(
        plan.volumes.reduce((sum, blobs) => sum + blobs.length, 0),
        plan.volumes.flat().reduce((sum, blob) => sum + blob.size, 0),
      );
      const writer: VolumeWriter = { plan, bundleId, createdAt, count, input, context, source, base, bySha, progress, written };
      for (const [index, blobs] of plan.volumes.entries()) stored.push(...(await writeBundleVolume(volumeDir(index + 1), index + 1, blobs, writer, {})));
    }
  } finally {
    progress.finish();
  }
  outcome.written = written;
  outcome.verified = await readBack(stored, input, context);
  if (source.library !== undefined && layout === 'bundle' && outcome.verified.bad.length === 0) {
    source.library.catalog.recordExport({ bundleId, site: input.site ?? null, createdAt }, [...new Set(plan.volumes.flat().map((blob) => blob.sha256))]);
    outcome.ledgerSite = input.site ?? null;
  }
  // Only a bundle written and read back right is ejected; a bad one stays mounted to be looked at.
  if (outcome.verified.bad.length === 0) outcome.ejected = input.eject === false ? { kind: 'not-requested' } : await ejectExportTarget(to, target.mountPoint);
  return outcome;
}

/** One file per distinct sha256: where each blob's bytes are read from. */
function blobSources(source: ExportSource): Map<string, ExportedFile> {
  const bySha = new Map<string, ExportedFile>();
  for (const file of source.files) if (!bySha.has(file.sha256)) bySha.set(file.sha256, file);
  return bySha;
}

/** What writing any volume of one bundle takes. */
interface VolumeWriter {
  plan: ExportPlan;
  bundleId: string;
  createdAt: string;
  count: number;
  input: ExportInput;
  context: JobContext;
  source: ExportSource;
  base: BundleManifest['base'];
  bySha: ReadonlyMap<string, ExportedFile>;
  progress: ProgressTracker;
  written: { blobsWritten: number; blobsKept: number; bytesWritten: number };
}

/**
 * Writes volume `index` at `dir` (blobs, then SHA256SUMS, README.txt, audit.jsonl, keyrings,
 * import.sh, bundle.json last) and answers the files stored there. `marker`: what export-plan.json
 * records beside the plan key while the volume is unfinished. Throws what writeBlob throws.
 */
async function writeBundleVolume(dir: string, index: number, blobs: readonly PlannedBlob[], writer: VolumeWriter, marker: Omit<VolumeMarker, 'key' | 'id' | 'created'>): Promise<StoredFile[]> {
  const { plan, bundleId, createdAt, count, input, context, source, base, bySha, progress, written } = writer;
  await startVolume(dir, { key: plan.key, id: bundleId, created: createdAt, ...marker });
  const entries: BundleBlob[] = [];
  for (const blob of blobs) {
    const file = bySha.get(blob.sha256);
    if (file === undefined) throw new Error(`export plan names a blob no file has: ${blob.sha256}`);
    const tracked = progress.startFile(file.path, blob.size);
    const result = await writeBlob(dir, blob, file.source, file.describe, { signal: context.signal, onBytes: tracked.addBytes });
    tracked.done();
    countWritten(written, result.kept, blob.size);
    entries.push(result.entry);
  }
  const storage = entries.flatMap(blobStoragePaths);
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    formatVersion: BUNDLE_FORMAT_VERSION,
    id: bundleId,
    created: createdAt,
    tool: { name: 'stream-ferry', version: productVersion() },
    source: { url: source.url, indexPath: source.indexPath },
    metadataMode: 'verbatim',
    signatures: source.signatures,
    keyrings: source.keyrings.map((keyring) => ({ file: `${BUNDLE_FILES.keyrings}/${keyring.name}`, sha256: sha256Of(keyring.bytes), fingerprints: keyring.fingerprints })),
    selection: source.selection,
    max: source.max,
    site: input.site ?? null,
    base,
    volume: { index, count },
    files: source.files.map(({ path, size, sha256, role }) => ({ path, size, sha256, role })),
    blobs: entries,
    volumes: plan.volumes.map((volume, at) => ({ index: at + 1, blobs: volume.length, bytes: volume.reduce((sum, blob) => sum + blob.size, 0) })),
    signature: null,
  };
  await writeFileDurably(join(dir, BUNDLE_FILES.checksums), formatChecksums(storage));
  await writeFileDurably(join(dir, BUNDLE_FILES.readme), readmeText(manifest));
  await writeFileDurably(join(dir, BUNDLE_FILES.audit), auditLines(manifest, source, entries));
  for (const keyring of source.keyrings) await writeFileDurably(join(dir, BUNDLE_FILES.keyrings, keyring.name), keyring.bytes);
  await writeFileDurably(join(dir, BUNDLE_FILES.importScript), importScriptText(manifest));
  await writeFileDurably(join(dir, BUNDLE_FILES.manifest), `${JSON.stringify(manifest, null, 2)}\n`);
  await finishVolume(dir);
  return storage.map((entry) => ({ path: join(dir, entry.path), sha256: entry.sha256, size: entry.size }));
}

/** Whether a finished volume holds exactly the planned blobs, in the same parts. */
function sameVolume(manifest: BundleManifest, planned: readonly PlannedBlob[]): boolean {
  return (
    manifest.blobs.length === planned.length &&
    manifest.blobs.every((blob, index) => blob.sha256 === planned[index]?.sha256 && (blob.parts === undefined ? 1 : blob.parts.length) === planned[index].parts)
  );
}

/** bundle.json in `dir`, parsed; undefined where there is none, or one that does not parse (not this export's). */
async function readManifestIfAny(dir: string): Promise<BundleManifest | undefined> {
  const path = join(dir, BUNDLE_FILES.manifest);
  const text = await readFile(path, 'utf8').catch(() => undefined);
  try {
    return text === undefined ? undefined : parseBundleManifest(text, path);
  } catch {
    return undefined;
  }
}

/** A finished bundle of this same plan: its id, each volume's directory and the files stored there. */
interface FinishedBundle {
  id: string;
  directories: string[];
  stored: StoredFile[];
}

/** A file written to a volume, to read back: its absolute path and what it must hold. */
interface StoredFile {
  path: string;
  sha256: string;
  size: number;
}

/**
 * The finished bundle in `to` (bundle.json written) of the same plan: the same files, the same
 * site and base, and on every volume the same blobs in the same parts. A second identical export
 * re-verifies it rather than writing a second copy that `ferry verify TARGET` would count.
 */
async function findFinishedBundle(
  to: string,
  volumes: readonly PlannedBlob[][],
  files: readonly BundleManifest['files'][number][],
  site: string | null,
  base: BundleManifest['base'],
): Promise<FinishedBundle | undefined> {
  const count = volumes.length;
  const folder = (index: number): string => (count > 1 ? join(to, `volume-${index}`, BUNDLES_FOLDER) : join(to, BUNDLES_FOLDER));
  for (const entry of await readdirIfExists(folder(1))) {
    if (!entry.isDirectory()) continue;
    const directories = volumes.map((_blobs, index) => join(folder(index + 1), entry.name));
    const stored: FinishedBundle['stored'] = [];
    let same = true;
    for (const [index, dir] of directories.entries()) {
      // No bundle.json: unfinished (findUnfinishedBundle's case) or not a bundle; a damaged one is not this plan's.
      const manifest = await readManifestIfAny(dir);
      if (
        manifest?.id !== entry.name ||
        manifest.volume.count !== count ||
        manifest.site !== site ||
        JSON.stringify(manifest.base) !== JSON.stringify(base) ||
        JSON.stringify(manifest.files) !== JSON.stringify(files) ||
        !sameVolume(manifest, volumes[index] ?? [])
      ) {
        same = false;
        break;
      }
      for (const file of manifest.blobs.flatMap(blobStoragePaths)) stored.push({ path: join(dir, file.path), sha256: file.sha256, size: file.size });
    }
    if (same) return { id: entry.name, directories, stored };
  }
  return undefined;
}

/** Reads a finished bundle of the same plan back around the page cache, as after writing it; nothing is written. */
async function reverifyFinished(
  finished: FinishedBundle,
  to: string,
  input: ExportInput,
  context: JobContext,
  source: ExportSource,
  target: TargetFilesystem,
  plan: ExportPlanSummary,
): Promise<ExportOutcome> {
  const where = finished.directories.length > 1 ? `${finished.directories.length} volumes` : finished.directories[0] ?? '';
  const outcome = outcomeBefore(input, context, source, {
    bundleId: finished.id,
    directories: finished.directories,
    plan: { ...plan, warnings: [...plan.warnings, `a finished bundle of this same plan, ${finished.id}, is already here (${where}): it is verified again instead of written twice`] },
  });

  if (input.dryRun === true) return outcome;
  outcome.written = { blobsWritten: 0, blobsKept: finished.stored.length, bytesWritten: 0 };
  outcome.verified = await readBack(finished.stored, input, context);
  if (outcome.verified.bad.length === 0) outcome.ejected = input.eject === false ? { kind: 'not-requested' } : await ejectExportTarget(to, target.mountPoint);
  return outcome;
}

/** The outcome as the verdict leaves it: nothing written, verified or ejected yet. */
function outcomeBefore(input: ExportInput, context: JobContext, source: ExportSource, what: Pick<ExportOutcome, 'bundleId' | 'directories' | 'plan'>): ExportOutcome {
  return {
    jobId: context.jobId,
    dryRun: input.dryRun === true,
    ...what,
    written: null,
    verified: null,
    ejected: null,
    signatures: source.signatures,
    trustWarnings: source.trustWarnings,
    ledgerSite: null,
  };
}

function countWritten(written: { blobsWritten: number; blobsKept: number; bytesWritten: number }, kept: boolean, size: number): void {
  if (kept) written.blobsKept += 1;
  else {
    written.blobsWritten += 1;
    written.bytesWritten += size;
  }
}

/** Products files before the index files (as a mirror publishes them: what the index points at exists first). */
function metadataInWriteOrder(files: readonly ExportedFile[]): ExportedFile[] {
  const metadata = files.filter((file) => file.role === 'metadata');
  const isIndex = (file: ExportedFile): boolean => /(^|\/)index\.s?json$/.test(file.path);
  return [...metadata.filter((file) => !isIndex(file)), ...metadata.filter(isIndex)];
}

/** The blobs this bundle carries, and the base it is judged from (docs/bundle.md, "Incremental bundles"). */
async function carriedBlobs(input: ExportInput, context: JobContext, source: ExportSource): Promise<{ carried: Set<string>; base: BundleManifest['base'] }> {
  const all = new Set(source.files.map((file) => file.sha256));
  if (input.since !== undefined) {
    const path = resolvePath(context.cwd, input.since);
    const receipt = parseReceipt(await withFileErrors(path, 'read the receipt', () => readFile(path, 'utf8')), path);
    const held = new Set(receipt.blobs.map((blob) => blob.sha256));
    return { carried: new Set([...all].filter((sha256) => !held.has(sha256))), base: { kind: 'receipt', id: receipt.id } };
  }
  if (input.site !== undefined && source.library !== undefined) {
    const latest = source.library.catalog.latestExportTo(input.site);
    // No export to this site yet: a full bundle, with no base.
    if (latest === undefined) return { carried: all, base: null };
    const carriedBefore = source.library.catalog.blobsExportedTo(input.site);
    return { carried: new Set([...all].filter((sha256) => !carriedBefore.has(sha256))), base: { kind: 'site', id: latest.bundleId } };
  }
  return { carried: all, base: null };
}

async function readBack(stored: ReadonlyArray<{ path: string; sha256: string; size: number }>, input: ExportInput, context: JobContext): Promise<NonNullable<ExportOutcome['verified']>> {
  const progress = stepProgress(context, 'read-back', { files: stored.length, bytes: stored.reduce((sum, file) => sum + file.size, 0) }, input.progressIntervalMs);
  const methods = new Set<ReadBackMethod>();
  const bad: Array<{ path: string; expected: string; actual: string }> = [];
  let bytes = 0;
  try {
    for (const file of stored) {
      const tracked = progress.startFile(file.path, file.size);
      const result = await readBackFile(file.path, { signal: context.signal, onBytes: tracked.addBytes });
      tracked.done();
      methods.add(result.method);
      bytes += result.size;
      if (result.sha256 !== file.sha256 || result.size !== file.size) bad.push({ path: file.path, expected: file.sha256, actual: result.sha256 });
    }
  } finally {
    progress.finish();
  }
  const method = methods.size > 1 ? 'mixed' : methods.has('cached') ? 'cached' : 'direct';
  return { files: stored.length, bytes, method, bad };
}

function planSummary(plan: ExportPlan, source: ExportSource, fsType: string, base: BundleManifest['base']): ExportPlanSummary {
  const blobs = new Map(source.files.map((file) => [file.sha256, file.size]));
  // Metadata blobs are on every volume; each distinct blob counts once.
  const carried = new Set(plan.volumes.flat().map((blob) => blob.sha256));
  return {
    layout: plan.layout,
    files: source.files.length,
    blobs: blobs.size,
    blobsCarried: plan.layout === 'tree' ? blobs.size : carried.size,
    bytesCarried: plan.layout === 'tree' ? source.files.reduce((sum, file) => sum + file.size, 0) : [...carried].reduce((sum, sha256) => sum + (blobs.get(sha256) ?? 0), 0),
    bytesNeeded: plan.bytesNeeded,
    marginBytes: plan.marginBytes,
    freeBytes: plan.freeBytes,
    fsType,
    filesystem: plan.filesystem,
    volumes: Math.max(plan.volumes.length, 1),
    splitBlobs: plan.splitBlobs,
    base,
    warnings: [...source.notes, ...plan.warnings.map((warning) => `${warning.path}: ${warning.message}`)],
  };
}

function sha256Of(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function auditLines(manifest: BundleManifest, source: ExportSource, entries: readonly BundleBlob[]): string {
  const tool = manifest.tool;
  const records: object[] = [
    { event: 'fetched', at: source.fetchedAt ?? null, from: source.url, via: source.kind, indexPath: source.indexPath, tool },
    ...manifest.signatures.map((signature) => ({ event: 'verified', at: manifest.created, path: signature.path, keyFingerprint: signature.keyFingerprint, signedAt: signature.signedAt, tool })),
    {
      event: 'exported',
      at: manifest.created,
      bundle: manifest.id,
      volume: manifest.volume,
      files: manifest.files.length,
      blobs: entries.length,
      bytes: entries.reduce((sum, entry) => sum + entry.size, 0),
      site: manifest.site,
      base: manifest.base,
      keyrings: manifest.keyrings.map((keyring) => ({ file: keyring.file, fingerprints: keyring.fingerprints })),
      tool,
    },
  ];
  return records.map((record) => `${JSON.stringify(record)}\n`).join('');
}

/** What an export carried one drive after another starts from (exportFrom has checked every path is a folder). */
interface DriveAfterDrive {
  input: ExportInput;
  context: JobContext;
  source: ExportSource;
  base: BundleManifest['base'];
  planInput: Omit<ExportPlanInput, 'freeBytes'>;
  /** The targets given, `to` first: volume 1, 2, ... in that order (unless a drive already holds a volume). */
  paths: string[];
  /** What inspectTarget saw at `to`: its free space is the volume size. */
  first: TargetFilesystem;
}

/** A drive of a drive-after-drive export: the folder, and its file system. */
interface Drive {
  path: string;
  target: TargetFilesystem;
}

/** An earlier run of this same export, from what its volumes left on the drives given now. */
interface EarlierRun {
  id: string;
  created: string;
  itemCounts: number[];
  /** Volumes it finished (bundle.json written), as the drives given show or their markers record. */
  finished: Set<number>;
  /** Drive path → the volume an unfinished directory there holds (continued on that drive). */
  unfinished: Map<string, number>;
}

/**
 * An export too large for one drive, carried one drive after another (docs/bundle.md, "One drive
 * after another"): volume n goes to `<drive n>/FERRY/<bundle id>/`, the volume size being the first
 * drive's free space less the margin (or volumeSize). Each volume is written, read back and its
 * drive ejected before the next drive is used; a drive not given is asked for (askTarget) when
 * `askForTargets`, else the export is refused before anything is written. Throws what exportFrom
 * throws, FERRY_NOT_ENOUGH_SPACE naming the volumes still without a drive and the bytes each needs,
 * FERRY_TARGET_UNFIT (a given drive whose file system cannot hold its volume as planned).
 */
async function exportDriveAfterDrive(job: DriveAfterDrive): Promise<ExportOutcome> {
  const { input, context, source, base, planInput, first } = job;
  const given: Drive[] = [];
  for (const path of job.paths) given.push({ path, target: path === job.paths[0] ? first : await inspectTarget(path) });
  assertDistinctDrives(given);
  const run = await findEarlierRun(job.paths, planInput, input.site ?? null, base);
  const created = new Date();
  const bundleId = run?.id ?? newRecordId(created, randomBytes(4).toString('hex'));
  const createdAt = run?.created ?? created.toISOString();
  const plan = planExport({
    ...planInput,
    bundleId,
    freeBytes: null,
    ...(run === undefined ? { volumeSize: input.volumeSize ?? (first.freeBytes === null ? undefined : volumeSizeFor(first.freeBytes)) } : { volumeItemCounts: run.itemCounts }),
  });
  const count = plan.volumes.length;
  const itemCounts = plan.volumes.map((volume) => volume.length - metadataBlobCount(planInput));
  const finished = run?.finished ?? new Set<number>();
  const toWrite = plan.volumes.map((_volume, index) => index + 1).filter((index) => !finished.has(index));
  const dirOf = (drive: Drive): string => join(drive.path, BUNDLES_FOLDER, bundleId);

  // Each given drive holds the volume it already has, else the next one without a drive.
  const assigned = new Map<number, Drive>();
  for (const drive of given) {
    const held = run?.unfinished.get(drive.path);
    if (held !== undefined) assigned.set(held, drive);
  }
  for (const drive of given) {
    if ([...assigned.values()].includes(drive)) continue;
    if ((await readManifestIfAny(dirOf(drive)))?.id === bundleId) continue;
    const next = toWrite.find((index) => !assigned.has(index));
    if (next !== undefined) assigned.set(next, drive);
  }
  const overheadBytes = planInput.volumeOverheadBytes;
  const needed = (index: number, blockSize: number): number => {
    const { bytesNeeded, marginBytes } = volumeBytesNeeded(plan.volumes[index - 1] ?? [], blockSize, overheadBytes);
    return bytesNeeded + marginBytes;
  };
  const presentOn = async (drive: Drive, index: number): Promise<number> =>
    (await findUnfinishedBundle(join(drive.path, BUNDLES_FOLDER), plan.key, false))?.id === bundleId ? presentBytes(dirOf(drive), plan.volumes[index - 1] ?? [], drive.target.blockSize) : 0;
  const judge = async (drive: Drive, index: number): Promise<void> => {
    checkVolumeForTarget(
      plan.volumes[index - 1] ?? [],
      { bundleId, volumeIndex: index, plannedFor: first.kind, overheadBytes },
      { path: drive.path, filesystem: drive.target.kind, blockSize: drive.target.blockSize, freeBytes: drive.target.freeBytes, presentBytes: await presentOn(drive, index) },
    );
  };
  // The verdict on every drive given, before anything is written.
  for (const [index, drive] of assigned) await judge(drive, index);
  const missing = toWrite.filter((index) => !assigned.has(index));
  if (missing.length > 0 && input.askForTargets !== true) {
    const needs = missing.map((index) => `volume ${index} ${needed(index, first.blockSize)} bytes`).join(', ');
    throw new FerryError(
      'FERRY_NOT_ENOUGH_SPACE',
      `The export does not fit ${job.paths[0] ?? ''} (${first.freeBytes ?? 0} bytes free): it takes ${count} drives, one volume each, and ${given.length} ${given.length === 1 ? 'was' : 'were'} given; ` +
        `${missing.length} more drive(s) are needed, with free space for ${needs}. Nothing was written.`,
      {
        path: job.paths[0],
        expected: `${count} drives`,
        actual: `${given.length} given`,
        hint: 'Name a target for every volume, or export where the next drive can be asked for in turn.',
      },
    );
  }
  const summary = { ...planSummary(plan, source, first.fsType, base), freeBytes: first.freeBytes };
  const outcome = outcomeBefore(input, context, source, { bundleId, directories: [...assigned].sort(([a], [b]) => a - b).map(([, drive]) => dirOf(drive)), plan: summary });
  if (input.dryRun === true) return outcome;

  const progress = stepProgress(context, 'export', { files: 0, bytes: 0 }, input.progressIntervalMs);
  const volumesToWrite = toWrite.map((index) => plan.volumes[index - 1] ?? []);
  progress.addToTotals(
    volumesToWrite.reduce((sum, blobs) => sum + blobs.length, 0),
    volumesToWrite.flat().reduce((sum, blob) => sum + blob.size, 0),
  );
  const written = { blobsWritten: 0, blobsKept: 0, bytesWritten: 0 };
  const writer: VolumeWriter = { plan, bundleId, createdAt, count, input, context, source, base, bySha: blobSources(source), progress, written };
  const verified: NonNullable<ExportOutcome['verified']> = { files: 0, bytes: 0, method: 'direct', bad: [] };
  const directories: string[] = [];
  const done: Array<{ volume: number; directory: string }> = [];
  const used: Drive[] = [];
  try {
    for (const index of toWrite) {
      const drive = assigned.get(index) ?? (await askForDrive(index, { count, bytes: needed(index, first.blockSize), done, used, judge, context }));
      used.push(drive);
      const dir = dirOf(drive);
      const stored = await writeBundleVolume(dir, index, plan.volumes[index - 1] ?? [], writer, { volume: index, itemCounts, finished: [...finished].sort((a, b) => a - b) });
      directories.push(dir);
      const checked = await readBack(stored, input, context);
      verified.files += checked.files;
      verified.bytes += checked.bytes;
      verified.method = directories.length === 1 ? checked.method : checked.method === verified.method ? verified.method : 'mixed';
      verified.bad.push(...checked.bad);
      // A volume that reads back wrong stays mounted to be looked at, and the export stops there.
      if (checked.bad.length > 0) break;
      finished.add(index);
      done.push({ volume: index, directory: dir });
      outcome.ejected = input.eject === false ? { kind: 'not-requested' } : await ejectExportTarget(drive.path, drive.target.mountPoint);
    }
  } finally {
    progress.finish();
  }
  outcome.directories = directories;
  outcome.written = written;
  outcome.verified = verified;
  if (source.library !== undefined && verified.bad.length === 0) {
    source.library.catalog.recordExport({ bundleId, site: input.site ?? null, createdAt }, [...new Set(plan.volumes.flat().map((blob) => blob.sha256))]);
    outcome.ledgerSite = input.site ?? null;
  }
  return outcome;
}

/** Two targets on one file system would count its free space twice: refused, naming both. */
function assertDistinctDrives(drives: readonly Drive[]): void {
  for (const [at, drive] of drives.entries()) {
    const other = drives.slice(0, at).find((earlier) => earlier.target.mountPoint === drive.target.mountPoint);
    if (other !== undefined) {
      throw new FerryError('FERRY_TARGET_UNFIT', `${other.path} and ${drive.path} are on the same file system (mounted at ${drive.target.mountPoint}); each volume needs a drive of its own. Nothing was written.`, {
        path: drive.path,
        expected: 'one drive per target',
        actual: drive.target.mountPoint,
      });
    }
  }
}

/**
 * Asks for the drive of volume `index` (askTarget) until one is a folder on a drive not used by
 * this run whose file system holds the volume as planned with room for it; each refusal is asked
 * again with its reason. Rejects with FERRY_CANCELLED when the job is cancelled while it waits.
 */
async function askForDrive(
  index: number,
  ask: { count: number; bytes: number; done: ReadonlyArray<{ volume: number; directory: string }>; used: readonly Drive[]; judge: (drive: Drive, index: number) => Promise<void>; context: JobContext },
): Promise<Drive> {
  let problem: string | null = null;
  for (;;) {
    const answer = await ask.context.askTarget({ volume: index, volumes: ask.count, bytes: ask.bytes, done: [...ask.done], problem });
    const path = resolvePath(ask.context.cwd, answer);
    try {
      await assertTargetFolder(path);
      const drive = { path, target: await inspectTarget(path) };
      assertDistinctDrives([...ask.used, drive]);
      await ask.judge(drive, index);
      return drive;
    } catch (error) {
      if (!isFerryError(error) || error.code === 'FERRY_CANCELLED') throw error;
      problem = error.message;
    }
  }
}

/** The metadata blobs every volume carries (planExport), so a volume's item blobs are its blobs less these. */
function metadataBlobCount(planInput: Pick<ExportPlanInput, 'files'>): number {
  return new Set(planInput.files.filter((file) => file.role === 'metadata').map((file) => file.sha256)).size;
}

/**
 * The volumes an earlier run of this same export left on the drives given: a finished volume
 * (bundle.json of the same files, site and base, one of several volumes) or an unfinished one
 * (export-plan.json recording its volume and split), checked by planning that split again and
 * comparing. The first run found is the one continued; another run's directories are left alone.
 */
async function findEarlierRun(paths: readonly string[], planInput: Omit<ExportPlanInput, 'freeBytes'>, site: string | null, base: BundleManifest['base']): Promise<EarlierRun | undefined> {
  const metadataBlobs = metadataBlobCount(planInput);
  let run: EarlierRun | undefined;
  for (const path of paths) {
    for (const entry of await readdirIfExists(join(path, BUNDLES_FOLDER))) {
      if (!entry.isDirectory() || (run !== undefined && run.id !== entry.name)) continue;
      const dir = join(path, BUNDLES_FOLDER, entry.name);
      const found = await earlierVolume(dir, entry.name, metadataBlobs);
      if (found === undefined) continue;
      let plan: ExportPlan;
      try {
        plan = planExport({ ...planInput, bundleId: entry.name, freeBytes: null, volumeItemCounts: found.itemCounts });
      } catch {
        continue;
      }
      const manifest = found.manifest;
      const same =
        manifest === undefined
          ? plan.key === found.key
          : manifest.site === site && JSON.stringify(manifest.base) === JSON.stringify(base) && JSON.stringify(manifest.files) === JSON.stringify(planInput.files) && sameVolume(manifest, plan.volumes[found.volume - 1] ?? []);
      if (!same) continue;
      run ??= { id: entry.name, created: found.created, itemCounts: found.itemCounts, finished: new Set(), unfinished: new Map() };
      for (const index of found.finished) run.finished.add(index);
      if (manifest === undefined) run.unfinished.set(path, found.volume);
    }
  }
  return run;
}

/** What one bundle directory says of the run that wrote it, when it is a volume of several. */
async function earlierVolume(
  dir: string,
  id: string,
  metadataBlobs: number,
): Promise<{ volume: number; itemCounts: number[]; finished: number[]; created: string; key: string | undefined; manifest: BundleManifest | undefined } | undefined> {
  const manifest = await readManifestIfAny(dir);
  if (manifest !== undefined) {
    if (manifest.id !== id || manifest.volume.count < 2) return undefined;
    const itemCounts = manifest.volumes.map((volume) => volume.blobs - metadataBlobs);
    return { volume: manifest.volume.index, itemCounts, finished: [manifest.volume.index], created: manifest.created, key: undefined, manifest };
  }
  const text = await readFile(join(dir, PLAN_MARKER), 'utf8').catch(() => undefined);
  let marker: Partial<VolumeMarker>;
  try {
    marker = text === undefined ? {} : (JSON.parse(text) as Partial<VolumeMarker>);
  } catch {
    return undefined;
  }
  const { volume, itemCounts, finished, created, key } = marker;
  if (marker.id !== id || typeof volume !== 'number' || !isWholeList(itemCounts) || !isWholeList(finished) || typeof created !== 'string' || typeof key !== 'string') return undefined;
  return { volume, itemCounts, finished, created, key, manifest: undefined };
}

function isWholeList(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((item) => Number.isSafeInteger(item) && (item as number) >= 0);
}
