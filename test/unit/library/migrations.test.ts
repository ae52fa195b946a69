import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { FerryError } from '../../../src-main/base/errors.js';
import { Catalog } from '../../../src-main/library/catalog.js';
import { initialSchema } from '../../../src-main/library/migrations/001-initial.js';
import { MIGRATIONS, migrateDatabase, readSchemaVersion } from '../../../src-main/library/migrations/index.js';
import type { Migration } from '../../../src-main/library/migrations/index.js';
import { sha256Hex, useTempDirs } from './helpers.js';

const tempDir = useTempDirs();
const openDatabases: Database.Database[] = [];
afterEach(() => {
  for (const db of openDatabases.splice(0)) db.close();
});

async function rawDatabase(): Promise<{ db: Database.Database; file: string }> {
  const file = join(await tempDir('migrations'), 'catalog.db');
  const db = new Database(file);
  openDatabases.push(db);
  return { db, file };
}

function tableNames(db: Database.Database): string[] {
  return db
    .prepare<[], string>("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
    .pluck()
    .all();
}

function caught(operation: () => unknown): unknown {
  try {
    operation();
  } catch (error) {
    return error;
  }
  throw new Error('expected the operation to throw');
}

const addsNotes: Migration = {
  version: 2,
  name: 'add-notes',
  up(db) {
    db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL) STRICT');
  },
};

describe('migration list', () => {
  it('has strictly increasing versions starting at 1', () => {
    expect(MIGRATIONS.map((migration) => migration.version)).toEqual(
      MIGRATIONS.map((_migration, index) => index + 1),
    );
  });

  it('registers every NNN-what.ts file under the version and name of its file name', async () => {
    const folder = join(import.meta.dirname, '../../../src-main/library/migrations');
    const files = (await readdir(folder)).filter((name) => /^\d{3}-.+\.ts$/.test(name)).sort();
    expect(files.length).toBeGreaterThan(0);
    expect(files).toEqual(
      MIGRATIONS.map((migration) => `${String(migration.version).padStart(3, '0')}-${migration.name}.ts`),
    );
  });
});

