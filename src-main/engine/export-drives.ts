// An export larger than its drive, carried one drive after another (issue 9 §2, docs/bundle.md
// "One drive after another"): each volume holds at most what the first drive holds (blobs in
// sha256 order, a volume ending at the first that would not fit), volume n goes to the n-th drive
// named or asked for, and each is written, read back and ejected before the next.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { FerryError, isFerryError } from '../base/errors.js';
import { formatBytes } from '../base/format.js';
import { readdirIfExists } from '../base/files.js';
import { BUNDLES_FOLDER, newRecordId, type BundleManifest } from '../media/bundle/manifest.js';
import { checkVolumeForTarget, planExport, volumeBytesNeeded, volumeSizeFor, type ExportPlan, type ExportPlanInput } from '../media/bundle/plan.js';
import { inspectTarget, type TargetFilesystem } from '../media/bundle/target.js';
import { findUnfinishedBundle, PLAN_MARKER, presentBytes, type VolumeMarker } from '../media/bundle/writer.js';
import type { ExportInput, ExportOutcome } from './api.js';
import { ejectExportTarget } from './export-eject.js';
import type { ExportSource } from './export-source.js';
import { assertTargetFolder, blobSources, outcomeBefore, planSummary, readBack, ReadBackLedger, readManifestIfAny, sameVolume, writeBundleVolume, type VolumeWriter } from './export-volume.js';
import { stepProgress, type JobContext } from './job-context.js';

/** The `expected` fact of the refusal of two targets on one drive (the CLI keeps its hint). */
export const SAME_DRIVE_EXPECTED = 'one drive per target';

/** What an export carried one drive after another starts from (exportFrom has checked every path is a folder). */
export interface DriveAfterDrive {
  input: ExportInput;
  context: JobContext;
  source: ExportSource;
  base: BundleManifest['base'];
  planInput: Omit<ExportPlanInput, 'freeBytes'>;
  /** The targets given, `to` first: volume 1, 2, ... in that order (unless a drive already holds a volume). */
  paths: string[];
  /** What inspectTarget saw at `to`: its free space is the volume size. */
  first: TargetFilesystem;
  /** The interrupted run of this export the drives given hold a volume of (findEarlierRun), continued. */
  earlier: EarlierRun | undefined;
}

/** A drive of a drive-after-drive export: the folder, and its file system. */
interface Drive {
  path: string;
  target: TargetFilesystem;
}

