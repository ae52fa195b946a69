import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { FerryError, describeError, redactUrl } from '../base/errors.js';
import type { StoredBlob } from './blobs.js';
import { migrateDatabase, readSchemaVersion } from './migrations/index.js';
import type { MigrationResult } from './migrations/index.js';

// How long a statement waits for another process's write to finish before failing.
const BUSY_TIMEOUT_MS = 5000;

export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

export interface SourceRecord {
  readonly id: number;
  readonly url: string;
  readonly entryPath: string;
  readonly createdAt: string;
}

/** One raw, verified metadata file (index or products) of a snapshot; its bytes are a blob. */
export interface SnapshotFile {
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
}

export interface SnapshotRecord {
  readonly id: number;
  readonly sourceId: number;
  readonly fetchedAt: string;
  readonly signed: boolean;
  readonly keyringFingerprints: readonly string[];
  readonly files: readonly SnapshotFile[];
  /** The selection whose run recorded it; undefined for snapshots recorded before catalog schema 3. */
  readonly selection: SnapshotSelection | undefined;
}

export interface HeldItemKey {
  readonly sourceId: number;
  readonly contentId: string;
  readonly product: string;
  readonly version: string;
  readonly item: string;
}

export interface NewHeldItem extends HeldItemKey {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

/** The bytes behind a held path. */
export interface HeldFile {
  readonly sha256: string;
  readonly size: number;
}

export interface HeldItem extends NewHeldItem {
  readonly addedAt: string;
}

export interface BlobRecord extends StoredBlob {
  readonly verifiedAt: string;
}

/** A file at its final path in a mirror tree (relative to the tree), as it was when last verified. */
export interface TreeFile {
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
  readonly mtimeMs: number;
}

export interface TreeFileRecord extends TreeFile {
  readonly verifiedAt: string;
}

export interface RemovalResult {
  readonly removed: boolean;
  /** Held items that pointed at the removed file and so are no longer held. */
  readonly heldItemsDropped: number;
}

export interface ProductSummary {
  readonly sourceId: number;
  readonly sourceUrl: string;
  readonly contentId: string;
  readonly product: string;
  /** In no promised order: the engine sorts them (streams' compareVersionNames). */
  readonly versions: readonly string[];
  readonly itemCount: number;
  /** The sizes of the product's items added up; a file shared with another product counts in both. */
  readonly bytes: number;
}

export interface SelectionProfile {
  readonly name: string;
  readonly source: string;
  /** The entry file relative to the source (sstream's --path); null when the source names it. */
  readonly path: string | null;
  /** Groups are ORed; the filters of one group are ANDed (sstream filter syntax). */
  readonly filterGroups: readonly (readonly string[])[];
  readonly maxVersions: number | null;
  readonly keep: boolean;
}

/** What a run selected from a stream, as a saved selection stores it; a snapshot records its run's. */
export type SnapshotSelection = Pick<SelectionProfile, 'filterGroups' | 'maxVersions' | 'keep'>;

export interface SavedSelection extends SelectionProfile {
  readonly updatedAt: string;
}

export type JobStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface JobRecord {
  readonly id: string;
  readonly kind: string;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  readonly status: JobStatus;
  readonly summary: JsonValue;
}

export interface JobEvent {
  readonly jobId: string;
  readonly seq: number;
  readonly at: string;
  readonly type: string;
  readonly data: JsonValue;
}

/** The connection's durability settings, as SQLite reports them (for diagnostics). */
export interface ConnectionSettings {
  readonly journalMode: string;
  /** 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA. */
  readonly synchronous: number;
  readonly foreignKeys: boolean;
  readonly busyTimeoutMs: number;
}

export interface CatalogOptions {
  /** The clock for every timestamp the catalog writes (tests pass a fixed one). */
  readonly now?: () => Date;
}

/** How Catalog.open treats the file; see there. */
export interface CatalogOpenOptions extends CatalogOptions {
  /**
   * For the holder of the library's lock: SQLite's locking mode EXCLUSIVE, so that the write-ahead
   * log's index lives in this process's memory instead of a memory-mapped `-shm` file (see
   * docs/ARCHITECTURE.md, "A full disk"). Other processes cannot read the catalog meanwhile.
   */
  readonly exclusive?: boolean;
  /** Refuse (FERRY_CATALOG_LOST) a missing file or one without a schema instead of creating one. */
  readonly mustExist?: boolean;
}

interface SourceRow {
  id: number;
  url: string;
  entry_path: string;
  created_at: string;
}
interface SnapshotRow {
  id: number;
  source_id: number;
  fetched_at: string;
  signed: number;
  keyring_fingerprints: string;
  filter_groups: string | null;
  max_versions: number | null;
  keep: number | null;
}
interface HeldItemRow {
  source_id: number;
  content_id: string;
  product: string;
  version: string;
  item: string;
  path: string;
  size: number;
  sha256: string;
  added_at: string;
}
interface BlobRow {
  sha256: string;
  size: number;
  mtime_ms: number;
  verified_at: string;
}
interface TreeFileRow {
  path: string;
  sha256: string;
  size: number;
  mtime_ms: number;
  verified_at: string;
}
interface SummaryRow {
  source_id: number;
  source_url: string;
  content_id: string;
  product: string;
  versions: string;
  item_count: number;
  bytes: number;
}
interface SelectionRow {
  name: string;
  source: string;
  path: string | null;
  filter_groups: string;
  max_versions: number | null;
  keep: number;
  updated_at: string;
}
interface JobRow {
  id: string;
  kind: string;
  started_at: string;
  finished_at: string | null;
  status: JobStatus;
  summary: string | null;
}
interface JobEventRow {
  job_id: string;
  seq: number;
  at: string;
  type: string;
  data: string;
}

const HELD_ITEM_COLUMNS = 'source_id, content_id, product, version, item, path, size, sha256, added_at';
const LATEST_SNAPSHOT_IDS = 'SELECT max(id) FROM snapshots GROUP BY source_id';

/** The catalog's SQL, exported so that the query-plan tests check the very text the Catalog runs. */
export const CATALOG_SQL = {
  upsertSource: `INSERT INTO sources (url, entry_path, created_at) VALUES (?, ?, ?)
    ON CONFLICT (url) DO UPDATE SET entry_path = excluded.entry_path RETURNING id`,
  findSource: 'SELECT id, url, entry_path, created_at FROM sources WHERE url = ?',
  listSources: 'SELECT id, url, entry_path, created_at FROM sources ORDER BY id',

  insertSnapshot: `INSERT INTO snapshots (source_id, fetched_at, signed, keyring_fingerprints, filter_groups, max_versions, keep)
    VALUES (?, ?, ?, ?, ?, ?, ?)`,
  insertSnapshotFile: 'INSERT INTO snapshot_files (snapshot_id, path, sha256, size) VALUES (?, ?, ?, ?)',
  latestSnapshot: `SELECT id, source_id, fetched_at, signed, keyring_fingerprints, filter_groups, max_versions, keep FROM snapshots
    WHERE source_id = ? ORDER BY id DESC LIMIT 1`,
  snapshotFiles: 'SELECT path, sha256, size FROM snapshot_files WHERE snapshot_id = ? ORDER BY path',
  // A source whose newest metadata is no longer complete in the store falls back to an older one;
  // repeated until every source's latest snapshot is complete (or it has none).
  dropIncompleteLatestSnapshots: `DELETE FROM snapshots WHERE id IN (
      SELECT snapshot_id FROM snapshot_files
      WHERE snapshot_id IN (${LATEST_SNAPSHOT_IDS})
        AND NOT EXISTS (SELECT 1 FROM blobs WHERE blobs.sha256 = snapshot_files.sha256))`,

  heldItems: `SELECT ${HELD_ITEM_COLUMNS} FROM items WHERE source_id = ?
    ORDER BY content_id, product, version, item`,
  heldItemsOfContent: `SELECT ${HELD_ITEM_COLUMNS} FROM items WHERE source_id = ? AND content_id = ?
    ORDER BY product, version, item`,
  heldVersions: 'SELECT DISTINCT version FROM items WHERE source_id = ? AND content_id = ? AND product = ?',
  heldFileAtPath: 'SELECT sha256, size FROM items WHERE path = ? AND source_id = ? LIMIT 1',
  // Re-adding an item that is already held with the same file keeps the time it was first added.
  upsertHeldItem: `INSERT INTO items (${HELD_ITEM_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (source_id, content_id, product, version, item) DO UPDATE SET
      added_at = CASE WHEN items.sha256 = excluded.sha256 AND items.path = excluded.path
                 THEN items.added_at ELSE excluded.added_at END,
      path = excluded.path, size = excluded.size, sha256 = excluded.sha256`,
  deleteHeldItem: `DELETE FROM items
    WHERE source_id = ? AND content_id = ? AND product = ? AND version = ? AND item = ?`,
  deleteHeldItemsOfBlob: 'DELETE FROM items WHERE sha256 = ?',
  deleteHeldItemsAtPath: 'DELETE FROM items WHERE path = ?',
  dropHeldItemsWithoutBlob: `DELETE FROM items
    WHERE NOT EXISTS (SELECT 1 FROM blobs WHERE blobs.sha256 = items.sha256)`,
  dropHeldItemsWithoutTreeFile: `DELETE FROM items
    WHERE NOT EXISTS (SELECT 1 FROM tree_files WHERE tree_files.path = items.path)`,

  referencesToPath: 'SELECT count(*) FROM items WHERE path = ?',
  referencesToBlob: `SELECT
      (SELECT count(*) FROM items WHERE sha256 = :sha256)
    + (SELECT count(*) FROM snapshot_files
       WHERE sha256 = :sha256 AND snapshot_id IN (${LATEST_SNAPSHOT_IDS}))`,

  upsertBlob: `INSERT INTO blobs (sha256, size, mtime_ms, verified_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (sha256) DO UPDATE SET
      size = excluded.size, mtime_ms = excluded.mtime_ms, verified_at = excluded.verified_at`,
  getBlob: 'SELECT sha256, size, mtime_ms, verified_at FROM blobs WHERE sha256 = ?',
  listBlobs: 'SELECT sha256, size, mtime_ms, verified_at FROM blobs ORDER BY sha256',
  countBlobs: 'SELECT count(*) FROM blobs',
  deleteBlob: 'DELETE FROM blobs WHERE sha256 = ?',
  markBlobVerified: 'UPDATE blobs SET mtime_ms = ?, verified_at = ? WHERE sha256 = ?',
  unreferencedBlobs: `SELECT sha256, size, mtime_ms, verified_at FROM blobs
    WHERE NOT EXISTS (SELECT 1 FROM items WHERE items.sha256 = blobs.sha256)
      AND NOT EXISTS (SELECT 1 FROM snapshot_files
                      WHERE snapshot_files.sha256 = blobs.sha256
                        AND snapshot_files.snapshot_id IN (${LATEST_SNAPSHOT_IDS}))
    ORDER BY sha256`,

  getTreeFile: 'SELECT path, sha256, size, mtime_ms, verified_at FROM tree_files WHERE path = ?',
  listTreeFiles: 'SELECT path, sha256, size, mtime_ms, verified_at FROM tree_files ORDER BY path',
  putTreeFile: `INSERT INTO tree_files (path, sha256, size, mtime_ms, verified_at) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (path) DO UPDATE SET
      sha256 = excluded.sha256, size = excluded.size, mtime_ms = excluded.mtime_ms,
      verified_at = excluded.verified_at`,
  deleteTreeFile: 'DELETE FROM tree_files WHERE path = ?',

  librarySummary: `SELECT items.source_id, sources.url AS source_url, items.content_id, items.product,
      json_group_array(DISTINCT items.version) AS versions, count(*) AS item_count, sum(items.size) AS bytes
    FROM items JOIN sources ON sources.id = items.source_id
    GROUP BY items.source_id, items.content_id, items.product
    ORDER BY items.source_id, items.content_id, items.product`,

  saveSelection: `INSERT INTO selections (name, source, path, filter_groups, max_versions, keep, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (name) DO UPDATE SET
      source = excluded.source, path = excluded.path, filter_groups = excluded.filter_groups,
      max_versions = excluded.max_versions, keep = excluded.keep, updated_at = excluded.updated_at`,
  getSelection: 'SELECT name, source, path, filter_groups, max_versions, keep, updated_at FROM selections WHERE name = ?',
  listSelections: 'SELECT name, source, path, filter_groups, max_versions, keep, updated_at FROM selections ORDER BY name',
  deleteSelection: 'DELETE FROM selections WHERE name = ?',

  insertJob: `INSERT INTO jobs (id, kind, started_at, finished_at, status, summary)
    VALUES (?, ?, ?, NULL, 'running', NULL)`,
  finishJob: `UPDATE jobs SET finished_at = ?, status = ?, summary = ?
    WHERE id = ? AND status = 'running'`,
  failRunningJobs: `UPDATE jobs SET finished_at = ?, status = 'failed', summary = ? WHERE status = 'running'`,
  getJob: 'SELECT id, kind, started_at, finished_at, status, summary FROM jobs WHERE id = ?',
  recentJobs: `SELECT id, kind, started_at, finished_at, status, summary FROM jobs
    ORDER BY started_at DESC, id LIMIT ?`,
  latestJobOfKind: `SELECT id, kind, started_at, finished_at, status, summary FROM jobs
    WHERE kind = ? ORDER BY started_at DESC LIMIT 1`,
  insertJobEvent: `INSERT INTO job_events (job_id, seq, at, type, data)
    SELECT :jobId, coalesce(max(seq), 0) + 1, :at, :type, :data FROM job_events WHERE job_id = :jobId
    RETURNING seq`,
  jobEvents: 'SELECT job_id, seq, at, type, data FROM job_events WHERE job_id = ? ORDER BY seq',
} as const;

type Statements = ReturnType<typeof prepareStatements>;

function prepareStatements(db: Database.Database) {
  const sql = CATALOG_SQL;
  return {
    upsertSource: db.prepare<[string, string, string], { id: number }>(sql.upsertSource),
    findSource: db.prepare<[string], SourceRow>(sql.findSource),
    listSources: db.prepare<[], SourceRow>(sql.listSources),
    insertSnapshot: db.prepare<[number, string, number, string, string | null, number | null, number | null]>(sql.insertSnapshot),
    insertSnapshotFile: db.prepare<[number, string, string, number]>(sql.insertSnapshotFile),
    latestSnapshot: db.prepare<[number], SnapshotRow>(sql.latestSnapshot),
    snapshotFiles: db.prepare<[number], SnapshotFile>(sql.snapshotFiles),
    dropIncompleteLatestSnapshots: db.prepare<[]>(sql.dropIncompleteLatestSnapshots),
    heldItems: db.prepare<[number], HeldItemRow>(sql.heldItems),
    heldItemsOfContent: db.prepare<[number, string], HeldItemRow>(sql.heldItemsOfContent),
    heldVersions: db.prepare<[number, string, string], string>(sql.heldVersions).pluck(),
    heldFileAtPath: db.prepare<[string, number], HeldFile>(sql.heldFileAtPath),
    upsertHeldItem: db.prepare<[number, string, string, string, string, string, number, string, string]>(
      sql.upsertHeldItem,
    ),
    deleteHeldItem: db.prepare<[number, string, string, string, string]>(sql.deleteHeldItem),
    deleteHeldItemsOfBlob: db.prepare<[string]>(sql.deleteHeldItemsOfBlob),
    deleteHeldItemsAtPath: db.prepare<[string]>(sql.deleteHeldItemsAtPath),
    dropHeldItemsWithoutBlob: db.prepare<[]>(sql.dropHeldItemsWithoutBlob),
    dropHeldItemsWithoutTreeFile: db.prepare<[]>(sql.dropHeldItemsWithoutTreeFile),
    referencesToPath: db.prepare<[string], number>(sql.referencesToPath).pluck(),
    referencesToBlob: db.prepare<[{ sha256: string }], number>(sql.referencesToBlob).pluck(),
    upsertBlob: db.prepare<[string, number, number, string]>(sql.upsertBlob),
    getBlob: db.prepare<[string], BlobRow>(sql.getBlob),
    listBlobs: db.prepare<[], BlobRow>(sql.listBlobs),
    countBlobs: db.prepare<[], number>(sql.countBlobs).pluck(),
    deleteBlob: db.prepare<[string]>(sql.deleteBlob),
    markBlobVerified: db.prepare<[number, string, string]>(sql.markBlobVerified),
    unreferencedBlobs: db.prepare<[], BlobRow>(sql.unreferencedBlobs),
    getTreeFile: db.prepare<[string], TreeFileRow>(sql.getTreeFile),
    listTreeFiles: db.prepare<[], TreeFileRow>(sql.listTreeFiles),
    putTreeFile: db.prepare<[string, string, number, number, string]>(sql.putTreeFile),
    deleteTreeFile: db.prepare<[string]>(sql.deleteTreeFile),
    librarySummary: db.prepare<[], SummaryRow>(sql.librarySummary),
    saveSelection: db.prepare<[string, string, string | null, string, number | null, number, string]>(sql.saveSelection),
    getSelection: db.prepare<[string], SelectionRow>(sql.getSelection),
    listSelections: db.prepare<[], SelectionRow>(sql.listSelections),
    deleteSelection: db.prepare<[string]>(sql.deleteSelection),
    insertJob: db.prepare<[string, string, string]>(sql.insertJob),
    finishJob: db.prepare<[string, JobStatus, string | null, string]>(sql.finishJob),
    failRunningJobs: db.prepare<[string, string]>(sql.failRunningJobs),
    getJob: db.prepare<[string], JobRow>(sql.getJob),
    recentJobs: db.prepare<[number], JobRow>(sql.recentJobs),
    latestJobOfKind: db.prepare<[string], JobRow>(sql.latestJobOfKind),
    insertJobEvent: db.prepare<[{ jobId: string; at: string; type: string; data: string }], number>(
      sql.insertJobEvent,
    ).pluck(),
    jobEvents: db.prepare<[string], JobEventRow>(sql.jobEvents),
  };
}

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
  private readonly db: Database.Database;
  private readonly statements: Statements;
  private readonly now: () => Date;

