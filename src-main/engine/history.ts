// The History screen's records besides the jobs (issue 10 §3: exports, receipts, the audit log) and
// the Plan screen's free space: the handlers of contract/history-calls.ts, which the API service
// (service.ts) spreads into its handlers. What each reads:
// - exports: the library's exports ledger (catalog migration 004), read as `ferry library` reads;
// - receipts: the receipt files receipts.write wrote (recorded in receipts.json in the service's
//   data folder, beside jobs.json) and those exports read as their base (an export job's `since`),
//   each file read again now, so the screen shows what it says today;
// - the audit log: what each export wrote to its bundle's audit.jsonl (docs/bundle.md: fetched,
//   verified, exported, when, from where, signed by which keys, by which tool), read from the
//   bundle's directory. The file is the record; nothing is rebuilt from other state. A drive
//   ejected since is named as such.

import { join, resolve as resolvePath } from 'node:path';
import { z } from 'zod';
import { describeError } from '../base/errors.js';
import type { AuditRecord, CallInput, ExportRecordData, LibrarySpace, ReceiptRecord } from '../contract/index.js';
import { BUNDLE_FILES, parseReceipt, type Receipt } from '../media/index.js';
import { readBundleFile } from '../media/bundle/reader.js';
import { inspectTarget } from '../media/bundle/target.js';
import { openLibraryForReading } from '../library/index.js';
import type { ExportOutcome, JobStatus } from './api.js';
import { readJson, writeJson } from './app-data.js';
import type { Engine } from './engine.js';
import { libraryExists } from './library.js';

export const RECEIPTS_FILE_NAME = 'receipts.json';

const writtenReceiptsSchema = z.object({ version: z.literal(1), receipts: z.array(z.object({ path: z.string(), at: z.string() })) });

export interface HistoryOptions {
  engine: Engine;
  /** The service's data folder (receipts.json) and default library. */
  dataDir: string;
  /** What relative paths in inputs are relative to. */
  cwd: string;
  /** Every job the service knows, running or recorded. */
  jobs: () => JobStatus[];
}

export interface History {
  /** statfs of the library folder (or its nearest existing parent). Throws FERRY_IO. */
  space(input: CallInput<'library.space'>): Promise<LibrarySpace>;
  /** The exports ledger, newest first; empty before the library exists. Throws FERRY_LIBRARY_BUSY, FERRY_CATALOG_CORRUPT, FERRY_CATALOG_TOO_NEW. */
  exports(input: CallInput<'history.exports'>): Promise<ExportRecordData[]>;
  /** Receipts written or read, newest first, each read again (a file that is gone has `problem`). Throws FERRY_SETTING_INVALID for a damaged receipts.json, FERRY_IO. */
  receipts(): Promise<ReceiptRecord[]>;
  /** The audit.jsonl of each export the service ran, newest first. Throws nothing of its own. */
  audit(): Promise<AuditRecord[]>;
  /** `ferry receipt` (Engine.writeReceipt, which lists what it throws), recorded for receipts(). */
  writeReceipt(input: CallInput<'receipts.write'>): Promise<Receipt>;
}

/** Export jobs that wrote a bundle (not a dry run), newest first, with their outcomes. */
function exportJobs(jobs: readonly JobStatus[]): Array<{ job: JobStatus; outcome: ExportOutcome }> {
  const found: Array<{ job: JobStatus; outcome: ExportOutcome }> = [];
  for (const job of jobs) {
    const outcome = job.kind === 'export' && job.outcome?.type === 'result' ? job.outcome.outcome : undefined;
    if (outcome !== undefined && 'directories' in outcome && !outcome.dryRun) found.push({ job, outcome });
  }
  return found.sort((a, b) => b.job.startedAt.localeCompare(a.job.startedAt));
}

export function createHistory(options: HistoryOptions): History {
  const { engine, dataDir, cwd } = options;
  const receiptsFile = join(dataDir, RECEIPTS_FILE_NAME);
  const libraryDir = (library: string | undefined): string => resolvePath(cwd, library ?? dataDir);
  let recording: Promise<void> = Promise.resolve();

  // Both files are on drives the user brings: read as a bundle's own files are (readBundleFile), so
  // a FIFO, device or huge file there is reported as unreadable at once instead of hanging the call.
  const readReceipt = async (path: string): Promise<{ receipt: Receipt | null; problem: string | null }> => {
    try {
      return { receipt: parseReceipt((await readBundleFile(path, path)).toString('utf8'), path), problem: null };
    } catch (error) {
      return { receipt: null, problem: describeError(error) };
    }
  };

  return {
    async space({ library }) {
      const dir = libraryDir(library);
      const target = await inspectTarget(dir);
      return { libraryDir: dir, measured: target.existing, mountPoint: target.mountPoint, freeBytes: target.freeBytes };
    },

    async exports({ library }) {
      const dir = libraryDir(library);
      if (!(await libraryExists(dir))) return [];
      const opened = await openLibraryForReading(dir);
      try {
        return opened.catalog.listExports();
      } finally {
        opened.close();
      }
    },

    async receipts() {
      const written = (await readJson(receiptsFile, writtenReceiptsSchema))?.receipts ?? [];
      const read = exportJobs(options.jobs()).flatMap(({ job }) => {
        const since = 'since' in job.input ? job.input.since : undefined;
        return since === undefined ? [] : [{ path: resolvePath(cwd, since), at: job.startedAt, jobId: job.id }];
      });
      const met = [...written.map((entry) => ({ ...entry, use: 'written' as const, jobId: null })), ...read.map((entry) => ({ ...entry, use: 'read' as const }))];
      const records = await Promise.all(met.map(async (entry) => ({ ...entry, ...(await readReceipt(entry.path)) })));
      return records.sort((a, b) => b.at.localeCompare(a.at));
    },

    async audit() {
      return Promise.all(
        exportJobs(options.jobs()).map(async ({ job, outcome }): Promise<AuditRecord> => {
          const directory = outcome.directories[0] ?? '';
          const file = join(directory, BUNDLE_FILES.audit);
          try {
            const text = (await readBundleFile(file, BUNDLE_FILES.audit)).toString('utf8');
            const entries = text.split('\n').filter((line) => line !== '').map((line) => z.record(z.string(), z.unknown()).parse(JSON.parse(line)));
            return { bundleId: outcome.bundleId, jobId: job.id, directory, entries, problem: null };
          } catch (error) {
            return { bundleId: outcome.bundleId, jobId: job.id, directory, entries: [], problem: `${file} could not be read (a drive ejected or a folder moved since?): ${describeError(error)}` };
          }
        }),
      );
    },

    async writeReceipt(input) {
      const receipt = await engine.writeReceipt(input);
      const entry = { path: resolvePath(cwd, input.out), at: receipt.created };
      // One write at a time, each a whole new file (app-data.ts's writeJson), so none is lost.
      recording = recording.catch(() => undefined).then(async () => {
        const saved = (await readJson(receiptsFile, writtenReceiptsSchema))?.receipts ?? [];
        await writeJson(receiptsFile, { version: 1, receipts: [...saved.filter((old) => old.path !== entry.path), entry] });
      });
      await recording;
      return receipt;
    },
  };
}
