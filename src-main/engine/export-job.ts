// The `export` job (issue 9 §2-3): plan (the verdict, before anything is written), write every
// volume (export-volume.ts), read every blob back around the page cache, record the export in the
// library's ledger, and eject the drive (export-eject.ts) when the target is on one. An export too
// large for its one drive goes one drive after another (export-drives.ts).
import { randomBytes } from 'node:crypto';
import { join, resolve as resolvePath } from 'node:path';
import { FerryError, isFerryError } from '../base/errors.js';
import { readdirIfExists } from '../base/files.js';
import { lockLibrary, openLibrary, openLibraryForReading, type Library } from '../library/index.js';
import { BUNDLES_FOLDER, blobStoragePaths, newRecordId, parseReceipt, type BundleManifest } from '../media/bundle/manifest.js';
import { planExport, type ExportPlan, type PlannedBlob } from '../media/bundle/plan.js';
import { inspectTarget, type TargetFilesystem } from '../media/bundle/target.js';
import { readBundleFile } from '../media/bundle/reader.js';
import { findUnfinishedBundle, presentBytes, stageTreeFile } from '../media/bundle/writer.js';
import { readBackFile } from '../net/index.js';
import type { ExportInput, ExportOutcome, ExportPlanSummary } from './api.js';
import { exportDriveAfterDrive, findEarlierRun } from './export-drives.js';
import { ejectExportTarget } from './export-eject.js';
import {
  assertTargetFolder,
  blobSources,
  countWritten,
  inPipeline,
  outcomeBefore,
  planSummary,
  readBack,
  ReadBackLedger,
  readManifestIfAny,
  sameVolume,
  writeBundleVolume,
  type StoredFile,
  type VolumeWriter,
} from './export-volume.js';
import { gatherExportSource, type ExportedFile, type ExportSource } from './export-source.js';
import { stepProgress, type JobContext } from './job-context.js';
import { resolveLibraryDir } from './library.js';

/**
 * Runs an export. Throws FERRY_TARGET_MISSING (`to` or a next target is not an existing folder: never created, a
 * mistyped mount point would fill the system disk), what exportDriveAfterDrive throws (`nextTargets`, or
 * an export larger than `to` without volumeSize), what gatherExportSource throws, FERRY_RECEIPT_INVALID / FERRY_BUNDLE_TOO_NEW
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
  const paths = [to, ...nextTargets];
  // A drive given that holds a volume of an interrupted drive-after-drive run: that run goes on, even where the rest would now fit this drive.
  const earlier = layout === 'bundle' ? await findEarlierRun(paths, planInput, input.site ?? null, base) : undefined;
  const drives = { input, context, source, base, planInput, paths, first: target, earlier };
  if (layout === 'bundle' && (nextTargets.length > 0 || earlier !== undefined)) return exportDriveAfterDrive(drives);
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
  const checked = new ReadBackLedger();
  try {
    if (layout === 'tree') {
      const ordered = [...source.files.filter((file) => file.role === 'item'), ...metadataInWriteOrder(source.files)];
      progress.addToTotals(ordered.length, ordered.reduce((sum, file) => sum + file.size, 0));
      await inPipeline(
        ordered,
        (file, onBytes) => stageTreeFile(to, file, file.source, file.describe, { signal: context.signal, onBytes, readBack: readBackFile }),
        progress,
        (file, result) => {
          countWritten(written, result.kept, file.size);
          checked.add({ path: join(to, file.path), sha256: file.sha256, size: file.size }, result.readBack);
        },
      );
    } else {
      progress.addToTotals(
        plan.volumes.reduce((sum, blobs) => sum + blobs.length, 0),
        plan.volumes.flat().reduce((sum, blob) => sum + blob.size, 0),
      );
      const writer: VolumeWriter = { plan, bundleId, createdAt, count, input, context, source, base, bySha, progress, written };
      for (const [index, blobs] of plan.volumes.entries()) await writeBundleVolume(volumeDir(index + 1), index + 1, blobs, writer, checked, {});
    }
  } finally {
    progress.finish();
  }
  outcome.written = written;
  outcome.verified = await readBack(checked, input, context);
  if (source.library !== undefined && layout === 'bundle' && outcome.verified.bad.length === 0) {
    source.library.catalog.recordExport({ bundleId, site: input.site ?? null, createdAt }, [...new Set(plan.volumes.flat().map((blob) => blob.sha256))]);
    outcome.ledgerSite = input.site ?? null;
  }
  // Only a bundle written and read back right is ejected; a bad one stays mounted to be looked at.
  if (outcome.verified.bad.length === 0) outcome.ejected = input.eject === false ? { kind: 'not-requested' } : await ejectExportTarget(to, target.mountPoint);
  return outcome;
}

/** A finished bundle of this same plan: its id, each volume's directory and the files stored there. */
interface FinishedBundle {
  id: string;
  directories: string[];
  stored: StoredFile[];
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
  const ledger = new ReadBackLedger();
  for (const file of finished.stored) ledger.add(file, undefined);
  outcome.verified = await readBack(ledger, input, context);
  if (outcome.verified.bad.length === 0) outcome.ejected = input.eject === false ? { kind: 'not-requested' } : await ejectExportTarget(to, target.mountPoint);
  return outcome;
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
    // Read as a bundle's own files are: a FIFO or device given as the receipt is refused at once, not waited on.
    const bytes = await readBundleFile(path, 'the receipt').catch((error: unknown) => {
      if (!isFerryError(error, 'FERRY_BUNDLE_INVALID')) throw error;
      throw new FerryError('FERRY_RECEIPT_INVALID', error.message, { path, hint: 'Give the receipt file written on the offline side.' });
    });
    const receipt = parseReceipt(bytes.toString('utf8'), path);
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