  private constructor(db: Database.Database, file: string, migration: MigrationResult, now: () => Date) {
    this.db = db;
    this.file = file;
    this.migration = migration;
    this.now = now;
    this.statements = prepareStatements(db);
  }

  /**
   * Opens (creating if needed, unless `mustExist`) and migrates the catalog at `file`; its folder
   * must exist. Throws FERRY_CATALOG_CORRUPT (not a database), FERRY_CATALOG_TOO_NEW, with
   * `mustExist` FERRY_CATALOG_LOST (missing, or a database without our schema), FERRY_DISK_FULL.
   */
  static open(file: string, options: CatalogOpenOptions = {}): Catalog {
    const mustExist = options.mustExist === true;
    return Catalog.connect(
      file,
      options,
      () => new Database(file, { fileMustExist: mustExist }),
      (db) => {
        // Must precede the first read of a database in WAL mode: only then does SQLite keep the
        // log's index in heap memory and never create or map `-shm` (https://www.sqlite.org/wal.html#noshm).
        if (options.exclusive === true) db.pragma('locking_mode = EXCLUSIVE');
        // Before configuring (switching to WAL rewrites the header) and migrating (which would give
        // an empty database our schema and so make it "new"): a refused file stays as it was.
        if (mustExist && readSchemaVersion(db) === 0) throw catalogLost(file, 'is a database without a catalog in it');
        configureConnection(db);
      },
    );
  }

