// The catalog's facade: one object over the connection (catalog/connection.ts) and the SQL of each
// area (catalog/sources.ts, held-items.ts, blobs.ts, selections.ts, jobs.ts). Callers import only
// this file; each method here says what it does, the area file how.
import type { StoredBlob } from './blobs.js';
import { BLOB_SQL, BlobQueries } from './catalog/blobs.js';
import { CatalogConnection } from './catalog/connection.js';
import { EXPORT_SQL, ExportQueries } from './catalog/exports.js';
import type { CatalogOpenOptions, CatalogOptions, ConnectionSettings } from './catalog/connection.js';
import { HELD_ITEM_SQL, HeldItemQueries } from './catalog/held-items.js';
import { JOB_SQL, JobQueries } from './catalog/jobs.js';
import type {
  BlobRecord,
  ExportRecord,
  ExportSummary,
  HeldFile,
  HeldItem,
  HeldItemKey,
  HeldProductSummary,
  JobRecord,
  JsonValue,
  NewHeldItem,
  RecordedJobEvent,
  RecordedJobStatus,
  RemovalResult,
  SavedSelection,
  SelectionProfile,
  SnapshotFile,
  SnapshotRecord,
  SnapshotSelection,
  SourceRecord,
  TreeFile,
  TreeFileRecord,
} from './catalog/records.js';
import { SELECTION_SQL, SelectionQueries } from './catalog/selections.js';
import { SOURCE_SQL, SourceQueries } from './catalog/sources.js';
import type { MigrationResult } from './migrations/index.js';

export { catalogLost } from './catalog/connection.js';
export type { CatalogOpenOptions, CatalogOptions, ConnectionSettings } from './catalog/connection.js';
export type * from './catalog/records.js';

/** The catalog's SQL, exported so that the query-plan tests check the very text the Catalog runs. */
export const CATALOG_SQL = { ...SOURCE_SQL, ...HELD_ITEM_SQL, ...BLOB_SQL, ...SELECTION_SQL, ...JOB_SQL, ...EXPORT_SQL } as const;

/**
 * The SQLite catalog of a library (what it holds, from where, verified when) or of a mirror tree
 * (`TARGET/.ferry/catalog.db`). In a library, a held item's bytes are the blob named by its sha256;
 * in a tree, they are the file at its path, recorded in tree_files. Either way "held" means present
 * and verified: removing a blob or tree-file record drops the items that relied on it.
 *
 * better-sqlite3 is synchronous; that is fine here, since each statement takes microseconds.
 * Opening throws FERRY_CATALOG_CORRUPT (not a database, or a page failing SQLite's quick_check),
 * FERRY_CATALOG_TOO_NEW (a newer user_version), FERRY_CATALOG_LOST (must exist and does not),
 * FERRY_DISK_FULL, FERRY_IO; any statement may throw FERRY_DISK_FULL (SQLITE_FULL) or
 * FERRY_CATALOG_CORRUPT; reading a saved selection throws FERRY_PROFILE_UNKNOWN.
 */
export class Catalog {
  readonly file: string;
  /** The schema versions before and after opening, for the caller to log. */
  readonly migration: MigrationResult;
  private readonly connection: CatalogConnection;
  private readonly sources: SourceQueries;
  private readonly held: HeldItemQueries;
  private readonly blobs: BlobQueries;
  private readonly selections: SelectionQueries;
  private readonly jobs: JobQueries;
  private readonly exports: ExportQueries;

  private constructor(connection: CatalogConnection) {
    this.connection = connection;
    this.file = connection.file;
    this.migration = connection.migration;
    this.sources = new SourceQueries(connection);
    this.held = new HeldItemQueries(connection);
    this.blobs = new BlobQueries(connection);
    this.selections = new SelectionQueries(connection);
    this.jobs = new JobQueries(connection);
    this.exports = new ExportQueries(connection);
  }

  /**
   * Opens (creating if needed, unless `mustExist`) and migrates the catalog at `file`; its folder
   * must exist. Throws FERRY_CATALOG_CORRUPT (not a database), FERRY_CATALOG_TOO_NEW, with
   * `mustExist` FERRY_CATALOG_LOST (missing, or a database without our schema), FERRY_DISK_FULL.
   */
  static open(file: string, options: CatalogOpenOptions = {}): Catalog {
    return new Catalog(CatalogConnection.open(file, options));
  }

