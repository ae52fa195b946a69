import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureDirectoryDurably, isProcessAlive, lstatIfExists, mtimeMsOf, readdirIfExists, withFileErrors } from '../base/files.js';

const PARTIAL_FOLDER = 'partial';
/** `<label>.<pid>.<16 hex>.tmp`, as made by tempPath; the pid tells whether its writer still runs. */
const TEMP_NAME = /\.(\d+)\.[0-9a-f]{16}\.tmp$/;
/**
 * `<sha256>` (a library's) or `<sha256>-<16 hex>` (a tree's: one per final path, see TreeStore),
 * then optionally `.<anything>`: a resumable download and any sidecar the downloader keeps.
 */
const PARTIAL_NAME = /^[0-9a-f]{64}(-[0-9a-f]{16})?(\.[^/\\]+)?$/;
const LABEL_LENGTH = 60;
const SHA256_HEX_LENGTH = 64;

/** A resumable download (or a sidecar of one) in `partial/`. */
export interface PartialFile {
  readonly name: string;
  readonly path: string;
  /** The sha256 the download is expected to become (or the key it was filed under). */
  readonly key: string;
  readonly size: number;
  readonly mtimeMs: number;
}

export interface TempSweepReport {
  tempFilesRemoved: number;
  partialFilesKept: number;
}

/**
 * A scratch folder on the same file system as the final files, so that publishing a finished
 * file is a rename. Files directly in it are disposable; `partial/` holds downloads keyed by
 * their expected sha256, which survive restarts so that the downloader can resume them. Its
 * methods throw FERRY_DISK_FULL or FERRY_IO naming the path (base/files.ts fileSystemError).
 */
export class TempArea {
  readonly dir: string;
  readonly partialDir: string;

  constructor(dir: string) {
    this.dir = dir;
    this.partialDir = join(dir, PARTIAL_FOLDER);
  }

  async ensure(): Promise<void> {
    await ensureDirectoryDurably(this.partialDir);
  }

  /** A fresh, unique path for one write; the label only helps a human reading the folder. */
  tempPath(label: string): string {
    const readable = label.replace(/[^A-Za-z0-9._-]+/g, '_').slice(-LABEL_LENGTH);
    const unique = `${String(process.pid)}.${randomBytes(8).toString('hex')}`;
    return join(this.dir, `${readable === '' ? 'file' : readable}.${unique}.tmp`);
  }

  /** Where the download filed under `name` (a sha256, then optionally `-<16 hex>`) accumulates across runs until it is complete. */
  partialPath(name: string): string {
    return join(this.partialDir, name);
  }

  /** The resumable downloads on disk; files that are not named like one are the sweep's business. */
  async partials(): Promise<PartialFile[]> {
    const found: PartialFile[] = [];
    for (const entry of await readdirIfExists(this.partialDir)) {
      if (!entry.isFile() || !PARTIAL_NAME.test(entry.name)) continue;
      const path = join(this.partialDir, entry.name);
      const stats = await lstatIfExists(path);
      if (stats === undefined) continue;
      found.push({ name: entry.name, path, key: entry.name.slice(0, SHA256_HEX_LENGTH), size: stats.size, mtimeMs: mtimeMsOf(stats) });
    }
    return found;
  }

  /** Deletes one resumable download; answers false when it was already gone. */
  async removePartial(partial: PartialFile): Promise<boolean> {
    return withFileErrors(partial.path, 'remove the partial download', async () => {
      const existed = (await lstatIfExists(partial.path)) !== undefined;
      await rm(partial.path, { force: true });
      return existed;
    });
  }

  /**
   * Removes what interrupted writers left behind: everything older than this process whose
   * writer is not alive, except resumable partials. A file newer than this process, or one whose
   * writer is another running process, may still be in use and is left alone.
   */
  async sweep(processStartedAtMs: number): Promise<TempSweepReport> {
    const report: TempSweepReport = { tempFilesRemoved: 0, partialFilesKept: 0 };
    for (const entry of await readdirIfExists(this.dir)) {
      if (entry.name === PARTIAL_FOLDER && entry.isDirectory()) continue;
      if (await removeIfAbandoned(join(this.dir, entry.name), entry.name, processStartedAtMs)) {
        report.tempFilesRemoved += 1;
      }
    }
    for (const entry of await readdirIfExists(this.partialDir)) {
      if (entry.isFile() && PARTIAL_NAME.test(entry.name)) {
        report.partialFilesKept += 1;
      } else if (await removeIfAbandoned(join(this.partialDir, entry.name), entry.name, processStartedAtMs)) {
        report.tempFilesRemoved += 1;
      }
    }
    return report;
  }
}

async function removeIfAbandoned(path: string, name: string, processStartedAtMs: number): Promise<boolean> {
  const stats = await lstatIfExists(path);
  if (stats === undefined || stats.mtimeMs >= processStartedAtMs) return false;
  const writerPid = TEMP_NAME.exec(name)?.[1];
  if (writerPid !== undefined && Number(writerPid) !== process.pid && isProcessAlive(Number(writerPid))) return false;
  await withFileErrors(path, 'remove the leftover temporary file', () => rm(path, { recursive: true, force: true }));
  return true;
}