  /**
   * An in-memory copy of the catalog at `file` (migrated in memory if older), for commands that
   * only look: a dry run, `ferry library`. The file is read once and never written, so such a
   * command may run beside a job that holds the lock; anything written goes to the copy and is
   * gone on close.
   */
  static openCopy(file: string, options: CatalogOptions = {}): Catalog {
    const openBytes = (): Database.Database => {
      const bytes = readDatabaseBytes(file);
      // The header's file-format bytes say WAL, which an in-memory database cannot open for
      // writing; 1 means a rollback journal (https://www.sqlite.org/fileformat2.html#database_header).
      bytes[18] = 1;
      bytes[19] = 1;
      return new Database(bytes);
    };
    return Catalog.connect(file, options, openBytes, (db) => db.pragma('foreign_keys = ON'));
  }

  /** Configures and migrates what `openDatabase` opens; any failure closes it and names `file`. */
  private static connect(
    file: string,
    options: CatalogOpenOptions,
    openDatabase: () => Database.Database,
    configure: (db: Database.Database) => void,
  ): Catalog {
    let db: Database.Database | undefined;
    try {
      db = openDatabase();
      configure(db);
      const migration = migrateDatabase(db, file);
      return new Catalog(db, file, migration, options.now ?? (() => new Date()));
    } catch (error) {
      db?.close();
      if (options.mustExist === true && error instanceof Database.SqliteError && error.code === 'SQLITE_CANTOPEN' && !existsSync(file)) {
        throw catalogLost(file, 'is missing');
      }
      throw translateSqliteError(error, file);
    }
  }

