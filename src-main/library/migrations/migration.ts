import type Database from 'better-sqlite3';

/**
 * One step of the catalog schema. A released migration is never edited or renumbered: databases
 * in the field already record having run it. Change the schema with a new file instead.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  up(db: Database.Database): void;
}
