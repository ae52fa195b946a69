import type { Migration } from './migration.js';

// Digests name files in the blob store; the catalog refuses any other spelling too.
const SHA256_CHECK = "CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*')";

export const initialSchema: Migration = {
  version: 1,
  name: 'initial',
  up(db) {
    db.exec(`
      CREATE TABLE sources (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL UNIQUE,
        entry_path TEXT NOT NULL,
        created_at TEXT NOT NULL
      ) STRICT;

      CREATE TABLE snapshots (
        id INTEGER PRIMARY KEY,
        source_id INTEGER NOT NULL REFERENCES sources (id),
        fetched_at TEXT NOT NULL,
        signed INTEGER NOT NULL CHECK (signed IN (0, 1)),
        keyring_fingerprints TEXT NOT NULL CHECK (json_type(keyring_fingerprints) = 'array')
      ) STRICT;
      -- The latest snapshot of a source is its highest id.
      CREATE INDEX snapshots_by_source ON snapshots (source_id, id);

      CREATE TABLE snapshot_files (
        snapshot_id INTEGER NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        sha256 TEXT NOT NULL ${SHA256_CHECK},
        size INTEGER NOT NULL CHECK (size >= 0),
        PRIMARY KEY (snapshot_id, path)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX snapshot_files_by_sha256 ON snapshot_files (sha256);

      CREATE TABLE blobs (
        sha256 TEXT PRIMARY KEY ${SHA256_CHECK},
        size INTEGER NOT NULL CHECK (size >= 0),
        mtime_ms INTEGER NOT NULL,
        verified_at TEXT NOT NULL
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE items (
        source_id INTEGER NOT NULL REFERENCES sources (id),
        content_id TEXT NOT NULL,
        product TEXT NOT NULL,
        version TEXT NOT NULL,
        item TEXT NOT NULL,
        path TEXT NOT NULL,
        size INTEGER NOT NULL CHECK (size >= 0),
        sha256 TEXT NOT NULL ${SHA256_CHECK},
        added_at TEXT NOT NULL,
        PRIMARY KEY (source_id, content_id, product, version, item)
      ) STRICT, WITHOUT ROWID;
      -- Reference counts: a file shared by several products stays while any held item needs it.
      CREATE INDEX items_by_sha256 ON items (sha256);
      CREATE INDEX items_by_path ON items (path);

      CREATE TABLE tree_files (
        path TEXT PRIMARY KEY,
        sha256 TEXT NOT NULL ${SHA256_CHECK},
        size INTEGER NOT NULL CHECK (size >= 0),
        mtime_ms INTEGER NOT NULL,
        verified_at TEXT NOT NULL
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE selections (
        name TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        filter_groups TEXT NOT NULL CHECK (json_type(filter_groups) = 'array'),
        max_versions INTEGER CHECK (max_versions IS NULL OR max_versions >= 0),
        keep INTEGER NOT NULL CHECK (keep IN (0, 1)),
        updated_at TEXT NOT NULL
      ) STRICT;

      CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
        summary TEXT CHECK (summary IS NULL OR json_valid(summary)),
        CHECK ((status = 'running') = (finished_at IS NULL))
      ) STRICT;
      CREATE INDEX jobs_by_start ON jobs (started_at);

      CREATE TABLE job_events (
        job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL CHECK (seq >= 1),
        at TEXT NOT NULL,
        type TEXT NOT NULL,
        data TEXT NOT NULL CHECK (json_valid(data)),
        PRIMARY KEY (job_id, seq)
      ) STRICT, WITHOUT ROWID;
    `);
  },
};
