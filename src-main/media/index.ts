// media/: drives and what their file systems can hold. The engine imports from here.
export { isHiddenByDefault, systemMountReason } from './drives.js';
export type { Drive, Volume } from './drives.js';
export { detectDrives, runCommand } from './detect.js';
export type { CommandResult, CommandRunner, DetectOptions } from './detect.js';
export { ejectDrive } from './eject.js';
export type { DriveHolder, EjectOptions, EjectOutcome } from './eject.js';
export { displayWidth, safeText, TRUNCATION_MARKER } from './safe-text.js';
export {
  FILESYSTEM_RULES,
  WINDOWS_FORBIDDEN_CHARACTERS,
  checkFilesForFilesystem,
  defaultPartSize,
  filesystemKind,
} from './fs-rules.js';
export type { Enforcement, FileSplit, FilesystemKind, FilesystemProblem, FilesystemRules, FilesystemVerdict, PlannedFile, RuleId } from './fs-rules.js';
export {
  BUNDLE_FILES,
  BUNDLE_FORMAT,
  BUNDLE_FORMAT_VERSION,
  BUNDLES_FOLDER,
  PARTIAL_SUFFIX,
  RECEIPT_FORMAT,
  blobFilePath,
  blobPartPath,
  blobStoragePaths,
  formatChecksums,
  newRecordId,
  parseBundleManifest,
  parseChecksums,
  parseReceipt,
} from './bundle/manifest.js';
export type { BundleBlob, BundleFile, BundleManifest, BundlePart, Receipt } from './bundle/manifest.js';
export { MAX_PART_FILES, MIN_PART_BYTES } from './bundle/plan.js';
