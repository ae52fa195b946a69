// The export verdict (issue 9 §2), decided before anything is written: which blobs go on which
// volume, which are split into parts, how many bytes that takes with a margin, and whether the
// target's file system can hold the names. Pure: the caller inspects the target and writes.
import { createHash } from 'node:crypto';
import { FerryError } from '../../base/errors.js';
import { checkFilesForFilesystem, type FilesystemKind, type FilesystemProblem, type PlannedFile } from '../fs-rules.js';
import { BUNDLE_FILES, BUNDLES_FOLDER, blobFilePath, blobPartPath, type BundleFile } from './manifest.js';

export type ExportLayout = 'bundle' | 'tree';

/** A blob as planned: whole (`partSize` undefined) or in `parts` parts of `partSize` bytes (the last shorter). */
export interface PlannedBlob {
  sha256: string;
  size: number;
  partSize: number | undefined;
  parts: number;
}

export interface ExportPlanInput {
  /** Every file of the tree the bundle describes (docs/bundle.md `files`). */
  files: readonly BundleFile[];
  /** The sha256 of the item blobs to carry (all of them for a full export); metadata blobs are always carried. */
  carried: ReadonlySet<string>;
  layout: ExportLayout;
  bundleId: string;
  /** The target's file system rules; null: a type fs-rules does not describe, judged by ext4's (Linux's) rules. */
  filesystem: FilesystemKind | null;
  /** null: the file system does not report its free space; the check is then left to the writes. */
  freeBytes: number | null;
  /** The file system's allocation unit, in bytes. */
  blockSize: number;
  /** Largest part, in bytes; default: the file system's largest file (FAT32), else no parts. */
  partSize?: number | undefined;
  /** Largest volume, in bytes; default: one volume. */
  volumeSize?: number | undefined;
  /** The volume size is what one drive holds (one drive after another, no --volume-size given): a blob over it needs a larger drive. */
  volumeSizeIsDrive?: boolean | undefined;
  /**
   * Item blobs per volume, volume 1 first, instead of volumeSize: the split an earlier run of this
   * export chose (its volumes' bundle.json or export-plan.json), so a rerun plans the same volumes.
   */
  volumeItemCounts?: readonly number[] | undefined;
  /** Bytes of the small files each volume holds besides blobs (manifest, keyrings, scripts). */
  volumeOverheadBytes: number;
  /** Bytes already at their final paths from an interrupted run of this same plan (not needed again). */
  presentBytes?: number | undefined;
}

export interface ExportPlan {
  layout: ExportLayout;
  /** Blobs per volume (index 0 is volume 1), in sha256 order; one volume unless volumeSize asks for more. Every volume holds every metadata blob. Empty for the tree layout. */
  volumes: PlannedBlob[][];
  bytesNeeded: number;
  marginBytes: number;
  freeBytes: number | null;
  filesystem: FilesystemKind | null;
  /** Blobs split into parts. */
  splitBlobs: number;
  /** Names a Windows-only rule refuses on this file system (recorded, not refused: the driver holds them). */
  warnings: FilesystemProblem[];
  /** Identifies the plan, so a rerun finds the unfinished directory of the same plan and never another's. */
  key: string;
}

/** The start of the `expected` fact of a blob larger than one drive holds (the CLI keeps the error's own hint). */
export const LARGER_DRIVE_EXPECTED = 'a drive that holds';

/** The smallest part size: one page, so that a part never costs more in inodes than in bytes. */
export const MIN_PART_BYTES = 4096;
/** The most part files one plan may write: beyond it a drive holds more inodes than data (a mistyped part size). */
export const MAX_PART_FILES = 100_000;

function marginFor(bytes: number): number {
  return Math.max(1024 * 1024, Math.ceil(bytes * 0.02));
}

function roundUp(bytes: number, unit: number): number {
  return Math.ceil(bytes / unit) * unit;
}

/**
 * Plans an export. Bundle layout: each carried blob once per volume (files sharing contents share
 * it), split where it exceeds the part size (checkFilesForFilesystem on the bundle's own paths);
 * the blobs of every `role: "metadata"` file on every volume, carried or not, so that each volume
 * verifies on its own (docs/bundle.md, Layout); item blobs filled in sha256 order up to volumeSize. Tree layout: every file at its tree path, which the file
 * system must hold. Throws FERRY_TARGET_UNFIT (a name the file system refuses, each path and rule
 * named; a blob larger than a volume), FERRY_SETTING_INVALID (partSize below MIN_PART_BYTES or
 * unfit for the file system; more than MAX_PART_FILES blobs and parts), FERRY_NOT_ENOUGH_SPACE
 * (bytes needed with the margin exceed the free space; expected and actual in bytes).
 */
