import { debuglog } from 'node:util';
import type { BlobStore, StoredBlob } from './blobs.js';
import type { Catalog } from './catalog.js';
import { lstatIfExists, mtimeMsOf, resolveInsideTree } from '../base/files.js';
import type { TempArea } from './temp-area.js';

const debug = debuglog('ferry-library');

/**
 * What repair makes of what it found. `interrupted-run`: only what a crash or kill leaves (temporary
 * files, a blob renamed into place before its row, a blob gc deleted before its row).
 * `tampering-or-lost-catalog`: files our crashes cannot explain: a recorded blob changed or gone
 * while something needed it, a file whose bytes do not match its name, or stored blobs adopted
 * into a catalog that recorded none (new, replaced or emptied).
 */
export type RepairFinding = 'interrupted-run' | 'tampering-or-lost-catalog';

/** What startup repair changed in a library, so that the CLI and the UI can say so. Counts. */
export interface LibraryRepairReport {
  readonly finding: RepairFinding;
  /** Leftovers of interrupted writes removed from tmp/. */
  readonly tempFilesRemoved: number;
  /** Interrupted downloads kept in tmp/partial/ for resuming. */
  readonly partialFilesKept: number;
  /** Catalog rows whose blob file was missing, of the wrong size, or (after a re-hash) of the wrong content. */
  readonly blobRowsDropped: number;
  /** Blob files deleted because their size or content did not match their name. */
  readonly blobFilesDeleted: number;
  /** Blob files found without a catalog row (a crash after the rename) whose hash matched: recorded. */
  readonly blobFilesAdopted: number;
  /** Recorded blobs whose modification time had changed, re-hashed before being trusted again. */
  readonly blobsRehashed: number;
  /** Held items whose bytes are gone; they are no longer held and will be fetched again. */
  readonly heldItemsDropped: number;
  /** Latest snapshots whose metadata bytes are gone; the source falls back to its previous complete one. */
  readonly snapshotsDropped: number;
}

/** What startup repair changed in a mirror tree's state. */
export interface TreeRepairReport {
  /** `tampering-or-lost-catalog` when a verified file at a final path was changed or removed by someone else. */
  readonly finding: RepairFinding;
  readonly tempFilesRemoved: number;
  readonly partialFilesKept: number;
  /** Records of tree files that were missing or changed since they were verified. */
  readonly treeFilesDropped: number;
  readonly heldItemsDropped: number;
}

/** What a library opened without repair reports (see openLibraryForReading). */
export const NO_LIBRARY_REPAIRS: LibraryRepairReport = {
  finding: 'interrupted-run',
  tempFilesRemoved: 0,
  partialFilesKept: 0,
  blobRowsDropped: 0,
  blobFilesDeleted: 0,
  blobFilesAdopted: 0,
  blobsRehashed: 0,
  heldItemsDropped: 0,
  snapshotsDropped: 0,
};

/** What a tree opened without repair reports (see openTreeStateForReading). */
export const NO_TREE_REPAIRS: TreeRepairReport = { finding: 'interrupted-run', tempFilesRemoved: 0, partialFilesKept: 0, treeFilesDropped: 0, heldItemsDropped: 0 };

/**
 * Makes the catalog agree with the blob files on disk after a crash at any moment. Blob files are
 * renamed into place before their row is written and their row is deleted before the file, so the
 * only states a crash of a sync leaves are: a file without a row (hash it, keep it if it matches its
 * name), and leftovers in tmp/. gc deletes unreferenced files before their rows (so that it frees
 * space on a full disk), so a row without a file that nothing references is gc's. Any other row
 * whose file is missing or wrong means someone else touched the store; it is dropped together with
 * what relied on it, and the report says so. A job still recorded as running was the crash's: it is
 * marked failed (interrupted).
 */
