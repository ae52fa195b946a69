import type { Migration } from './migration.js';

// A saved selection remembers how its stream is trusted, since that changes what a run accepts:
// the keyring files (a JSON list of absolute paths) and whether signatures are checked. NULL:
// saved before this step, or saved without them (the bundled keyring, verified).
export const selectionTrust: Migration = {
  version: 5,
  name: 'selection-trust',
  up(db) {
    db.exec(`
      ALTER TABLE selections ADD COLUMN keyring_files TEXT
        CHECK (keyring_files IS NULL OR json_type(keyring_files) = 'array');
      ALTER TABLE selections ADD COLUMN verify INTEGER
        CHECK (verify IS NULL OR verify IN (0, 1));
    `);
  },
};