  /**
   * An in-memory copy of the catalog at `file` (migrated in memory if older), for commands that
   * only look: a dry run, `ferry library`. The file is read once and never written, so such a
   * command may run beside a job that holds the lock; anything written goes to the copy and is
   * gone on close.
   */
  static openCopy(file: string, options: CatalogOptions = {}): Catalog {
    return new Catalog(CatalogConnection.openCopy(file, options));
  }

  /**
   * SQLite's own check of every page and index (`PRAGMA quick_check`): a catalog with a damaged
   * page can still open and answer queries with rows missing, which a command that deletes files
   * must not act on. Throws FERRY_CATALOG_CORRUPT naming what SQLite found.
   */
  assertIntact(): void {
    this.connection.assertIntact();
  }

  get isOpen(): boolean {
    return this.connection.db.open;
  }

  connectionSettings(): ConnectionSettings {
    return this.connection.settings();
  }

  /** Closing twice is harmless, so that cleanup paths need not track it. */
  close(): void {
    this.connection.close();
  }

  /** Runs `fn` in one transaction (a savepoint when nested); `fn` must be synchronous. */
  transaction<T>(fn: () => T): T {
    return this.connection.transaction(fn);
  }

  // Sources

  /** Credentials in the URL are removed before it is stored; the id of an existing URL is kept. */
  upsertSource(url: string, entryPath: string): number {
    return this.sources.upsertSource(url, entryPath);
  }

  findSource(url: string): SourceRecord | undefined {
    return this.sources.findSource(url);
  }

  listSources(): SourceRecord[] {
    return this.sources.listSources();
  }

  // Snapshots

  /**
   * Records the verified metadata of one fetch and the selection that was run on it; every file's
   * bytes must already be in the blob store. Without `selection` the snapshot is recorded as
   * snapshots before schema 3 were (selection unknown), which gc treats conservatively.
   */
  recordSnapshot(
    sourceId: number,
    files: readonly SnapshotFile[],
    signed: boolean,
    keyringFingerprints: readonly string[],
    selection?: SnapshotSelection,
  ): number {
    return this.sources.recordSnapshot(sourceId, files, signed, keyringFingerprints, selection);
  }

  latestSnapshot(sourceId: number): SnapshotRecord | undefined {
    return this.sources.latestSnapshot(sourceId);
  }

  /** Deletes each source's latest snapshot while any of its files is missing from the blobs table. */
  dropIncompleteLatestSnapshots(): number {
    return this.sources.dropIncompleteLatestSnapshots();
  }

  // Held items

  heldItems(sourceId: number, contentId?: string): HeldItem[] {
    return this.held.heldItems(sourceId, contentId);
  }

  /** Versions of one product that are held, in no promised order: the engine sorts (streams' compareVersionNames). */
  heldVersions(sourceId: number, contentId: string, product: string): string[] {
    return this.held.heldVersions(sourceId, contentId, product);
  }

  /**
   * The bytes a source's held items at this path have: how an item whose metadata lists no sha256
   * (only sha512 or md5) finds its blob again on the next run.
   */
  heldFileAtPath(sourceId: number, path: string): HeldFile | undefined {
    return this.held.heldFileAtPath(sourceId, path);
  }

  addHeldItems(items: readonly NewHeldItem[]): void {
    this.held.addHeldItems(items);
  }

  /**
   * Forgets held items and answers how many were held. Their files stay: the caller deletes a file
   * once referencesToPath / referencesToBlob says nothing else needs it.
   */
  removeHeldItems(keys: readonly HeldItemKey[]): number {
    return this.held.removeHeldItems(keys);
  }

  /** Held items (of any source) whose file is at this tree path. */
  referencesToPath(path: string): number {
    return this.held.referencesToPath(path);
  }

  /** Held items plus files of each source's latest snapshot that need these bytes. */
  referencesToBlob(sha256: string): number {
    return this.held.referencesToBlob(sha256);
  }

  /** Drops held items whose blob is not recorded (library mode); answers how many. */
  dropHeldItemsWithoutBlob(): number {
    return this.held.dropHeldItemsWithoutBlob();
  }

  /** Drops held items whose path has no verified tree file (mirror-tree mode); answers how many. */
  dropHeldItemsWithoutTreeFile(): number {
    return this.held.dropHeldItemsWithoutTreeFile();
  }

  // Blobs

  /** Records a blob that is in place on disk and whose content was just verified. */
  recordBlob(blob: StoredBlob): void {
    this.blobs.recordBlob(blob);
  }

  getBlob(sha256: string): BlobRecord | undefined {
    return this.blobs.getBlob(sha256);
  }