/** An earlier run of this same export, from what its volumes left on the drives given now. */
export interface EarlierRun {
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
export async function exportDriveAfterDrive(job: DriveAfterDrive): Promise<ExportOutcome> {
  const { input, context, source, base, planInput, first } = job;
  const given: Drive[] = [];
  for (const path of job.paths) given.push({ path, target: path === job.paths[0] ? first : await inspectTarget(path) });
  assertDistinctDrives(given);
  const run = job.earlier;
  const created = new Date();
  const bundleId = run?.id ?? newRecordId(created, randomBytes(4).toString('hex'));
  const createdAt = run?.created ?? created.toISOString();
  const plan = planExport({
    ...planInput,
    bundleId,
    freeBytes: null,
    ...(run === undefined
      ? { volumeSize: input.volumeSize ?? (first.freeBytes === null ? undefined : volumeSizeFor(first.freeBytes)), volumeSizeIsDrive: input.volumeSize === undefined }
      : { volumeItemCounts: run.itemCounts }),
  });
  const count = plan.volumes.length;
  const itemCounts = plan.volumes.map((volume) => volume.length - metadataBlobCount(planInput));
  const finished = run?.finished ?? new Set<number>();
  const toWrite = plan.volumes.map((_volume, index) => index + 1).filter((index) => !finished.has(index));
  const dirOf = (drive: Drive): string => join(drive.path, BUNDLES_FOLDER, bundleId);

  // Each given drive holds the volume it already has, else the next one without a drive.
  const spare: Drive[] = [];
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
    else spare.push(drive);
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
    const needs = missing.map((index) => ({ index, bytes: needed(index, first.blockSize) }));
    throw new FerryError(
      'FERRY_NOT_ENOUGH_SPACE',
      `The export does not fit ${job.paths[0] ?? ''} (${formatBytes(first.freeBytes ?? 0)} free): it takes ${count} drives, one volume each, and ${given.length} ${given.length === 1 ? 'was' : 'were'} given; ` +
        `${missing.length} more drive(s) are needed, with free space for ${needs.map(({ index, bytes }) => `volume ${index} ${formatBytes(bytes)}`).join(', ')}. Nothing was written.`,
      {
        path: job.paths[0],
        // The exact bytes each volume needs stay in the facts; the message words them for people.
        expected: `${count} drives; free space for ${needs.map(({ index, bytes }) => `volume ${index} ${bytes} bytes`).join(', ')}`,
        actual: `${given.length} given`,
        hint: 'Name a target for every volume, or export where the next drive can be asked for in turn.',
      },
    );
  }
  const planned = planSummary(plan, source, first.fsType, base);
  const spareNotes = spare.map((drive) => `${drive.path}: not needed, the export takes ${count} drive(s); nothing is written there`);
  const summary = { ...planned, freeBytes: first.freeBytes, warnings: [...planned.warnings, ...spareNotes] };
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
  // Drives of this run still mounted: a drive ejected may give its mount point to the next one.
  const mounted: Drive[] = [];
  try {
    for (const index of toWrite) {
      const drive = assigned.get(index) ?? (await askForDrive(index, { bundleId, count, bytes: needed(index, first.blockSize), done, mounted, judge, context }));
      mounted.push(drive);
      const dir = dirOf(drive);
      const ledger = new ReadBackLedger();
      await writeBundleVolume(dir, index, plan.volumes[index - 1] ?? [], writer, ledger, { volume: index, itemCounts, finished: [...finished].sort((a, b) => a - b) });
      directories.push(dir);
      const checked = await readBack(ledger, input, context);
      verified.files += checked.files;
      verified.bytes += checked.bytes;
      verified.method = directories.length === 1 ? checked.method : checked.method === verified.method ? verified.method : 'mixed';
      verified.bad.push(...checked.bad);
      // A volume that reads back wrong stays mounted to be looked at, and the export stops there.
      if (checked.bad.length > 0) break;
      finished.add(index);
      done.push({ volume: index, directory: dir });
      outcome.ejected = input.eject === false ? { kind: 'not-requested' } : await ejectExportTarget(drive.path, drive.target.mountPoint);
      if (outcome.ejected.kind === 'ejected') mounted.splice(mounted.indexOf(drive), 1);
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

/**
 * Two targets on one file system would count its free space twice, and the second volume would be
 * written into the first one's directory: refused, naming both. The same file system is the same
 * mount point or the same device (stat st_dev), which catches a drive mounted twice (a bind mount).
 */
function assertDistinctDrives(drives: readonly Drive[]): void {
  for (const [at, drive] of drives.entries()) {
    const other = drives.slice(0, at).find((earlier) => earlier.target.mountPoint === drive.target.mountPoint || earlier.target.device === drive.target.device);
    if (other !== undefined) {
      const where = other.target.mountPoint === drive.target.mountPoint ? `mounted at ${drive.target.mountPoint}` : `one drive mounted at both ${other.target.mountPoint} and ${drive.target.mountPoint}`;
      throw new FerryError('FERRY_TARGET_UNFIT', `${other.path} and ${drive.path} are on the same file system (${where}); each volume needs a drive of its own. Nothing was written.`, {
        path: drive.path,
        expected: SAME_DRIVE_EXPECTED,
        actual: drive.target.mountPoint,
        hint: 'Give each target on a drive of its own (the list of drives shows where each drive is mounted).',
      });
    }
  }
}

/**
 * Asks for the drive of volume `index` (askTarget) until one is a folder on a file system no drive
 * of this run still mounted is on, holding no volume of this bundle, whose file system holds the
 * volume as planned with room for it; each refusal is asked again with its reason. Rejects with
 * FERRY_CANCELLED when the job is cancelled while it waits.
 */
async function askForDrive(
  index: number,
  ask: {
    bundleId: string;
    count: number;
    bytes: number;
    done: ReadonlyArray<{ volume: number; directory: string }>;
    mounted: readonly Drive[];
    judge: (drive: Drive, index: number) => Promise<void>;
    context: JobContext;
  },
): Promise<Drive> {
  let problem: string | null = null;
  for (;;) {
    const answer = await ask.context.askTarget({ volume: index, volumes: ask.count, bytes: ask.bytes, done: [...ask.done], problem });
    const path = resolvePath(ask.context.cwd, answer);
    try {
      await assertTargetFolder(path);
      const drive = { path, target: await inspectTarget(path) };
      assertDistinctDrives([...ask.mounted, drive]);
      const held = await readManifestIfAny(join(path, BUNDLES_FOLDER, ask.bundleId));
      // The drive just written, inserted again (its mount point may be the one the next drive gets).
      if (held !== undefined) {
        throw new FerryError('FERRY_TARGET_UNFIT', `${path} already holds volume ${held.volume.index} of this bundle; insert the drive for volume ${index}.`, {
          path,
          expected: `a drive for volume ${index}`,
          actual: `volume ${held.volume.index}`,
        });
      }
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
export async function findEarlierRun(paths: readonly string[], planInput: Omit<ExportPlanInput, 'freeBytes'>, site: string | null, base: BundleManifest['base']): Promise<EarlierRun | undefined> {
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