describe('migrateDatabase', () => {
  it('creates the newest schema in an empty database and records its version', async () => {
    const { db, file } = await rawDatabase();
    const result = migrateDatabase(db, file);
    expect(result).toEqual({ from: 0, to: 5, applied: ['001-initial', '002-selection-path', '003-snapshot-selection', '004-exports', '005-selection-trust'] });
    expect(readSchemaVersion(db)).toBe(5);
    expect(tableNames(db)).toEqual([
      'blobs',
      'export_blobs',
      'exports',
      'items',
      'job_events',
      'jobs',
      'selections',
      'snapshot_files',
      'snapshots',
      'sources',
      'tree_files',
    ]);
  });

  it('does nothing to a database that is already current', async () => {
    const { db, file } = await rawDatabase();
    migrateDatabase(db, file);
    expect(migrateDatabase(db, file)).toEqual({ from: 5, to: 5, applied: [] });
  });

  it('runs only the steps newer than the database', async () => {
    const { db, file } = await rawDatabase();
    migrateDatabase(db, file, [initialSchema]);
    expect(migrateDatabase(db, file, [initialSchema, addsNotes])).toEqual({
      from: 1,
      to: 2,
      applied: ['002-add-notes'],
    });
    expect(tableNames(db)).toContain('notes');
  });

  it('002 keeps the selections saved before it, with no path', async () => {
    const { db, file } = await rawDatabase();
    migrateDatabase(db, file, [initialSchema]);
    db.prepare(
      "INSERT INTO selections (name, source, filter_groups, max_versions, keep, updated_at) VALUES ('lab', 'stable', '[[\"arch=amd64\"]]', 1, 0, '2025-01-01T00:00:00.000Z')",
    ).run();
    expect(migrateDatabase(db, file)).toEqual({ from: 1, to: 5, applied: ['002-selection-path', '003-snapshot-selection', '004-exports', '005-selection-trust'] });
    expect(db.prepare('SELECT name, source, path, filter_groups FROM selections').all()).toEqual([
      { name: 'lab', source: 'stable', path: null, filter_groups: '[["arch=amd64"]]' },
    ]);
  });

  it('004 adds an empty ledger of exports beside what was there; the catalog records and reads it per site', async () => {
    const { db, file } = await rawDatabase();
    db.pragma('foreign_keys = ON');
    migrateDatabase(db, file, MIGRATIONS.slice(0, 3));
    db.prepare("INSERT INTO sources (url, entry_path, created_at) VALUES ('u', 'streams/v1/index.sjson', 'now')").run();
    expect(migrateDatabase(db, file)).toEqual({ from: 3, to: 5, applied: ['004-exports', '005-selection-trust'] });
    expect(db.prepare('SELECT count(*) AS n FROM exports').get()).toEqual({ n: 0 });
    expect(() => db.prepare("INSERT INTO export_blobs (bundle_id, sha256) VALUES ('x', ?)").run('a'.repeat(64))).toThrow(/FOREIGN KEY/);
    db.close();
    const catalog = Catalog.open(file);
    try {
      expect(catalog.latestExportTo('dc1')).toBeUndefined();
      catalog.recordExport({ bundleId: '20261130T050000Z-00000001', site: 'dc1', createdAt: '2026-11-30T05:00:00.000Z' }, ['a'.repeat(64), 'b'.repeat(64)]);
      catalog.recordExport({ bundleId: '20261130T060000Z-00000002', site: 'dc1', createdAt: '2026-11-30T06:00:00.000Z' }, ['c'.repeat(64)]);
      catalog.recordExport({ bundleId: '20261130T070000Z-00000003', site: 'dc2', createdAt: '2026-11-30T07:00:00.000Z' }, ['d'.repeat(64)]);
      expect(catalog.latestExportTo('dc1')?.bundleId).toBe('20261130T060000Z-00000002');
      expect([...catalog.blobsExportedTo('dc1')].sort()).toEqual(['a'.repeat(64), 'b'.repeat(64), 'c'.repeat(64)]);
      expect([...catalog.blobsExportedTo('dc9')]).toEqual([]);
    } finally {
      catalog.close();
    }
  });

  it('003 keeps the snapshots recorded before it, with no selection; new ones record theirs', async () => {
    const { db, file } = await rawDatabase();
    migrateDatabase(db, file, MIGRATIONS.slice(0, 2));
    db.prepare("INSERT INTO sources (url, entry_path, created_at) VALUES ('u', 'streams/v1/index.sjson', 'now')").run();
    db.prepare("INSERT INTO snapshots (source_id, fetched_at, signed, keyring_fingerprints) VALUES (1, 'then', 1, '[]')").run();
    expect(migrateDatabase(db, file)).toEqual({ from: 2, to: 5, applied: ['003-snapshot-selection', '004-exports', '005-selection-trust'] });
    expect(db.prepare('SELECT id, filter_groups, max_versions, keep FROM snapshots').all()).toEqual([
      { id: 1, filter_groups: null, max_versions: null, keep: null },
    ]);
    const insert = db.prepare(
      "INSERT INTO snapshots (source_id, fetched_at, signed, keyring_fingerprints, filter_groups, max_versions, keep) VALUES (1, 'now', 1, '[]', ?, ?, ?)",
    );
    expect(() => insert.run('{}', null, 0)).toThrow(/CHECK/);
    expect(() => insert.run('[]', -1, 0)).toThrow(/CHECK/);
    expect(() => insert.run('[]', 1, 2)).toThrow(/CHECK/);
    db.close();
    const catalog = Catalog.open(file);
    try {
      expect(catalog.latestSnapshot(1)?.selection).toBeUndefined();
      catalog.recordSnapshot(1, [], true, [], { filterGroups: [['release=noble'], ['release=jammy', 'arch=amd64']], maxVersions: 1, keep: true });
      expect(catalog.latestSnapshot(1)?.selection).toEqual({ filterGroups: [['release=noble'], ['release=jammy', 'arch=amd64']], maxVersions: 1, keep: true });
    } finally {
      catalog.close();
    }
  });

  it('005 keeps the selections saved before it, with the bundled keyring and verification', async () => {
    const { db, file } = await rawDatabase();
    migrateDatabase(db, file, MIGRATIONS.slice(0, 4));
    db.prepare(
      "INSERT INTO selections (name, source, filter_groups, max_versions, keep, updated_at) VALUES ('lab', 'stable', '[[\"arch=amd64\"]]', 1, 0, '2025-01-01T00:00:00.000Z')",
    ).run();
    expect(migrateDatabase(db, file)).toEqual({ from: 4, to: 5, applied: ['005-selection-trust'] });
    expect(db.prepare('SELECT name, keyring_files, verify FROM selections').all()).toEqual([{ name: 'lab', keyring_files: null, verify: null }]);
    const update = db.prepare("UPDATE selections SET keyring_files = ?, verify = ? WHERE name = 'lab'");
    expect(() => update.run('"k.gpg"', null)).toThrow(/CHECK/);
    expect(() => update.run(null, 2)).toThrow(/CHECK/);
    update.run('["/k.gpg"]', 0);
    db.close();
    const catalog = Catalog.open(file);
    try {
      expect(catalog.getSelection('lab')).toMatchObject({ name: 'lab', keyringFiles: ['/k.gpg'], verify: false });
    } finally {
      catalog.close();
    }
  });

  it('runs all pending steps in one transaction: a failing step leaves the database untouched', async () => {
    const { db, file } = await rawDatabase();
    const fails: Migration = {
      version: 3,
      name: 'fails',
      up() {
        throw new Error('step 3 failed');
      },
    };
    expect(() => migrateDatabase(db, file, [initialSchema, addsNotes, fails])).toThrow('step 3 failed');
    expect(readSchemaVersion(db)).toBe(0);
    expect(tableNames(db)).toEqual([]);
  });

  it('refuses a database written by a newer release, naming the file and both versions', async () => {
    const { db, file } = await rawDatabase();
    db.pragma('user_version = 7');
    const error = caught(() => migrateDatabase(db, file));
    expect(error).toBeInstanceOf(FerryError);
    const ferryError = error as FerryError;
    expect(ferryError.code).toBe('FERRY_CATALOG_TOO_NEW');
    expect(ferryError.message).toContain(file);
    expect(ferryError.message).toContain('version 7');
    expect(ferryError.message).toContain('up to 5');
    expect(ferryError.hint).toMatch(/upgrade stream ferry/i);
    expect(readSchemaVersion(db)).toBe(7);
    expect(tableNames(db)).toEqual([]);
  });

  it.each([
    ['a repeated version', [initialSchema, { ...addsNotes, version: 1 }]],
    ['a decreasing version', [addsNotes, initialSchema]],
    ['version 0', [{ ...initialSchema, version: 0 }]],
  ])('refuses a migration list with %s before touching the database', async (_label, migrations) => {
    const { db, file } = await rawDatabase();
    expect(() => migrateDatabase(db, file, migrations)).toThrow(/strictly increasing/);
    expect(readSchemaVersion(db)).toBe(0);
  });
});