  listBlobs(): BlobRecord[] {
    return this.blobs.listBlobs();
  }

  countBlobs(): number {
    return this.blobs.countBlobs();
  }

  /**
   * Forgets a blob, and with it every held item that pointed at it. Call it before deleting the
   * file, so that a crash in between leaves a file without a row (which repair re-adopts by hash),
   * never a row without a file.
   */
  removeBlob(sha256: string): RemovalResult {
    return this.blobs.removeBlob(sha256);
  }

  /** Notes that the blob was re-hashed and found good; answers false when no such blob is recorded. */
  markVerified(sha256: string, mtimeMs: number): boolean {
    return this.blobs.markVerified(sha256, mtimeMs);
  }

  /** Blobs that no held item and no file of any source's latest snapshot needs: what gc may delete. */
  unreferencedBlobs(): BlobRecord[] {
    return this.blobs.unreferencedBlobs();
  }

  // Tree files (mirror-tree mode)

  getTreeFile(path: string): TreeFileRecord | undefined {
    return this.held.getTreeFile(path);
  }

  listTreeFiles(): TreeFileRecord[] {
    return this.held.listTreeFiles();
  }

  /** Records a file that is in place at its final tree path and was just verified. */
  putTreeFile(file: TreeFile): void {
    this.held.putTreeFile(file);
  }

  /** Forgets a tree file and the held items at that path, which are no longer verified present. */
  deleteTreeFile(path: string): RemovalResult {
    return this.held.deleteTreeFile(path);
  }

  // Summary

  /** What is held per source and product: versions (in no promised order: the engine sorts them), item count, bytes. */
  librarySummary(): HeldProductSummary[] {
    return this.held.librarySummary();
  }

  // Selections (named profiles)

  saveSelection(selection: SelectionProfile): SavedSelection {
    return this.selections.saveSelection(selection);
  }

  getSelection(name: string): SavedSelection | undefined {
    return this.selections.getSelection(name);
  }

  listSelections(): SavedSelection[] {
    return this.selections.listSelections();
  }

  /** Throws FERRY_PROFILE_UNKNOWN when no selection has this name. */
  deleteSelection(name: string): void {
    this.selections.deleteSelection(name);
  }

  // Exports (the ledger of `ferry export --site`)

  /** Records a bundle written and read back, with every blob it carried, in one transaction. */
  recordExport(record: ExportRecord, blobs: Iterable<string>): void {
    this.exports.recordExport(record, blobs);
  }

  /** The newest bundle exported to `site`, the base an incremental export names; undefined before the first. */
  latestExportTo(site: string): ExportRecord | undefined {
    return this.exports.latestExportTo(site);
  }

  /** The sha256 of every blob some export to `site` carried. */
  blobsExportedTo(site: string): Set<string> {
    return this.exports.blobsExportedTo(site);
  }

  /** Every export of the ledger, newest first, with the blobs it carried and their bytes (History). */
  listExports(): ExportSummary[] {
    return this.exports.listExports();
  }

  // Jobs

  /** Records a job as running and answers its id (a new UUID unless the caller brings one). */
  startJob(kind: string, id?: string): string {
    return this.jobs.startJob(kind, id);
  }

  /** Answers false when the job is unknown or already finished (its first outcome stands). */
  finishJob(id: string, status: Exclude<RecordedJobStatus, 'running'>, summary?: JsonValue): boolean {
    return this.jobs.finishJob(id, status, summary);
  }

  /**
   * Marks every job still 'running' as failed, and answers how many. Only the holder of the
   * library's lock may call it: then no other process is running a job, so each of these belongs to
   * one that ended without finishing it (killed, crashed, powered off).
   */
  failInterruptedJobs(): number {
    return this.jobs.failInterruptedJobs();
  }

  /** Appends an event to a job's log and answers its sequence number (1, 2, ...). */
  addJobEvent(jobId: string, type: string, data: JsonValue): number {
    return this.jobs.addJobEvent(jobId, type, data);
  }

  getJob(id: string): JobRecord | undefined {
    return this.jobs.getJob(id);
  }

  recentJobs(limit: number): JobRecord[] {
    return this.jobs.recentJobs(limit);
  }

  /** The job of this kind that started last, whatever its status. */
  latestJob(kind: string): JobRecord | undefined {
    return this.jobs.latestJob(kind);
  }

  jobEvents(jobId: string): RecordedJobEvent[] {
    return this.jobs.jobEvents(jobId);
  }
}
