// The selections table: named profiles (a source, its filter groups, max and keep).
import type Database from 'better-sqlite3';
import { FerryError } from '../../base/errors.js';
import { readFilterGroups, readStringArray } from './columns.js';
import { CatalogArea, type CatalogConnection } from './connection.js';
import type { SavedSelection, SelectionProfile } from './records.js';

interface SelectionRow {
  name: string;
  source: string;
  path: string | null;
  filter_groups: string;
  max_versions: number | null;
  keep: number;
  updated_at: string;
  keyring_files: string | null;
  verify: number | null;
}

export const SELECTION_SQL = {
  saveSelection: `INSERT INTO selections (name, source, path, filter_groups, max_versions, keep, updated_at, keyring_files, verify)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (name) DO UPDATE SET
      source = excluded.source, path = excluded.path, filter_groups = excluded.filter_groups,
      max_versions = excluded.max_versions, keep = excluded.keep, updated_at = excluded.updated_at,
      keyring_files = excluded.keyring_files, verify = excluded.verify`,
  getSelection: 'SELECT name, source, path, filter_groups, max_versions, keep, updated_at, keyring_files, verify FROM selections WHERE name = ?',
  listSelections: 'SELECT name, source, path, filter_groups, max_versions, keep, updated_at, keyring_files, verify FROM selections ORDER BY name',
  deleteSelection: 'DELETE FROM selections WHERE name = ?',
} as const;

function prepareStatements(db: Database.Database) {
  const sql = SELECTION_SQL;
  return {
    saveSelection: db.prepare<[string, string, string | null, string, number | null, number, string, string | null, number | null]>(sql.saveSelection),
    getSelection: db.prepare<[string], SelectionRow>(sql.getSelection),
    listSelections: db.prepare<[], SelectionRow>(sql.listSelections),
    deleteSelection: db.prepare<[string]>(sql.deleteSelection),
  };
}

/** The selections table; Catalog's methods of the same names document each method. */
export class SelectionQueries extends CatalogArea<ReturnType<typeof prepareStatements>> {
  constructor(connection: CatalogConnection) {
    super(connection, prepareStatements);
  }

  saveSelection(selection: SelectionProfile): SavedSelection {
    return this.connection.guard(() => {
      const updatedAt = this.connection.timestamp();
      this.statements.saveSelection.run(
        selection.name,
        selection.source,
        selection.path,
        JSON.stringify(selection.filterGroups),
        selection.maxVersions,
        selection.keep ? 1 : 0,
        updatedAt,
        selection.keyringFiles === undefined ? null : JSON.stringify(selection.keyringFiles),
        selection.verify === undefined ? null : selection.verify ? 1 : 0,
      );
      return { ...selection, updatedAt };
    });
  }

  getSelection(name: string): SavedSelection | undefined {
    return this.connection.guard(() => {
      const row = this.statements.getSelection.get(name);
      return row === undefined ? undefined : this.toSelection(row);
    });
  }

  listSelections(): SavedSelection[] {
    return this.connection.guard(() => this.statements.listSelections.all().map((row) => this.toSelection(row)));
  }

  deleteSelection(name: string): void {
    this.connection.guard(() => {
      if (this.statements.deleteSelection.run(name).changes === 0) {
        throw new FerryError('FERRY_PROFILE_UNKNOWN', `No saved selection is named ${JSON.stringify(name)}`, {
          hint: 'List the saved selections to see their names.',
        });
      }
    });
  }

  private toSelection(row: SelectionRow): SavedSelection {
    const where = `filter groups of the selection ${JSON.stringify(row.name)}`;
    return {
      name: row.name,
      source: row.source,
      path: row.path,
      filterGroups: readFilterGroups(this.connection.file, row.filter_groups, where),
      maxVersions: row.max_versions,
      keep: row.keep === 1,
      updatedAt: row.updated_at,
      keyringFiles: row.keyring_files === null ? undefined : readStringArray(this.connection.file, row.keyring_files, `keyring files of the selection ${JSON.stringify(row.name)}`),
      verify: row.verify === null ? undefined : row.verify === 1,
    };
  }
}
