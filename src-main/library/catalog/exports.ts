// The exports ledger: bundles written from the library, the site each went to, the blobs each carried.
import type Database from 'better-sqlite3';
import { CatalogArea, type CatalogConnection } from './connection.js';
import type { ExportRecord, ExportSummary } from './records.js';

export const EXPORT_SQL = {
  insertExport: 'INSERT INTO exports (bundle_id, site, created_at) VALUES (?, ?, ?)',
  insertExportBlob: 'INSERT OR IGNORE INTO export_blobs (bundle_id, sha256) VALUES (?, ?)',
  latestExportTo: 'SELECT bundle_id, site, created_at FROM exports WHERE site = ? ORDER BY created_at DESC, bundle_id DESC LIMIT 1',
  blobsExportedTo: `SELECT DISTINCT export_blobs.sha256 FROM export_blobs
    JOIN exports ON exports.bundle_id = export_blobs.bundle_id WHERE exports.site = ?`,
  // Every export, newest first, with the blobs it carried and their bytes (a blob gc removed since counts 0 bytes).
  listExports: `SELECT exports.bundle_id, exports.site, exports.created_at,
    COUNT(export_blobs.sha256) AS blobs, COALESCE(SUM(blobs.size), 0) AS bytes
    FROM exports LEFT JOIN export_blobs ON export_blobs.bundle_id = exports.bundle_id
    LEFT JOIN blobs ON blobs.sha256 = export_blobs.sha256
    GROUP BY exports.bundle_id ORDER BY exports.created_at DESC, exports.bundle_id DESC`,
} as const;

interface ExportRow {
  bundle_id: string;
  site: string | null;
  created_at: string;
}

function prepareStatements(db: Database.Database) {
  const sql = EXPORT_SQL;
  return {
    insertExport: db.prepare<[string, string | null, string]>(sql.insertExport),
    insertExportBlob: db.prepare<[string, string]>(sql.insertExportBlob),
    latestExportTo: db.prepare<[string], ExportRow>(sql.latestExportTo),
    blobsExportedTo: db.prepare<[string], string>(sql.blobsExportedTo).pluck(),
    listExports: db.prepare<[], ExportRow & { blobs: number; bytes: number }>(sql.listExports),
  };
}

/** The exports tables; Catalog's methods of the same names document each method. */
export class ExportQueries extends CatalogArea<ReturnType<typeof prepareStatements>> {
  constructor(connection: CatalogConnection) {
    super(connection, prepareStatements);
  }

  recordExport(record: ExportRecord, blobs: Iterable<string>): void {
    this.connection.transaction(() => {
      this.statements.insertExport.run(record.bundleId, record.site, record.createdAt);
      for (const sha256 of blobs) this.statements.insertExportBlob.run(record.bundleId, sha256);
    });
  }

  latestExportTo(site: string): ExportRecord | undefined {
    return this.connection.guard(() => {
      const row = this.statements.latestExportTo.get(site);
      return row === undefined ? undefined : { bundleId: row.bundle_id, site: row.site, createdAt: row.created_at };
    });
  }

  blobsExportedTo(site: string): Set<string> {
    return this.connection.guard(() => new Set(this.statements.blobsExportedTo.all(site)));
  }

  listExports(): ExportSummary[] {
    return this.connection.guard(() =>
      this.statements.listExports.all().map((row) => ({ bundleId: row.bundle_id, site: row.site, createdAt: row.created_at, blobs: row.blobs, bytes: row.bytes })),
    );
  }
}
