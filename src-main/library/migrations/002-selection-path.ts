import type { Migration } from './migration.js';

// A saved selection whose entry file is not under streams/v1/ (sstream's --path) cannot be found
// again from its URL alone: the mirror base and the path are kept apart. NULL: the source's URL says
// it all, as before this step.
export const selectionPath: Migration = {
  version: 2,
  name: 'selection-path',
  up(db) {
    db.exec('ALTER TABLE selections ADD COLUMN path TEXT CHECK (path IS NULL OR length(path) > 0)');
  },
};