  /**
   * SQLite's own check of every page and index (`PRAGMA quick_check`): a catalog with a damaged
   * page can still open and answer queries with rows missing, which a command that deletes files
   * must not act on. Throws FERRY_CATALOG_CORRUPT naming what SQLite found.
   */
  assertIntact(): void {
    const problems = this.guard(() => this.db.pragma('quick_check', { simple: false }) as Array<{ quick_check: string }>);
    const found = problems.map((row) => row.quick_check).filter((text) => text !== 'ok');
    if (found.length === 0) return;
    throw new FerryError('FERRY_CATALOG_CORRUPT', `The catalog ${this.file} is damaged: ${found.slice(0, 3).join('; ')}`, {
      path: this.file,
      hint: CORRUPT_HINT,
    });
  }

  get isOpen(): boolean {
    return this.db.open;
  }

  connectionSettings(): ConnectionSettings {
    return this.guard(() => ({
      journalMode: String(this.db.pragma('journal_mode', { simple: true })),
      synchronous: Number(this.db.pragma('synchronous', { simple: true })),
      foreignKeys: Number(this.db.pragma('foreign_keys', { simple: true })) === 1,
      busyTimeoutMs: Number(this.db.pragma('busy_timeout', { simple: true })),
    }));
  }

  /** Closing twice is harmless, so that cleanup paths need not track it. */
  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Runs `fn` in one transaction (a savepoint when nested); `fn` must be synchronous. */
  transaction<T>(fn: () => T): T {
    return this.guard(() => this.db.transaction(fn)());
  }