export async function repairLibrary(
  catalog: Catalog,
  blobs: BlobStore,
  processStartedAtMs: number,
): Promise<LibraryRepairReport> {
  const sweep = await blobs.temp.sweep(processStartedAtMs);
  // Whoever repairs holds the library's lock (read-only commands skip repair), so no live process
  // is running these jobs.
  catalog.failInterruptedJobs();
  const counts = {
    blobRowsDropped: 0,
    blobFilesDeleted: 0,
    blobFilesAdopted: 0,
    blobsRehashed: 0,
    heldItemsDropped: 0,
  };

  // Rows before files: another process publishes a file before its row, so a row read first
  // always has its file on disk by the time the folder is listed.
  const rows = catalog.listBlobs();
  let unexplained = false;
  const untracked = new Map<string, StoredBlob>();
  for await (const file of blobs.list()) untracked.set(file.sha256, file);

  for (const row of rows) {
    const file = untracked.get(row.sha256);
    untracked.delete(row.sha256);
    if (file !== undefined && file.size === row.size) {
      if (file.mtimeMs === row.mtimeMs) continue;
      counts.blobsRehashed += 1;
      const check = await blobs.verify(row.sha256, row.size);
      if (check.status === 'ok') {
        catalog.markVerified(row.sha256, check.blob.mtimeMs);
        continue;
      }
    }
    // Checked before the row goes: an interrupted gc is the only writer that removes a needed-by-
    // nothing file before its row.
    if (file !== undefined || catalog.referencesToBlob(row.sha256) > 0) unexplained = true;
    counts.blobRowsDropped += 1;
    counts.heldItemsDropped += catalog.removeBlob(row.sha256).heldItemsDropped;
    if (file !== undefined && (await blobs.remove(row.sha256))) counts.blobFilesDeleted += 1;
  }

  for (const file of untracked.values()) {
    const check = await blobs.verify(file.sha256, file.size);
    if (check.status === 'ok') {
      catalog.recordBlob(check.blob);
      counts.blobFilesAdopted += 1;
    } else if (check.status === 'digest-mismatch') {
      unexplained = true;
      if (await blobs.remove(file.sha256)) counts.blobFilesDeleted += 1;
    } else {
      // Gone or changed since the listing, or unreadable: it was never trusted, so leaving it
      // unrecorded is safe; the next start looks at it again.
      debug('left untracked blob %s alone: %s', file.sha256, check.status);
    }
  }

  counts.heldItemsDropped += catalog.dropHeldItemsWithoutBlob();
  // A crash leaves at most the blobs of the downloads in flight without a row, never every blob.
  if (rows.length === 0 && counts.blobFilesAdopted > 0) unexplained = true;
  const report: LibraryRepairReport = {
    finding: unexplained ? 'tampering-or-lost-catalog' : 'interrupted-run',
    ...sweep,
    ...counts,
    snapshotsDropped: catalog.dropIncompleteLatestSnapshots(),
  };
  debug('library repair: %o', report);
  return report;
}

/**
 * Makes a mirror tree's state agree with the tree: a recorded file that is missing or whose size
 * or modification time changed is no longer known good, so its record and the held items at its
 * path are dropped (the mirror re-verifies or re-downloads them). Leftover temp files are removed.
 */
export async function repairTree(
  catalog: Catalog,
  targetDir: string,
  temp: TempArea,
  processStartedAtMs: number,
): Promise<TreeRepairReport> {
  const sweep = await temp.sweep(processStartedAtMs);
  let treeFilesDropped = 0;
  let heldItemsDropped = 0;
  for (const record of catalog.listTreeFiles()) {
    const absolutePath = resolveInsideTree(targetDir, record.path);
    const stats = absolutePath === undefined ? undefined : await lstatIfExists(absolutePath);
    if (stats?.isFile() === true && stats.size === record.size && mtimeMsOf(stats) === record.mtimeMs) continue;
    treeFilesDropped += 1;
    heldItemsDropped += catalog.deleteTreeFile(record.path).heldItemsDropped;
  }
  heldItemsDropped += catalog.dropHeldItemsWithoutTreeFile();
  const report: TreeRepairReport = {
    finding: treeFilesDropped > 0 ? 'tampering-or-lost-catalog' : 'interrupted-run',
    ...sweep,
    treeFilesDropped,
    heldItemsDropped,
  };
  debug('tree repair of %s: %o', targetDir, report);
  return report;
}
