// Held items (what a source's items are present and verified as), the files a mirror tree holds
// them in, and the summary of what is held per product.
import type Database from 'better-sqlite3';
import { readStringArray } from './columns.js';
import { CatalogArea, type CatalogConnection } from './connection.js';
import type {
  HeldFile,
  HeldItem,
  HeldItemKey,
  HeldProductSummary,
  NewHeldItem,
  RemovalResult,
  TreeFile,
  TreeFileRecord,
} from './records.js';
import { LATEST_SNAPSHOT_IDS } from './sources.js';

interface HeldItemRow {
  source_id: number;
  content_id: string;
  product: string;
  version: string;
  item: string;
  path: string;
  size: number;
  sha256: string;
  added_at: string;
}
interface TreeFileRow {
  path: string;
  sha256: string;
  size: number;
  mtime_ms: number;
  verified_at: string;
}
interface SummaryRow {
  source_id: number;
  source_url: string;
  content_id: string;
  product: string;
  versions: string;
  item_count: number;
  bytes: number;
}

const HELD_ITEM_COLUMNS = 'source_id, content_id, product, version, item, path, size, sha256, added_at';

export const HELD_ITEM_SQL = {
  heldItems: `SELECT ${HELD_ITEM_COLUMNS} FROM items WHERE source_id = ?
    ORDER BY content_id, product, version, item`,
  heldItemsOfContent: `SELECT ${HELD_ITEM_COLUMNS} FROM items WHERE source_id = ? AND content_id = ?
    ORDER BY product, version, item`,
  heldVersions: 'SELECT DISTINCT version FROM items WHERE source_id = ? AND content_id = ? AND product = ?',
  heldFileAtPath: 'SELECT sha256, size FROM items WHERE path = ? AND source_id = ? LIMIT 1',
  // Re-adding an item that is already held with the same file keeps the time it was first added.
  upsertHeldItem: `INSERT INTO items (${HELD_ITEM_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (source_id, content_id, product, version, item) DO UPDATE SET
      added_at = CASE WHEN items.sha256 = excluded.sha256 AND items.path = excluded.path
                 THEN items.added_at ELSE excluded.added_at END,
      path = excluded.path, size = excluded.size, sha256 = excluded.sha256`,
  deleteHeldItem: `DELETE FROM items
    WHERE source_id = ? AND content_id = ? AND product = ? AND version = ? AND item = ?`,
  deleteHeldItemsAtPath: 'DELETE FROM items WHERE path = ?',
  dropHeldItemsWithoutBlob: `DELETE FROM items
    WHERE NOT EXISTS (SELECT 1 FROM blobs WHERE blobs.sha256 = items.sha256)`,
  dropHeldItemsWithoutTreeFile: `DELETE FROM items
    WHERE NOT EXISTS (SELECT 1 FROM tree_files WHERE tree_files.path = items.path)`,

  referencesToPath: 'SELECT count(*) FROM items WHERE path = ?',
  referencesToBlob: `SELECT
      (SELECT count(*) FROM items WHERE sha256 = :sha256)
    + (SELECT count(*) FROM snapshot_files
       WHERE sha256 = :sha256 AND snapshot_id IN (${LATEST_SNAPSHOT_IDS}))`,

  getTreeFile: 'SELECT path, sha256, size, mtime_ms, verified_at FROM tree_files WHERE path = ?',
  listTreeFiles: 'SELECT path, sha256, size, mtime_ms, verified_at FROM tree_files ORDER BY path',
  putTreeFile: `INSERT INTO tree_files (path, sha256, size, mtime_ms, verified_at) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (path) DO UPDATE SET
      sha256 = excluded.sha256, size = excluded.size, mtime_ms = excluded.mtime_ms,
      verified_at = excluded.verified_at`,
  deleteTreeFile: 'DELETE FROM tree_files WHERE path = ?',

  librarySummary: `SELECT items.source_id, sources.url AS source_url, items.content_id, items.product,
      json_group_array(DISTINCT items.version) AS versions, count(*) AS item_count, sum(items.size) AS bytes
    FROM items JOIN sources ON sources.id = items.source_id
    GROUP BY items.source_id, items.content_id, items.product
    ORDER BY items.source_id, items.content_id, items.product`,
} as const;