  // Sources

  /** Credentials in the URL are removed before it is stored; the id of an existing URL is kept. */
  upsertSource(url: string, entryPath: string): number {
    return this.guard(() => {
      const row = this.statements.upsertSource.get(redactUrl(url), entryPath, this.timestamp());
      return requireRow(row, 'upsertSource').id;
    });
  }

  findSource(url: string): SourceRecord | undefined {
    return this.guard(() => {
      const row = this.statements.findSource.get(redactUrl(url));
      return row === undefined ? undefined : toSource(row);
    });
  }

  listSources(): SourceRecord[] {
    return this.guard(() => this.statements.listSources.all().map(toSource));
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
    return this.transaction(() => {
      const { lastInsertRowid } = this.statements.insertSnapshot.run(
        sourceId,
        this.timestamp(),
        signed ? 1 : 0,
        JSON.stringify(keyringFingerprints),
        selection === undefined ? null : JSON.stringify(selection.filterGroups),
        selection?.maxVersions ?? null,
        selection === undefined ? null : selection.keep ? 1 : 0,
      );
      const snapshotId = Number(lastInsertRowid);
      for (const file of files) this.statements.insertSnapshotFile.run(snapshotId, file.path, file.sha256, file.size);
      return snapshotId;
    });
  }

  latestSnapshot(sourceId: number): SnapshotRecord | undefined {
    return this.guard(() => {
      const row = this.statements.latestSnapshot.get(sourceId);
      if (row === undefined) return undefined;
      return {
        id: row.id,
        sourceId: row.source_id,
        fetchedAt: row.fetched_at,
        signed: row.signed === 1,
        keyringFingerprints: this.parseStringArray(row.keyring_fingerprints, `keyring fingerprints of snapshot ${row.id}`),
        files: this.statements.snapshotFiles.all(row.id),
        selection:
          row.filter_groups === null
            ? undefined
            : {
                filterGroups: this.parseFilterGroups(row.filter_groups, `filter groups of snapshot ${row.id}`),
                maxVersions: row.max_versions,
                keep: row.keep === 1,
              },
      };
    });
  }

  /** Deletes each source's latest snapshot while any of its files is missing from the blobs table. */
  dropIncompleteLatestSnapshots(): number {
    return this.transaction(() => {
      let dropped = 0;
      for (;;) {
        const { changes } = this.statements.dropIncompleteLatestSnapshots.run();
        if (changes === 0) return dropped;
        dropped += changes;
      }
    });
  }

  // Held items

  heldItems(sourceId: number, contentId?: string): HeldItem[] {
    return this.guard(() => {
      const rows =
        contentId === undefined
          ? this.statements.heldItems.all(sourceId)
          : this.statements.heldItemsOfContent.all(sourceId, contentId);
      return rows.map(toHeldItem);
    });
  }

  /** Versions of one product that are held, in no promised order: the engine sorts (streams' compareVersionNames). */
  heldVersions(sourceId: number, contentId: string, product: string): string[] {
    return this.guard(() => this.statements.heldVersions.all(sourceId, contentId, product));
  }

  /**
   * The bytes a source's held items at this path have: how an item whose metadata lists no sha256
   * (only sha512 or md5) finds its blob again on the next run.
   */
  heldFileAtPath(sourceId: number, path: string): HeldFile | undefined {
    return this.guard(() => this.statements.heldFileAtPath.get(path, sourceId));
  }

  addHeldItems(items: readonly NewHeldItem[]): void {
    this.transaction(() => {
      const addedAt = this.timestamp();
      for (const item of items) {
        this.statements.upsertHeldItem.run(
          item.sourceId,
          item.contentId,
          item.product,
          item.version,
          item.item,
          item.path,
          item.size,
          item.sha256,
          addedAt,
        );
      }
    });
  }

  /**
   * Forgets held items and answers how many were held. Their files stay: the caller deletes a file
   * once referencesToPath / referencesToBlob says nothing else needs it.
   */
  removeHeldItems(keys: readonly HeldItemKey[]): number {
    return this.transaction(() => {
      let removed = 0;
      for (const key of keys) {
        removed += this.statements.deleteHeldItem.run(key.sourceId, key.contentId, key.product, key.version, key.item)
          .changes;
      }
      return removed;
    });
  }

