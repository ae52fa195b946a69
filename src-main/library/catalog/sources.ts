// Sources and their snapshots (the verified metadata of each fetch, and the selection run on it).
import type Database from 'better-sqlite3';
import { redactUrl } from '../../base/errors.js';
import { readFilterGroups, readStringArray } from './columns.js';
import { CatalogArea, requireRow, type CatalogConnection } from './connection.js';
import type { SnapshotFile, SnapshotRecord, SnapshotSelection, SourceRecord } from './records.js';

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

/** The newest snapshot of each source: what gc keeps and reference counts include. */
export const LATEST_SNAPSHOT_IDS = 'SELECT max(id) FROM snapshots GROUP BY source_id';

export const SOURCE_SQL = {
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
} as const;

function prepareStatements(db: Database.Database) {
  const sql = SOURCE_SQL;
  return {
    upsertSource: db.prepare<[string, string, string], { id: number }>(sql.upsertSource),
    findSource: db.prepare<[string], SourceRow>(sql.findSource),
    listSources: db.prepare<[], SourceRow>(sql.listSources),
    insertSnapshot: db.prepare<[number, string, number, string, string | null, number | null, number | null]>(sql.insertSnapshot),
    insertSnapshotFile: db.prepare<[number, string, string, number]>(sql.insertSnapshotFile),
    latestSnapshot: db.prepare<[number], SnapshotRow>(sql.latestSnapshot),
    snapshotFiles: db.prepare<[number], SnapshotFile>(sql.snapshotFiles),
    dropIncompleteLatestSnapshots: db.prepare<[]>(sql.dropIncompleteLatestSnapshots),
  };
}

/** The sources and snapshots tables; Catalog's methods of the same names document each method. */
export class SourceQueries extends CatalogArea<ReturnType<typeof prepareStatements>> {
  constructor(connection: CatalogConnection) {
    super(connection, prepareStatements);
  }

  upsertSource(url: string, entryPath: string): number {
    return this.connection.guard(() => {
      const row = this.statements.upsertSource.get(redactUrl(url), entryPath, this.connection.timestamp());
      return requireRow(row, 'upsertSource').id;
    });
  }

  findSource(url: string): SourceRecord | undefined {
    return this.connection.guard(() => {
      const row = this.statements.findSource.get(redactUrl(url));
      return row === undefined ? undefined : toSource(row);
    });
  }

  listSources(): SourceRecord[] {
    return this.connection.guard(() => this.statements.listSources.all().map(toSource));
  }

  recordSnapshot(
    sourceId: number,
    files: readonly SnapshotFile[],
    signed: boolean,
    keyringFingerprints: readonly string[],
    selection?: SnapshotSelection,
  ): number {
    return this.connection.transaction(() => {
      const { lastInsertRowid } = this.statements.insertSnapshot.run(
        sourceId,
        this.connection.timestamp(),
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
    const { file } = this.connection;
    return this.connection.guard(() => {
      const row = this.statements.latestSnapshot.get(sourceId);
      if (row === undefined) return undefined;
      return {
        id: row.id,
        sourceId: row.source_id,
        fetchedAt: row.fetched_at,
        signed: row.signed === 1,
        keyringFingerprints: readStringArray(file, row.keyring_fingerprints, `keyring fingerprints of snapshot ${row.id}`),
        files: this.statements.snapshotFiles.all(row.id),
        selection:
          row.filter_groups === null
            ? undefined
            : {
                filterGroups: readFilterGroups(file, row.filter_groups, `filter groups of snapshot ${row.id}`),
                maxVersions: row.max_versions,
                keep: row.keep === 1,
              },
      };
    });
  }

  dropIncompleteLatestSnapshots(): number {
    return this.connection.transaction(() => {
      let dropped = 0;
      for (;;) {
        const { changes } = this.statements.dropIncompleteLatestSnapshots.run();
        if (changes === 0) return dropped;
        dropped += changes;
      }
    });
  }
}

function toSource(row: SourceRow): SourceRecord {
  return { id: row.id, url: row.url, entryPath: row.entry_path, createdAt: row.created_at };
}