export function planExport(input: ExportPlanInput): ExportPlan {
  const kind = input.filesystem ?? 'ext4';
  const block = Math.max(input.blockSize, 1);
  if (input.partSize !== undefined && input.partSize < MIN_PART_BYTES) {
    throw new FerryError('FERRY_SETTING_INVALID', `A part size of ${input.partSize} bytes is below the smallest part, ${MIN_PART_BYTES} bytes.`, {
      setting: 'partSize',
      expected: `at least ${MIN_PART_BYTES} bytes`,
      actual: String(input.partSize),
    });
  }
  if (input.layout === 'tree') {
    const treeFiles: PlannedFile[] = input.files.map((file) => ({ path: file.path, size: file.size }));
    const verdict = checkFilesForFilesystem(treeFiles, kind, input.partSize === undefined ? {} : { partSize: input.partSize });
    const refused = verdict.problems.filter((problem) => problem.enforcedBy === 'filesystem');
    if (refused.length > 0 || verdict.splits.length > 0) throw treeRefused(kind, refused, verdict.splits.map((split) => split.path));
    const written = input.files.reduce((sum, file) => sum + roundUp(file.size, block), 0);
    return finish(input, [], written, 0, verdict.problems);
  }
  const blobs = new Map<string, number>();
  const metadata = new Set(input.files.filter((file) => file.role === 'metadata').map((file) => file.sha256));
  for (const file of input.files) if (input.carried.has(file.sha256) || metadata.has(file.sha256)) blobs.set(file.sha256, file.size);
  const ordered = [...blobs].sort(([a], [b]) => compareText(a, b));
  const prefix = `${BUNDLES_FOLDER}/${input.bundleId}`;
  const planned: PlannedFile[] = [
    ...ordered.map(([sha256, size]) => ({ path: `${prefix}/${blobFilePath(sha256)}`, size })),
    ...[BUNDLE_FILES.manifest, BUNDLE_FILES.checksums, BUNDLE_FILES.importScript, BUNDLE_FILES.readme, BUNDLE_FILES.audit].map((name) => ({ path: `${prefix}/${name}`, size: 0 })),
  ];
  const verdict = checkFilesForFilesystem(planned, kind, input.partSize === undefined ? {} : { partSize: input.partSize });
  const refused = verdict.problems.filter((problem) => problem.enforcedBy === 'filesystem');
  if (refused.length > 0) throw treeRefused(kind, refused, []);
  const splits = new Map(verdict.splits.map((split) => [split.path, split]));
  const plannedBlobs = ordered.map(([sha256, size]): PlannedBlob => {
    const split = splits.get(`${prefix}/${blobFilePath(sha256)}`);
    return split === undefined ? { sha256, size, partSize: undefined, parts: 1 } : { sha256, size, partSize: split.partSize, parts: split.parts };
  });
  const partFiles = plannedBlobs.reduce((sum, blob) => sum + blob.parts, 0);
  if (partFiles > MAX_PART_FILES) {
    throw new FerryError('FERRY_SETTING_INVALID', `The part size would split the blobs into ${partFiles} part files; a bundle holds at most ${MAX_PART_FILES}.`, {
      setting: 'partSize',
      expected: `at most ${MAX_PART_FILES} part files`,
      actual: String(partFiles),
      hint: 'Choose a larger part size (the default, the largest file the file system holds, suits most drives).',
    });
  }
  const volumes = fillVolumes(plannedBlobs, metadata, block, input);
  const written = volumes.flat().reduce((sum, blob) => sum + storageBytes(blob, block), 0);
  return finish(input, volumes, written, plannedBlobs.filter((blob) => blob.partSize !== undefined).length, verdict.problems);
}