describe('001-initial', () => {
  async function migratedToVersion1(): Promise<Database.Database> {
    const { db, file } = await rawDatabase();
    db.pragma('foreign_keys = ON');
    migrateDatabase(db, file, [initialSchema]);
    return db;
  }

  function columns(db: Database.Database, table: string): string[] {
    return db.prepare<[string], string>('SELECT name FROM pragma_table_info(?) ORDER BY cid').pluck().all(table);
  }

  it('creates every table STRICT, with the agreed columns', async () => {
    const db = await migratedToVersion1();
    const strictness = db
      .prepare<[], { name: string; strict: number }>("SELECT name, strict FROM pragma_table_list WHERE schema = 'main' AND name NOT LIKE 'sqlite_%'")
      .all();
    expect(strictness).toHaveLength(9);
    expect(strictness.every((table) => table.strict === 1)).toBe(true);
    expect(columns(db, 'sources')).toEqual(['id', 'url', 'entry_path', 'created_at']);
    expect(columns(db, 'snapshots')).toEqual(['id', 'source_id', 'fetched_at', 'signed', 'keyring_fingerprints']);
    expect(columns(db, 'snapshot_files')).toEqual(['snapshot_id', 'path', 'sha256', 'size']);
    expect(columns(db, 'blobs')).toEqual(['sha256', 'size', 'mtime_ms', 'verified_at']);
    expect(columns(db, 'items')).toEqual([
      'source_id', 'content_id', 'product', 'version', 'item', 'path', 'size', 'sha256', 'added_at',
    ]);
    expect(columns(db, 'tree_files')).toEqual(['path', 'sha256', 'size', 'mtime_ms', 'verified_at']);
    expect(columns(db, 'selections')).toEqual(['name', 'source', 'filter_groups', 'max_versions', 'keep', 'updated_at']);
    expect(columns(db, 'jobs')).toEqual(['id', 'kind', 'started_at', 'finished_at', 'status', 'summary']);
    expect(columns(db, 'job_events')).toEqual(['job_id', 'seq', 'at', 'type', 'data']);
  });

  it('creates the indexes the hot queries need', async () => {
    const db = await migratedToVersion1();
    const indexes = db
      .prepare<[], string>("SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")
      .pluck()
      .all();
    expect(indexes).toEqual([
      'items_by_path',
      'items_by_sha256',
      'jobs_by_start',
      'snapshot_files_by_sha256',
      'snapshots_by_source',
    ]);
  });

  it('declares the foreign keys', async () => {
    const db = await migratedToVersion1();
    const references = (table: string): string[] =>
      db
        .prepare<[string], { table: string; from: string }>('SELECT "table", "from" FROM pragma_foreign_key_list(?)')
        .all(table)
        .map((key) => `${key.from}->${key.table}`);
    expect(references('snapshots')).toEqual(['source_id->sources']);
    expect(references('snapshot_files')).toEqual(['snapshot_id->snapshots']);
    expect(references('items')).toEqual(['source_id->sources']);
    expect(references('job_events')).toEqual(['job_id->jobs']);
  });

  it('refuses values the schema rules out', async () => {
    const db = await migratedToVersion1();
    const insertBlob = db.prepare('INSERT INTO blobs (sha256, size, mtime_ms, verified_at) VALUES (?, ?, ?, ?)');
    const good = sha256Hex('x');
    expect(() => insertBlob.run(good.toUpperCase(), 1, 0, 'now')).toThrow(/CHECK/);
    expect(() => insertBlob.run(good.slice(1), 1, 0, 'now')).toThrow(/CHECK/);
    expect(() => insertBlob.run(good, -1, 0, 'now')).toThrow(/CHECK/);
    // STRICT: a text where an integer belongs is an error, not a silently stored string.
    expect(() => insertBlob.run(good, 'ten', 0, 'now')).toThrow(/cannot store TEXT value in INTEGER column/);
    db.prepare("INSERT INTO sources (url, entry_path, created_at) VALUES ('u', 'streams/v1/index.sjson', 'now')").run();
    const insertSnapshot = db.prepare(
      'INSERT INTO snapshots (source_id, fetched_at, signed, keyring_fingerprints) VALUES (?, ?, ?, ?)',
    );
    expect(() => insertSnapshot.run(1, 'now', 2, '[]')).toThrow(/CHECK/);
    expect(() => insertSnapshot.run(1, 'now', 1, '{}')).toThrow(/CHECK/);
    expect(() => insertSnapshot.run(99, 'now', 1, '[]')).toThrow(/FOREIGN KEY/);
    const insertJob = db.prepare(
      'INSERT INTO jobs (id, kind, started_at, finished_at, status, summary) VALUES (?, ?, ?, ?, ?, ?)',
    );
    expect(() => insertJob.run('j', 'sync', 'now', 'later', 'running', null)).toThrow(/CHECK/);
    expect(() => insertJob.run('j', 'sync', 'now', null, 'exploded', null)).toThrow(/CHECK/);
  });
});