  /** Held items (of any source) whose file is at this tree path. */
  referencesToPath(path: string): number {
    return this.guard(() => this.statements.referencesToPath.get(path) ?? 0);
  }

  /** Held items plus files of each source's latest snapshot that need these bytes. */
  referencesToBlob(sha256: string): number {
    return this.guard(() => this.statements.referencesToBlob.get({ sha256 }) ?? 0);
  }

  /** Drops held items whose blob is not recorded (library mode); answers how many. */
  dropHeldItemsWithoutBlob(): number {
    return this.guard(() => this.statements.dropHeldItemsWithoutBlob.run().changes);
  }

  /** Drops held items whose path has no verified tree file (mirror-tree mode); answers how many. */
  dropHeldItemsWithoutTreeFile(): number {
    return this.guard(() => this.statements.dropHeldItemsWithoutTreeFile.run().changes);
  }

  // Blobs

  /** Records a blob that is in place on disk and whose content was just verified. */
  recordBlob(blob: StoredBlob): void {
    this.guard(() => this.statements.upsertBlob.run(blob.sha256, blob.size, blob.mtimeMs, this.timestamp()));
  }

  getBlob(sha256: string): BlobRecord | undefined {
    return this.guard(() => {
      const row = this.statements.getBlob.get(sha256);
      return row === undefined ? undefined : toBlob(row);
    });
  }

  listBlobs(): BlobRecord[] {
    return this.guard(() => this.statements.listBlobs.all().map(toBlob));
  }

  countBlobs(): number {
    return this.guard(() => this.statements.countBlobs.get() ?? 0);
  }

  /**
   * Forgets a blob, and with it every held item that pointed at it. Call it before deleting the
   * file, so that a crash in between leaves a file without a row (which repair re-adopts by hash),
   * never a row without a file.
   */
  removeBlob(sha256: string): RemovalResult {
    return this.transaction(() => {
      const heldItemsDropped = this.statements.deleteHeldItemsOfBlob.run(sha256).changes;
      const removed = this.statements.deleteBlob.run(sha256).changes > 0;
      return { removed, heldItemsDropped };
    });
  }

  /** Notes that the blob was re-hashed and found good; answers false when no such blob is recorded. */
  markVerified(sha256: string, mtimeMs: number): boolean {
    return this.guard(() => this.statements.markBlobVerified.run(mtimeMs, this.timestamp(), sha256).changes > 0);
  }

  /** Blobs that no held item and no file of any source's latest snapshot needs: what gc may delete. */
  unreferencedBlobs(): BlobRecord[] {
    return this.guard(() => this.statements.unreferencedBlobs.all().map(toBlob));
  }

  // Tree files (mirror-tree mode)

  getTreeFile(path: string): TreeFileRecord | undefined {
    return this.guard(() => {
      const row = this.statements.getTreeFile.get(path);
      return row === undefined ? undefined : toTreeFile(row);
    });
  }

  listTreeFiles(): TreeFileRecord[] {
    return this.guard(() => this.statements.listTreeFiles.all().map(toTreeFile));
  }

  /** Records a file that is in place at its final tree path and was just verified. */
  putTreeFile(file: TreeFile): void {
    this.guard(() =>
      this.statements.putTreeFile.run(file.path, file.sha256, file.size, file.mtimeMs, this.timestamp()),
    );
  }

  /** Forgets a tree file and the held items at that path, which are no longer verified present. */
  deleteTreeFile(path: string): RemovalResult {
    return this.transaction(() => {
      const heldItemsDropped = this.statements.deleteHeldItemsAtPath.run(path).changes;
      const removed = this.statements.deleteTreeFile.run(path).changes > 0;
      return { removed, heldItemsDropped };
    });
  }

  // Summary

  librarySummary(): ProductSummary[] {
    return this.guard(() =>
      this.statements.librarySummary.all().map((row) => ({
        sourceId: row.source_id,
        sourceUrl: row.source_url,
        contentId: row.content_id,
        product: row.product,
        versions: this.parseStringArray(row.versions, `versions of ${row.product}`),
        itemCount: row.item_count,
        bytes: row.bytes,
      })),
    );
  }

  // Selections (named profiles)

  saveSelection(selection: SelectionProfile): SavedSelection {
    return this.guard(() => {
      const updatedAt = this.timestamp();
      this.statements.saveSelection.run(
        selection.name,
        selection.source,
        selection.path,
        JSON.stringify(selection.filterGroups),
        selection.maxVersions,
        selection.keep ? 1 : 0,
        updatedAt,
      );
      return { ...selection, updatedAt };
    });
  }

  getSelection(name: string): SavedSelection | undefined {
    return this.guard(() => {
      const row = this.statements.getSelection.get(name);
      return row === undefined ? undefined : this.toSelection(row);
    });
  }

  listSelections(): SavedSelection[] {
    return this.guard(() => this.statements.listSelections.all().map((row) => this.toSelection(row)));
  }

  deleteSelection(name: string): void {
    this.guard(() => {
      if (this.statements.deleteSelection.run(name).changes === 0) {
        throw new FerryError('FERRY_PROFILE_UNKNOWN', `No saved selection is named ${JSON.stringify(name)}`, {
          hint: 'List the saved selections to see their names.',
        });
      }
    });
  }

  // Jobs

