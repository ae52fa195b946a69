import type { Migration } from './migration.js';

// A snapshot records the selection that produced it (filter groups as saved selections store them,
// max versions and keep), so that gc can tell which files of its metadata the library promises to
// hold. NULL filter groups: recorded before this step, selection unknown (gc then keeps every file
// the metadata names).
export const snapshotSelection: Migration = {
  version: 3,
  name: 'snapshot-selection',
  up(db) {
    db.exec(`
      ALTER TABLE snapshots ADD COLUMN filter_groups TEXT
        CHECK (filter_groups IS NULL OR json_type(filter_groups) = 'array');
      ALTER TABLE snapshots ADD COLUMN max_versions INTEGER
        CHECK (max_versions IS NULL OR max_versions >= 0);
      ALTER TABLE snapshots ADD COLUMN keep INTEGER
        CHECK (keep IS NULL OR keep IN (0, 1));
    `);
  },
};
