// The blobs table: which files of the content-addressed store are recorded as verified.
import type Database from 'better-sqlite3';
import type { StoredBlob } from '../blobs.js';
import { CatalogArea, type CatalogConnection } from './connection.js';
import type { BlobRecord, RemovalResult } from './records.js';
import { LATEST_SNAPSHOT_IDS } from './sources.js';

interface BlobRow {
  sha256: string;
  size: number;
  mtime_ms: number;
  verified_at: string;
}

export const BLOB_SQL = {
  upsertBlob: `INSERT INTO blobs (sha256, size, mtime_ms, verified_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (sha256) DO UPDATE SET
      size = excluded.size, mtime_ms = excluded.mtime_ms, verified_at = excluded.verified_at`,
  getBlob: 'SELECT sha256, size, mtime_ms, verified_at FROM blobs WHERE sha256 = ?',
  listBlobs: 'SELECT sha256, size, mtime_ms, verified_at FROM blobs ORDER BY sha256',
  countBlobs: 'SELECT count(*) FROM blobs',
  deleteBlob: 'DELETE FROM blobs WHERE sha256 = ?',
  // A blob's held items go with it: held means present and verified.
  deleteHeldItemsOfBlob: 'DELETE FROM items WHERE sha256 = ?',
  markBlobVerified: 'UPDATE blobs SET mtime_ms = ?, verified_at = ? WHERE sha256 = ?',
  unreferencedBlobs: `SELECT sha256, size, mtime_ms, verified_at FROM blobs
    WHERE NOT EXISTS (SELECT 1 FROM items WHERE items.sha256 = blobs.sha256)
      AND NOT EXISTS (SELECT 1 FROM snapshot_files
                      WHERE snapshot_files.sha256 = blobs.sha256
                        AND snapshot_files.snapshot_id IN (${LATEST_SNAPSHOT_IDS}))
    ORDER BY sha256`,
} as const;

function prepareStatements(db: Database.Database) {
  const sql = BLOB_SQL;
  return {
    upsertBlob: db.prepare<[string, number, number, string]>(sql.upsertBlob),
    getBlob: db.prepare<[string], BlobRow>(sql.getBlob),
    listBlobs: db.prepare<[], BlobRow>(sql.listBlobs),
    countBlobs: db.prepare<[], number>(sql.countBlobs).pluck(),
    deleteBlob: db.prepare<[string]>(sql.deleteBlob),
    deleteHeldItemsOfBlob: db.prepare<[string]>(sql.deleteHeldItemsOfBlob),
    markBlobVerified: db.prepare<[number, string, string]>(sql.markBlobVerified),
    unreferencedBlobs: db.prepare<[], BlobRow>(sql.unreferencedBlobs),
  };
}

/** The blobs table; Catalog's methods of the same names document each method. */
export class BlobQueries extends CatalogArea<ReturnType<typeof prepareStatements>> {
  constructor(connection: CatalogConnection) {
    super(connection, prepareStatements);
  }

  recordBlob(blob: StoredBlob): void {
    this.connection.guard(() =>
      this.statements.upsertBlob.run(blob.sha256, blob.size, blob.mtimeMs, this.connection.timestamp()),
    );
  }

  getBlob(sha256: string): BlobRecord | undefined {
    return this.connection.guard(() => {
      const row = this.statements.getBlob.get(sha256);
      return row === undefined ? undefined : toBlob(row);
    });
  }

  listBlobs(): BlobRecord[] {
    return this.connection.guard(() => this.statements.listBlobs.all().map(toBlob));
  }

  countBlobs(): number {
    return this.connection.guard(() => this.statements.countBlobs.get() ?? 0);
  }

  removeBlob(sha256: string): RemovalResult {
    return this.connection.transaction(() => {
      const heldItemsDropped = this.statements.deleteHeldItemsOfBlob.run(sha256).changes;
      const removed = this.statements.deleteBlob.run(sha256).changes > 0;
      return { removed, heldItemsDropped };
    });
  }

  markVerified(sha256: string, mtimeMs: number): boolean {
    return this.connection.guard(
      () => this.statements.markBlobVerified.run(mtimeMs, this.connection.timestamp(), sha256).changes > 0,
    );
  }

  unreferencedBlobs(): BlobRecord[] {
    return this.connection.guard(() => this.statements.unreferencedBlobs.all().map(toBlob));
  }
}

function toBlob(row: BlobRow): BlobRecord {
  return { sha256: row.sha256, size: row.size, mtimeMs: row.mtime_ms, verifiedAt: row.verified_at };
}