  /** Records a job as running and answers its id (a new UUID unless the caller brings one). */
  startJob(kind: string, id: string = randomUUID()): string {
    this.guard(() => this.statements.insertJob.run(id, kind, this.timestamp()));
    return id;
  }

  /** Answers false when the job is unknown or already finished (its first outcome stands). */
  finishJob(id: string, status: Exclude<JobStatus, 'running'>, summary?: JsonValue): boolean {
    return this.guard(() => {
      const summaryText = summary === undefined ? null : JSON.stringify(summary);
      return this.statements.finishJob.run(this.timestamp(), status, summaryText, id).changes > 0;
    });
  }

  /**
   * Marks every job still 'running' as failed, and answers how many. Only the holder of the
   * library's lock may call it: then no other process is running a job, so each of these belongs to
   * one that ended without finishing it (killed, crashed, powered off).
   */
  failInterruptedJobs(): number {
    const summary = JSON.stringify({ interrupted: true, message: 'The process running this job ended before the job finished.' });
    return this.guard(() => this.statements.failRunningJobs.run(this.timestamp(), summary).changes);
  }

  /** Appends an event to a job's log and answers its sequence number (1, 2, ...). */
  addJobEvent(jobId: string, type: string, data: JsonValue): number {
    return this.guard(() => {
      const seq = this.statements.insertJobEvent.get({ jobId, at: this.timestamp(), type, data: JSON.stringify(data) });
      return requireRow(seq, 'addJobEvent');
    });
  }

  getJob(id: string): JobRecord | undefined {
    return this.guard(() => {
      const row = this.statements.getJob.get(id);
      return row === undefined ? undefined : this.toJob(row);
    });
  }

  recentJobs(limit: number): JobRecord[] {
    return this.guard(() => this.statements.recentJobs.all(limit).map((row) => this.toJob(row)));
  }

  /** The job of this kind that started last, whatever its status. */
  latestJob(kind: string): JobRecord | undefined {
    return this.guard(() => {
      const row = this.statements.latestJobOfKind.get(kind);
      return row === undefined ? undefined : this.toJob(row);
    });
  }

  jobEvents(jobId: string): JobEvent[] {
    return this.guard(() =>
      this.statements.jobEvents.all(jobId).map((row) => ({
        jobId: row.job_id,
        seq: row.seq,
        at: row.at,
        type: row.type,
        data: this.parseJson(row.data, `event ${row.seq} of job ${row.job_id}`),
      })),
    );
  }

  private timestamp(): string {
    return this.now().toISOString();
  }

  private guard<T>(operation: () => T): T {
    try {
      return operation();
    } catch (error) {
      throw translateSqliteError(error, this.file);
    }
  }

  private toSelection(row: SelectionRow): SavedSelection {
    return {
      name: row.name,
      source: row.source,
      path: row.path,
      filterGroups: this.parseFilterGroups(row.filter_groups, `filter groups of the selection ${JSON.stringify(row.name)}`),
      maxVersions: row.max_versions,
      keep: row.keep === 1,
      updatedAt: row.updated_at,
    };
  }

  private parseFilterGroups(text: string, where: string): string[][] {
    const groups = this.parseJson(text, where);
    if (!Array.isArray(groups)) throw this.corrupt(where);
    return (groups as readonly JsonValue[]).map((group) => this.asStringArray(group, where));
  }

  private toJob(row: JobRow): JobRecord {
    return {
      id: row.id,
      kind: row.kind,
      startedAt: row.started_at,
      finishedAt: row.finished_at,
      status: row.status,
      summary: row.summary === null ? null : this.parseJson(row.summary, `summary of job ${row.id}`),
    };
  }

  private parseJson(text: string, where: string): JsonValue {
    try {
      return JSON.parse(text) as JsonValue;
    } catch {
      throw this.corrupt(where);
    }
  }

  private parseStringArray(text: string, where: string): string[] {
    return this.asStringArray(this.parseJson(text, where), where);
  }

  private asStringArray(value: JsonValue, where: string): string[] {
    if (!Array.isArray(value)) throw this.corrupt(where);
    const strings: string[] = [];
    for (const element of value as readonly JsonValue[]) {
      if (typeof element !== 'string') throw this.corrupt(where);
      strings.push(element);
    }
    return strings;
  }

  private corrupt(where: string): FerryError {
    return new FerryError('FERRY_CATALOG_CORRUPT', `The catalog ${this.file} holds unreadable ${where}`, {
      path: this.file,
      hint: CORRUPT_HINT,
    });
  }
}

const CORRUPT_HINT =
  'Move the catalog file aside and run again: a new catalog is created, and files already in the store are re-adopted after hashing.';

/**
 * The database at `file` as one buffer, without leaving a trace: a catalog closed cleanly is all in
 * its file, which is read as it is; while a write-ahead log exists (a job is running, or one was
 * killed), SQLite reads through it, and a read-only connection then creates no file of its own.
 */
function readDatabaseBytes(file: string): Buffer {
  if (!existsSync(`${file}-wal`)) {
    const bytes = readFileSync(file);
    if (bytes.length < SQLITE_HEADER_BYTES || !bytes.subarray(0, SQLITE_MAGIC.length).equals(SQLITE_MAGIC)) {
      throw new Database.SqliteError('file is not a database', 'SQLITE_NOTADB');
    }
    return bytes;
  }
  const original = new Database(file, { readonly: true, fileMustExist: true });
  try {
    original.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    // Reads the header first: serialize() reports a file that is not a database as "out of memory".
    original.pragma('schema_version');
    return original.serialize();
  } finally {
    original.close();
  }
}

