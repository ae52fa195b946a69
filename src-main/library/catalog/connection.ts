// The catalog's connection: opening (or copying into memory) and migrating the database, the
// pragmas that make it durable, the clock its timestamps come from, and the mapping of SQLite's
// failures to FerryErrors that every statement runs through.
import { existsSync, readFileSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { FerryError, describeError } from '../../base/errors.js';
import { migrateDatabase, readSchemaVersion } from '../migrations/index.js';
import type { MigrationResult } from '../migrations/index.js';

// How long a statement waits for another process's write to finish before failing.
const BUSY_TIMEOUT_MS = 5000;

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

export const CORRUPT_HINT =
  'Move the catalog file aside and run again: a new catalog is created, and files already in the store are re-adopted after hashing.';

/**
 * An open, migrated catalog database and what every area of the catalog needs to use it: `guard`
 * and `transaction` turn SQLite's failures into FerryErrors naming `file`, `timestamp` reads the
 * catalog's clock. The errors each step throws are listed on Catalog, which opens it.
 */
export class CatalogConnection {
  readonly db: Database.Database;
  readonly file: string;
  readonly migration: MigrationResult;
  private readonly now: () => Date;

  private constructor(db: Database.Database, file: string, migration: MigrationResult, now: () => Date) {
    this.db = db;
    this.file = file;
    this.migration = migration;
    this.now = now;
  }

  /** See Catalog.open. */
  static open(file: string, options: CatalogOpenOptions = {}): CatalogConnection {
    const mustExist = options.mustExist === true;
    return CatalogConnection.connect(
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

  /** See Catalog.openCopy. */
  static openCopy(file: string, options: CatalogOptions = {}): CatalogConnection {
    const openBytes = (): Database.Database => {
      const bytes = readDatabaseBytes(file);
      // The header's file-format bytes say WAL, which an in-memory database cannot open for
      // writing; 1 means a rollback journal (https://www.sqlite.org/fileformat2.html#database_header).
      bytes[18] = 1;
      bytes[19] = 1;
      return new Database(bytes);
    };
    return CatalogConnection.connect(file, options, openBytes, (db) => db.pragma('foreign_keys = ON'));
  }

  /** Configures and migrates what `openDatabase` opens; any failure closes it and names `file`. */
  private static connect(
    file: string,
    options: CatalogOpenOptions,
    openDatabase: () => Database.Database,
    configure: (db: Database.Database) => void,
  ): CatalogConnection {
    let db: Database.Database | undefined;
    try {
      db = openDatabase();
      configure(db);
      const migration = migrateDatabase(db, file);
      return new CatalogConnection(db, file, migration, options.now ?? (() => new Date()));
    } catch (error) {
      db?.close();
      if (options.mustExist === true && error instanceof Database.SqliteError && error.code === 'SQLITE_CANTOPEN' && !existsSync(file)) {
        throw catalogLost(file, 'is missing');
      }
      throw translateSqliteError(error, file);
    }
  }

  /** See Catalog.assertIntact. */
  assertIntact(): void {
    const problems = this.guard(() => this.db.pragma('quick_check', { simple: false }) as Array<{ quick_check: string }>);
    const found = problems.map((row) => row.quick_check).filter((text) => text !== 'ok');
    if (found.length === 0) return;
    throw new FerryError('FERRY_CATALOG_CORRUPT', `The catalog ${this.file} is damaged: ${found.slice(0, 3).join('; ')}`, {
      path: this.file,
      hint: CORRUPT_HINT,
    });
  }

  settings(): ConnectionSettings {
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

  /** Runs `operation`, turning the SQLite failures an operator can act on into FerryErrors. */
  guard<T>(operation: () => T): T {
    try {
      return operation();
    } catch (error) {
      throw translateSqliteError(error, this.file);
    }
  }

  /** Now on the catalog's clock, as every timestamp column stores it (ISO 8601, UTC). */
  timestamp(): string {
    return this.now().toISOString();
  }
}

/**
 * What each area of the catalog (sources, held items, blobs, selections, jobs) stands on: the
 * connection, and that area's statements, prepared once when the catalog opens.
 */
export abstract class CatalogArea<Statements> {
  protected readonly connection: CatalogConnection;
  protected readonly statements: Statements;

  protected constructor(connection: CatalogConnection, prepare: (db: Database.Database) => Statements) {
    this.connection = connection;
    this.statements = prepare(connection.db);
  }
}

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

/** The row an INSERT ... RETURNING or an aggregate query produced (`operation` names the Catalog method). */
export function requireRow<T>(row: T | undefined, operation: string): T {
  // Such statements always produce a row; its absence is a defect.
  if (row === undefined) throw new Error(`Catalog.${operation}: the statement returned no row`);
  return row;
}