function finish(input: ExportPlanInput, volumes: PlannedBlob[][], written: number, splitBlobs: number, problems: FilesystemProblem[]): ExportPlan {
  const overhead = Math.max(volumes.length, 1) * input.volumeOverheadBytes;
  const bytesNeeded = Math.max(0, written + overhead - (input.presentBytes ?? 0));
  const marginBytes = marginFor(bytesNeeded);
  if (input.freeBytes !== null && bytesNeeded + marginBytes > input.freeBytes) {
    throw new FerryError(
      'FERRY_NOT_ENOUGH_SPACE',
      `The export needs ${bytesNeeded} bytes plus a margin of ${marginBytes}, and the target has ${input.freeBytes} bytes free; nothing was written.`,
      { expected: `${bytesNeeded + marginBytes} bytes free`, actual: `${input.freeBytes} bytes free` },
    );
  }
  const key = createHash('sha256')
    .update(JSON.stringify({ layout: input.layout, files: input.files, volumes }))
    .digest('hex');
  return {
    layout: input.layout,
    volumes,
    bytesNeeded,
    marginBytes,
    freeBytes: input.freeBytes,
    filesystem: input.filesystem,
    splitBlobs,
    warnings: problems.filter((problem) => problem.enforcedBy !== 'filesystem'),
    key,
  };
}

function storageBytes(blob: PlannedBlob, block: number): number {
  if (blob.partSize === undefined) return roundUp(blob.size, block);
  const last = blob.size - blob.partSize * (blob.parts - 1);
  return (blob.parts - 1) * roundUp(blob.partSize, block) + roundUp(last, block);
}

/**
 * Blobs in order: the metadata blobs on every volume, and each volume filled with item blobs until
 * the next would pass volumeSize (counting each volume's small files and its metadata blobs).
 */
function fillVolumes(blobs: PlannedBlob[], metadata: ReadonlySet<string>, block: number, input: ExportPlanInput): PlannedBlob[][] {
  const { volumeSize, volumeItemCounts, volumeSizeIsDrive, volumeOverheadBytes: overhead } = input;
  const shared = blobs.filter((blob) => metadata.has(blob.sha256));
  const items = blobs.filter((candidate) => !metadata.has(candidate.sha256));
  const withShared = (filled: PlannedBlob[][]): PlannedBlob[][] => filled.map((volume) => [...shared, ...volume].sort((a, b) => compareText(a.sha256, b.sha256)));
  if (volumeItemCounts !== undefined) {
    if (volumeItemCounts.reduce((sum, count) => sum + count, 0) !== items.length) throw new Error(`volume item counts ${volumeItemCounts.join('+')} do not add up to the ${items.length} item blobs`);
    let start = 0;
    return withShared(volumeItemCounts.map((count) => items.slice(start, (start += count))));
  }
  if (volumeSize === undefined) return [blobs];
  const fixed = overhead + shared.reduce((sum, blob) => sum + storageBytes(blob, block), 0);
  const capacity = volumeSize - fixed;
  const filled: PlannedBlob[][] = [[]];
  let used = 0;
  for (const blob of items) {
    const bytes = storageBytes(blob, block);
    if (bytes > capacity && volumeSizeIsDrive === true) {
      // Parts exist for a file system's largest file (FAT32's 4 GiB), never to spread one blob over drives.
      throw new FerryError(
        'FERRY_TARGET_UNFIT',
        `A blob of ${blob.size} bytes (${blob.sha256}) does not fit on one drive: the first holds a volume of ${volumeSize} bytes beside the metadata every volume carries, and a blob is never split across drives.`,
        {
          expected: `${LARGER_DRIVE_EXPECTED} a volume of more than ${bytes + fixed} bytes`,
          actual: `${volumeSize} bytes`,
          hint: 'Export to a larger drive: each blob must fit on one drive (parts only work around a file system limit such as FAT32\'s 4 GiB).',
        },
      );
    }
    if (bytes > capacity) {
      throw new FerryError('FERRY_TARGET_UNFIT', `A blob of ${blob.size} bytes (${blob.sha256}) does not fit a volume of ${volumeSize} bytes beside the metadata every volume carries.`, {
        expected: `a volume size above ${bytes + fixed} bytes`,
        actual: String(volumeSize),
        hint: 'Choose a larger volume size.',
      });
    }
    if (used + bytes > capacity) {
      filled.push([]);
      used = 0;
    }
    filled.at(-1)?.push(blob);
    used += bytes;
  }
  return withShared(filled);
}

/**
 * The largest volume (bytes of blobs and small files) a drive with `freeBytes` free holds with the
 * margin every export keeps (marginFor): the volume size of an export carried drive after drive.
 */
export function volumeSizeFor(freeBytes: number): number {
  return Math.max(0, Math.min(freeBytes - 1024 * 1024, Math.floor((freeBytes - 1) / 1.02)));
}

