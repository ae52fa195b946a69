// The library's public surface: the content-addressed blob store, the SQLite catalog (also used
// for a mirror tree's state), and opening either with startup repair.
export { BlobStore, isSha256Hex } from './blobs.js';
export type { AdoptOptions, AdoptOutcome, AdoptedBlob, BlobCheck, StoredBlob } from './blobs.js';
export { Catalog } from './catalog.js';
// The catalog's record types, listed once (catalog/records.ts), and its open options.
export type * from './catalog/records.js';
export type { CatalogOptions, ConnectionSettings } from './catalog.js';
export {
  CATALOG_FILE_NAME,
  TREE_STATE_FOLDER,
  assertTreeStateFolders,
  defaultLibraryDir,
  openLibrary,
  openLibraryForReading,
  openTrustedLibrary,
  openTreeState,
  openTreeStateForReading,
} from './library.js';
export type { Library, LibraryOptions, TreeState, TrustedLibraryOptions } from './library.js';
export type { LibraryRepairReport, RepairFinding, TreeRepairReport } from './repair.js';
export { lockLibrary } from './lock.js';
export type { LibraryLock, LockHolder } from './lock.js';
export type { PartialFile, TempSweepReport } from './temp-area.js';