function prepareStatements(db: Database.Database) {
  const sql = HELD_ITEM_SQL;
  return {
    heldItems: db.prepare<[number], HeldItemRow>(sql.heldItems),
    heldItemsOfContent: db.prepare<[number, string], HeldItemRow>(sql.heldItemsOfContent),
    heldVersions: db.prepare<[number, string, string], string>(sql.heldVersions).pluck(),
    heldFileAtPath: db.prepare<[string, number], HeldFile>(sql.heldFileAtPath),
    upsertHeldItem: db.prepare<[number, string, string, string, string, string, number, string, string]>(
      sql.upsertHeldItem,
    ),
    deleteHeldItem: db.prepare<[number, string, string, string, string]>(sql.deleteHeldItem),
    deleteHeldItemsAtPath: db.prepare<[string]>(sql.deleteHeldItemsAtPath),
    dropHeldItemsWithoutBlob: db.prepare<[]>(sql.dropHeldItemsWithoutBlob),
    dropHeldItemsWithoutTreeFile: db.prepare<[]>(sql.dropHeldItemsWithoutTreeFile),
    referencesToPath: db.prepare<[string], number>(sql.referencesToPath).pluck(),
    referencesToBlob: db.prepare<[{ sha256: string }], number>(sql.referencesToBlob).pluck(),
    getTreeFile: db.prepare<[string], TreeFileRow>(sql.getTreeFile),
    listTreeFiles: db.prepare<[], TreeFileRow>(sql.listTreeFiles),
    putTreeFile: db.prepare<[string, string, number, number, string]>(sql.putTreeFile),
    deleteTreeFile: db.prepare<[string]>(sql.deleteTreeFile),
    librarySummary: db.prepare<[], SummaryRow>(sql.librarySummary),
  };
}

/** The items and tree_files tables; Catalog's methods of the same names document each method. */
export class HeldItemQueries extends CatalogArea<ReturnType<typeof prepareStatements>> {
  constructor(connection: CatalogConnection) {
    super(connection, prepareStatements);
  }

  heldItems(sourceId: number, contentId?: string): HeldItem[] {
    return this.connection.guard(() => {
      const rows =
        contentId === undefined
          ? this.statements.heldItems.all(sourceId)
          : this.statements.heldItemsOfContent.all(sourceId, contentId);
      return rows.map(toHeldItem);
    });
  }

  heldVersions(sourceId: number, contentId: string, product: string): string[] {
    return this.connection.guard(() => this.statements.heldVersions.all(sourceId, contentId, product));
  }

  heldFileAtPath(sourceId: number, path: string): HeldFile | undefined {
    return this.connection.guard(() => this.statements.heldFileAtPath.get(path, sourceId));
  }

  addHeldItems(items: readonly NewHeldItem[]): void {
    this.connection.transaction(() => {
      const addedAt = this.connection.timestamp();
      for (const item of items) {
        this.statements.upsertHeldItem.run(
          item.sourceId,
          item.contentId,
          item.product,
          item.version,
          item.item,
          item.path,
          item.size,
          item.sha256,
          addedAt,
        );
      }
    });
  }

  removeHeldItems(keys: readonly HeldItemKey[]): number {
    return this.connection.transaction(() => {
      let removed = 0;
      for (const key of keys) {
        removed += this.statements.deleteHeldItem.run(key.sourceId, key.contentId, key.product, key.version, key.item)
          .changes;
      }
      return removed;
    });
  }

  referencesToPath(path: string): number {
    return this.connection.guard(() => this.statements.referencesToPath.get(path) ?? 0);
  }

  referencesToBlob(sha256: string): number {
    return this.connection.guard(() => this.statements.referencesToBlob.get({ sha256 }) ?? 0);
  }

  dropHeldItemsWithoutBlob(): number {
    return this.connection.guard(() => this.statements.dropHeldItemsWithoutBlob.run().changes);
  }

  dropHeldItemsWithoutTreeFile(): number {
    return this.connection.guard(() => this.statements.dropHeldItemsWithoutTreeFile.run().changes);
  }

  getTreeFile(path: string): TreeFileRecord | undefined {
    return this.connection.guard(() => {
      const row = this.statements.getTreeFile.get(path);
      return row === undefined ? undefined : toTreeFile(row);
    });
  }

  listTreeFiles(): TreeFileRecord[] {
    return this.connection.guard(() => this.statements.listTreeFiles.all().map(toTreeFile));
  }

  putTreeFile(file: TreeFile): void {
    this.connection.guard(() =>
      this.statements.putTreeFile.run(file.path, file.sha256, file.size, file.mtimeMs, this.connection.timestamp()),
    );
  }

  deleteTreeFile(path: string): RemovalResult {
    return this.connection.transaction(() => {
      const heldItemsDropped = this.statements.deleteHeldItemsAtPath.run(path).changes;
      const removed = this.statements.deleteTreeFile.run(path).changes > 0;
      return { removed, heldItemsDropped };
    });
  }

  librarySummary(): HeldProductSummary[] {
    const { file } = this.connection;
    return this.connection.guard(() =>
      this.statements.librarySummary.all().map((row) => ({
        sourceId: row.source_id,
        sourceUrl: row.source_url,
        contentId: row.content_id,
        product: row.product,
        versions: readStringArray(file, row.versions, `versions of ${row.product}`),
        itemCount: row.item_count,
        bytes: row.bytes,
      })),
    );
  }
}

function toHeldItem(row: HeldItemRow): HeldItem {
  return {
    sourceId: row.source_id,
    contentId: row.content_id,
    product: row.product,
    version: row.version,
    item: row.item,
    path: row.path,
    size: row.size,
    sha256: row.sha256,
    addedAt: row.added_at,
  };
}

function toTreeFile(row: TreeFileRow): TreeFileRecord {
  return { path: row.path, sha256: row.sha256, size: row.size, mtimeMs: row.mtime_ms, verifiedAt: row.verified_at };
}