/** Bytes one volume of a plan takes on a file system with `blockSize` blocks, and the margin kept beyond them. */
export function volumeBytesNeeded(volume: readonly PlannedBlob[], blockSize: number, overheadBytes: number, presentBytes = 0): { bytesNeeded: number; marginBytes: number } {
  const block = Math.max(blockSize, 1);
  const bytesNeeded = Math.max(0, volume.reduce((sum, blob) => sum + storageBytes(blob, block), overheadBytes) - presentBytes);
  return { bytesNeeded, marginBytes: marginFor(bytesNeeded) };
}

/**
 * Judges the drive that is to hold one volume of a plan made for another drive (one drive after
 * another): its file system must hold the volume's files as planned (the same parts, or none) and
 * its free space the volume with the margin. Throws FERRY_TARGET_UNFIT (naming the rule and the
 * file system the plan was made for) or FERRY_NOT_ENOUGH_SPACE (expected and actual in bytes).
 */
export function checkVolumeForTarget(
  volume: readonly PlannedBlob[],
  plan: { bundleId: string; volumeIndex: number; plannedFor: FilesystemKind | null; overheadBytes: number },
  target: { path: string; filesystem: FilesystemKind | null; blockSize: number; freeBytes: number | null; presentBytes: number },
): void {
  const kind = target.filesystem ?? 'ext4';
  const prefix = `${BUNDLES_FOLDER}/${plan.bundleId}`;
  const files: PlannedFile[] = volume.flatMap((blob) => {
    const { partSize } = blob;
    if (partSize === undefined) return [{ path: `${prefix}/${blobFilePath(blob.sha256)}`, size: blob.size }];
    return Array.from({ length: blob.parts }, (_unused, index) => ({
      path: `${prefix}/${blobPartPath(blob.sha256, index + 1)}`,
      size: index < blob.parts - 1 ? partSize : blob.size - partSize * (blob.parts - 1),
    }));
  });
  const verdict = checkFilesForFilesystem(files, kind);
  const refused = verdict.problems.filter((problem) => problem.enforcedBy === 'filesystem');
  const reasons = [...refused.map((problem) => problem.message), ...verdict.splits.map((split) => `${split.path} is larger than the largest file ${kind} holds`)];
  if (reasons.length > 0) {
    throw new FerryError(
      'FERRY_TARGET_UNFIT',
      `Volume ${plan.volumeIndex} was planned for ${plan.plannedFor ?? 'ext4'}, and the ${kind} file system at ${target.path} cannot hold it as planned: ${reasons.slice(0, 3).join('; ')}. Nothing was written there.`,
      {
        path: target.path,
        expected: `a file system that holds the volume as planned for ${plan.plannedFor ?? 'ext4'}`,
        actual: kind,
        hint: 'Use a drive formatted like the first one, or start the export again with the strictest drive first (its rules then apply to every volume).',
      },
    );
  }
  const { bytesNeeded, marginBytes } = volumeBytesNeeded(volume, target.blockSize, plan.overheadBytes, target.presentBytes);
  if (target.freeBytes !== null && bytesNeeded + marginBytes > target.freeBytes) {
    throw new FerryError(
      'FERRY_NOT_ENOUGH_SPACE',
      `Volume ${plan.volumeIndex} needs ${bytesNeeded} bytes plus a margin of ${marginBytes}, and ${target.path} has ${target.freeBytes} bytes free; nothing was written there.`,
      { path: target.path, expected: `${bytesNeeded + marginBytes} bytes free`, actual: `${target.freeBytes} bytes free` },
    );
  }
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function treeRefused(kind: FilesystemKind, problems: FilesystemProblem[], tooLarge: string[]): FerryError {
  const reasons = [
    ...problems.slice(0, 5).map((problem) => `${problem.path}: ${problem.message}`),
    ...tooLarge.slice(0, 5).map((path) => `${path}: larger than the largest file ${kind} holds`),
  ];
  const more = problems.length + tooLarge.length - reasons.length;
  return new FerryError(
    'FERRY_TARGET_UNFIT',
    `A ${kind} file system cannot hold this export as a plain tree: ${reasons.join('; ')}${more > 0 ? `; and ${more} more` : ''}. Nothing was written.`,
    {
      path: problems[0]?.path ?? tooLarge[0],
      actual: kind,
      expected: 'a file system that holds every path (ext4), or the bundle layout',
      hint: 'Export in the bundle layout (the default): it names files by their sha256 and splits large ones.',
    },
  );
}
