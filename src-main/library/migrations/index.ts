import { debuglog } from 'node:util';
import type Database from 'better-sqlite3';
import { FerryError } from '../../base/errors.js';
import { initialSchema } from './001-initial.js';
import { selectionPath } from './002-selection-path.js';
import { snapshotSelection } from './003-snapshot-selection.js';
import { exportsLedger } from './004-exports.js';
import { selectionTrust } from './005-selection-trust.js';
import type { Migration } from './migration.js';

export type { Migration } from './migration.js';

const debug = debuglog('ferry-library');

/** Every schema step, oldest first. Append; never edit, reorder or renumber a released one. */
export const MIGRATIONS: readonly Migration[] = [initialSchema, selectionPath, snapshotSelection, exportsLedger, selectionTrust];

export interface MigrationResult {
  /** The schema version the database had when opened (0: new). */
  readonly from: number;
  readonly to: number;
  readonly applied: readonly string[];
}

export function readSchemaVersion(db: Database.Database): number {
  return Number(db.pragma('user_version', { simple: true }));
}

/**
 * Brings the database to the newest schema. All pending steps run in one transaction, so a crash
 * or a failing step leaves the database at its old version, untouched. `file` is only for messages.
 */
export function migrateDatabase(
  db: Database.Database,
  file: string,
  migrations: readonly Migration[] = MIGRATIONS,
): MigrationResult {
  assertStrictlyIncreasing(migrations);
  const newest = migrations.at(-1)?.version ?? 0;
  const migrate = db.transaction((): MigrationResult => {
    // Read inside the write transaction: two processes opening a new catalog at once must not
    // both run the same steps.
    const from = readSchemaVersion(db);
    if (from > newest) {
      throw new FerryError(
        'FERRY_CATALOG_TOO_NEW',
        `The catalog ${file} has schema version ${from}, but this Stream Ferry knows versions up to ${newest}`,
        { path: file, expected: `<= ${newest}`, actual: String(from), hint: 'Upgrade Stream Ferry to open this library.' },
      );
    }
    const pending = migrations.filter((migration) => migration.version > from);
    for (const migration of pending) {
      migration.up(db);
      db.pragma(`user_version = ${migration.version}`);
    }
    return { from, to: Math.max(from, newest), applied: pending.map(describeMigration) };
  });
  const result = migrate.immediate();
  if (result.applied.length > 0) {
    debug('migrated %s from version %d to %d: %s', file, result.from, result.to, result.applied.join(', '));
  }
  return result;
}

function describeMigration(migration: Migration): string {
  return `${String(migration.version).padStart(3, '0')}-${migration.name}`;
}

function assertStrictlyIncreasing(migrations: readonly Migration[]): void {
  let previous = 0;
  for (const migration of migrations) {
    if (!Number.isSafeInteger(migration.version) || migration.version <= previous) {
      // A defect of this build, not something the operator can act on: no FerryError code fits.
      throw new Error(
        `Catalog migrations must have strictly increasing positive versions: ${describeMigration(migration)} follows version ${previous}`,
      );
    }
    previous = migration.version;
  }
}
