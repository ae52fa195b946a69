import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CATALOG_SQL } from '../../../src-main/library/catalog.js';
import { migrateDatabase } from '../../../src-main/library/migrations/index.js';
import { useTempDirs } from './helpers.js';

// Each hot query must SEARCH through its intended index: a SCAN of items or snapshot_files would
// make sync and gc slow down with the size of the library.
const tempDir = useTempDirs();
let db: Database.Database;

beforeEach(async () => {
  const file = join(await tempDir('plans'), 'catalog.db');
  db = new Database(file);
  migrateDatabase(db, file);
});

afterEach(() => {
  db.close();
});

function planOf(sql: string, ...params: unknown[]): string[] {
  return db
    .prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`)
    .all(...params)
    .map((step) => step.detail);
}

function expectNoScanOf(plan: readonly string[], ...tables: string[]): void {
  for (const table of tables) {
    expect(plan.filter((step) => step.startsWith(`SCAN ${table}`))).toEqual([]);
  }
}

describe('query plans of the hot queries', () => {
  it('counts references by path through items_by_path', () => {
    const plan = planOf(CATALOG_SQL.referencesToPath, 'noble/amd64/20250101/squashfs');
    expect(plan).toEqual(['SEARCH items USING COVERING INDEX items_by_path (path=?)']);
  });

  it('counts references by sha256 through items_by_sha256 and snapshot_files_by_sha256', () => {
    const plan = planOf(CATALOG_SQL.referencesToBlob, { sha256: 'a'.repeat(64) });
    expect(plan).toContain('SEARCH items USING COVERING INDEX items_by_sha256 (sha256=?)');
    expect(plan).toContain('SEARCH snapshot_files USING COVERING INDEX snapshot_files_by_sha256 (sha256=? AND snapshot_id=?)');
    expect(plan).toContain('SCAN snapshots USING COVERING INDEX snapshots_by_source');
    expectNoScanOf(plan, 'items', 'snapshot_files');
  });

  it('reads the held versions of a product from the primary key prefix', () => {
    const plan = planOf(CATALOG_SQL.heldVersions, 1, 'com.ubuntu.maas:stable:v3:download', 'noble-ga');
    expect(plan).toEqual(['SEARCH items USING PRIMARY KEY (source_id=? AND content_id=? AND product=?)']);
  });

  it('finds the bytes held at a path through items_by_path', () => {
    expect(planOf(CATALOG_SQL.heldFileAtPath, 'noble/amd64/20250101/squashfs', 1)).toEqual([
      'SEARCH items USING INDEX items_by_path (path=? AND source_id=?)',
    ]);
  });

  it('finds unreferenced blobs with one index lookup per blob', () => {
    const plan = planOf(CATALOG_SQL.unreferencedBlobs);
    expect(plan[0]).toBe('SCAN blobs');
    expect(plan).toContain('SEARCH items USING COVERING INDEX items_by_sha256 (sha256=?)');
    expect(plan).toContain('SEARCH snapshot_files USING COVERING INDEX snapshot_files_by_sha256 (sha256=? AND snapshot_id=?)');
    expectNoScanOf(plan, 'items', 'snapshot_files');
  });

  it('finds the latest snapshot of a source through snapshots_by_source', () => {
    expect(planOf(CATALOG_SQL.latestSnapshot, 1)).toEqual(['SEARCH snapshots USING INDEX snapshots_by_source (source_id=?)']);
  });

  it('drops the held items of a blob or a path through their indexes', () => {
    expect(planOf(CATALOG_SQL.deleteHeldItemsOfBlob, 'a'.repeat(64))).toEqual([
      'SEARCH items USING INDEX items_by_sha256 (sha256=?)',
    ]);
    expect(planOf(CATALOG_SQL.deleteHeldItemsAtPath, 'p')).toEqual(['SEARCH items USING INDEX items_by_path (path=?)']);
  });
});
