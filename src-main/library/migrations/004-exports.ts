import type { Migration } from './migration.js';

// The ledger of exports (issue 9 §2): which bundle carried which blobs, to which site, so that
// `ferry export --site NAME` carries only what earlier exports to NAME did not. One row per bundle
// and one per blob it carried; a bundle that was never fully written and read back has no row.
export const exportsLedger: Migration = {
  version: 4,
  name: 'exports',
  up(db) {
    db.exec(`
      CREATE TABLE exports (
        bundle_id TEXT PRIMARY KEY CHECK (length(bundle_id) > 0),
        site TEXT CHECK (site IS NULL OR length(site) > 0),
        created_at TEXT NOT NULL
      ) STRICT;
      CREATE INDEX exports_by_site ON exports (site, created_at);
      CREATE TABLE export_blobs (
        bundle_id TEXT NOT NULL REFERENCES exports (bundle_id) ON DELETE CASCADE,
        sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
        PRIMARY KEY (bundle_id, sha256)
      ) STRICT, WITHOUT ROWID;
    `);
  },
};