describe('Catalog.open', () => {
  it('uses WAL, NORMAL sync, foreign keys and a busy timeout', async () => {
    const file = join(await tempDir('open'), 'catalog.db');
    const catalog = Catalog.open(file);
    try {
      expect(catalog.connectionSettings()).toEqual({
        journalMode: 'wal',
        synchronous: 1,
        foreignKeys: true,
        busyTimeoutMs: 5000,
      });
      expect(catalog.migration).toEqual({ from: 0, to: 5, applied: ['001-initial', '002-selection-path', '003-snapshot-selection', '004-exports', '005-selection-trust'] });
    } finally {
      catalog.close();
    }
    const reopened = Catalog.open(file);
    expect(reopened.migration).toEqual({ from: 5, to: 5, applied: [] });
    reopened.close();
  });

  it('refuses a catalog from a newer release with FERRY_CATALOG_TOO_NEW', async () => {
    const { db, file } = await rawDatabase();
    db.pragma('user_version = 42');
    db.close();
    const error = caught(() => Catalog.open(file));
    expect(error).toMatchObject({ code: 'FERRY_CATALOG_TOO_NEW', path: file });
    expect((error as FerryError).message).toContain('42');
  });

  it('reports a file that is not a database as a damaged catalog, naming it', async () => {
    const file = join(await tempDir('corrupt'), 'catalog.db');
    await writeFile(file, 'this is not an SQLite database, just some text long enough to be read as a header'.repeat(20));
    const error = caught(() => Catalog.open(file));
    expect(error).toMatchObject({ code: 'FERRY_CATALOG_CORRUPT', path: file });
    expect((error as FerryError).hint).toContain('re-adopted');
  });
});