const SQLITE_MAGIC = Buffer.from('SQLite format 3\u0000', 'latin1');
const SQLITE_HEADER_BYTES = 100;

function configureConnection(db: Database.Database): void {
  // Set first, so that switching the journal mode also waits for a writer in another process.
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  const journalMode = db.pragma('journal_mode = WAL', { simple: true });
  // In WAL mode, NORMAL flushes the log at checkpoints instead of at every commit. A power cut may
  // then lose the last few commits, but never corrupts the database or tears a transaction. That
  // loss is harmless here: rows are written after the files they describe, so a lost commit leaves
  // files without rows, which startup repair re-verifies and records. Where WAL is not available
  // (some network file systems) a rollback journal is only crash-safe with FULL.
  db.pragma(journalMode === 'wal' ? 'synchronous = NORMAL' : 'synchronous = FULL');
  db.pragma('foreign_keys = ON');
}

const DISK_FULL_CODES: ReadonlySet<string> = new Set(['SQLITE_FULL']);
/**
 * SQLite reports some writes that failed for lack of space as I/O errors (extending `-shm` is
 * SQLITE_IOERR_SHMSIZE, a failed fsync SQLITE_IOERR_FSYNC) and does not tell better-sqlite3 the
 * errno; below this many free bytes such an error is taken to be the full disk it almost surely is.
 */
const NEARLY_FULL_BYTES = 256 * 1024;
const CORRUPT_CODES: ReadonlySet<string> = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB']);
const BUSY_CODES: ReadonlySet<string> = new Set(['SQLITE_BUSY', 'SQLITE_LOCKED']);
const IO_CODES: ReadonlySet<string> = new Set(['SQLITE_IOERR', 'SQLITE_CANTOPEN', 'SQLITE_READONLY', 'SQLITE_PERM']);

/**
 * SQLite failures the operator can act on become FerryErrors naming the catalog file. Anything
 * else (a constraint violated, a misuse) is a defect of the caller and is passed on as it is.
 */
function translateSqliteError(error: unknown, file: string): unknown {
  if (!(error instanceof Database.SqliteError)) return error;
  // Extended codes (SQLITE_IOERR_WRITE, SQLITE_BUSY_SNAPSHOT...) share the primary code's prefix.
  const primary = /^SQLITE_[A-Z]+/.exec(error.code)?.[0] ?? error.code;
  if (DISK_FULL_CODES.has(primary) || (primary === 'SQLITE_IOERR' && freeBytesNear(file) < NEARLY_FULL_BYTES)) {
    return new FerryError('FERRY_DISK_FULL', `The disk is full: could not write the catalog ${file}`, {
      path: file,
      cause: error,
      hint: 'Free space on that disk, then run the command again; the catalog is left as it was.',
    });
  }
  if (CORRUPT_CODES.has(primary)) {
    return new FerryError('FERRY_CATALOG_CORRUPT', `The catalog ${file} is damaged: ${describeError(error)}`, {
      path: file,
      cause: error,
      hint: CORRUPT_HINT,
    });
  }
  if (BUSY_CODES.has(primary)) {
    return new FerryError('FERRY_IO', `The catalog ${file} stayed locked by another process`, {
      path: file,
      cause: error,
      hint: 'Wait for the other Stream Ferry job on this library to finish, then run the command again.',
    });
  }
  if (IO_CODES.has(primary)) {
    return new FerryError('FERRY_IO', `Could not use the catalog ${file}: ${describeError(error)}`, {
      path: file,
      cause: error,
    });
  }
  return error;
}

/** Free bytes on the file system holding `file` (Infinity when that cannot be told, e.g. in memory). */
function freeBytesNear(file: string): number {
  try {
    const stats = statfsSync(dirname(file));
    return stats.bavail * stats.bsize;
  } catch {
    return Infinity;
  }
}

/** FERRY_CATALOG_LOST: the catalog at `file` is gone or empty (`what`: "is missing", ...) while files are stored. */
export function catalogLost(file: string, what: string): FerryError {
  return new FerryError('FERRY_CATALOG_LOST', `The catalog ${file} ${what}: it was lost or replaced, so what the stored files are is unknown`, {
    path: file,
    hint: 'Nothing was deleted. Sync each source of this library again: that hashes the stored files and records them again; then run the command again.',
  });
}

function requireRow<T>(row: T | undefined, operation: string): T {
  // INSERT ... RETURNING and aggregate queries always produce a row; its absence is a defect.
  if (row === undefined) throw new Error(`Catalog.${operation}: the statement returned no row`);
  return row;
}

function toSource(row: SourceRow): SourceRecord {
  return { id: row.id, url: row.url, entryPath: row.entry_path, createdAt: row.created_at };
}

function toHeldItem(row: HeldItemRow): HeldItem {
  return {
    sourceId: row.source_id,
    contentId: row.content_id,
    product: row.product,
    version: row.version,
    item: row.item,
    path: row.path,
    size: row.size,
    sha256: row.sha256,
    addedAt: row.added_at,
  };
}

function toBlob(row: BlobRow): BlobRecord {
  return { sha256: row.sha256, size: row.size, mtimeMs: row.mtime_ms, verifiedAt: row.verified_at };
}

function toTreeFile(row: TreeFileRow): TreeFileRecord {
  return { path: row.path, sha256: row.sha256, size: row.size, mtimeMs: row.mtime_ms, verifiedAt: row.verified_at };
}
