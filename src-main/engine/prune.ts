// `ferry import --prune`: files under the target that no published metadata lists are removed.
// Deleting is the one irreversible act of an import, so it is narrow: only regular files (never a
// link, nor anything through one: directories are walked without following links), only below the
// target, never under streams/ (metadata, ours or not) and never in `.ferry/` (the state of a tree
// made by `ferry mirror`); each path passes the tree guard again just before it is removed.

import { readdir, unlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { throwIfCancelled } from '../base/cancel.js';
import { withFileErrors } from '../base/files.js';
import { checkTreePath } from '../mirror/tree-store.js';
import { TREE_STATE_FOLDER } from '../library/library.js';
import { flattenProducts } from '../streams/index.js';
import type { LoadedStream } from './stream.js';

/** Top-level folders prune never enters: the metadata, and a mirror tree's state. */
const NEVER_PRUNED = new Set(['streams', TREE_STATE_FOLDER]);

/**
 * Removes every regular file under `target` that `stream` (the metadata just published) does not
 * list as a metadata file or as any item's path, outside NEVER_PRUNED. Answers the removed paths
 * (relative, '/'-separated), sorted. Throws FERRY_IO, FERRY_PATH_BLOCKED, FERRY_CANCELLED.
 */
export async function pruneTree(target: string, stream: LoadedStream, signal: AbortSignal): Promise<string[]> {
  const listed = new Set(stream.metadataFiles.map((file) => file.path));
  for (const products of stream.products) {
    for (const item of flattenProducts(products.document)) if (item.path !== undefined) listed.add(item.path);
  }
  const removed: string[] = [];
  const visit = async (relative: string): Promise<void> => {
    const directory = relative === '' ? target : join(target, relative);
    const entries = await withFileErrors(directory, 'list', () => readdir(directory, { withFileTypes: true }));
    for (const entry of entries) {
      throwIfCancelled(signal);
      if (relative === '' && NEVER_PRUNED.has(entry.name)) continue;
      const path = relative === '' ? entry.name : posix.join(relative, entry.name);
      if (entry.isDirectory()) await visit(path);
      else if (entry.isFile() && !listed.has(path)) {
        const checked = await checkTreePath(target, path, 'replace').catch(() => undefined);
        if (checked === undefined) continue;
        await withFileErrors(checked.path, 'remove', () => unlink(checked.path));
        removed.push(path);
      }
    }
  };
  await visit('');
  return removed.sort();
}
