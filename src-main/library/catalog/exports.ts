// The exports ledger: bundles written from the library, the site each went to, the blobs each carried.
import type Database from 'better-sqlite3';
import { CatalogArea, type CatalogConnection } from './connection.js';
import type { ExportRecord } from './records.js';

export const EXPORT_SQL = {
  insertExport: 'INSERT INTO exports (bundle_id, site, created_at) VALUES (?, ?, ?)',
  insertExportBlob: 'INSERT OR IGNORE INTO export_blobs (bundle_id, sha256) VALUES (?, ?)',
  latestExportTo: 'SELECT bundle_id, site, created_at FROM exports WHERE site = ? ORDER BY created_at DESC, bundle_id DESC LIMIT 1',
  blobsExportedTo: `SELECT DISTINCT export_blobs.sha256 FROM export_blobs
    JOIN exports ON exports.bundle_id = export_blobs.bundle_id WHERE exports.site = ?`,
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
}
