// What the API service keeps between runs in its data folder (the default library folder, or the
// one `ferry ui --library` names): jobs.json, the history of the jobs it ran, and settings.json.
// A file, not the library catalog: a mirror job has no library, the catalog is locked by a running
// sync, and the history must be readable while one runs. Each write is a whole new file renamed
// into place, so a crash leaves the previous version or the new one, never half of either.

import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { errnoCode, FerryError } from '../base/errors.js';
import { fileSystemError } from '../base/files.js';
import { jobStatusSchema, settingsSchema, type Settings } from '../contract/index.js';
import type { JobStatus } from './api.js';

export const JOURNAL_FILE_NAME = 'jobs.json';
export const SETTINGS_FILE_NAME = 'settings.json';
/** How many jobs the history keeps, newest last; older ones are dropped when a job starts. */
export const JOBS_KEPT = 200;

/**
 * A job as the history keeps it: its status, and the input that runs it again in a later engine
 * process (`rerun`, see Engine.portableInput; the engine checks it again when it starts the job).
 */
const journalEntrySchema = jobStatusSchema.extend({ rerun: z.unknown().optional() });
/** The journal's frame; each entry is checked on its own, so one bad entry loses only itself. */
const journalSchema = z.object({ version: z.literal(1), jobs: z.array(z.unknown()) });
type JournalEntry = z.infer<typeof journalEntrySchema>;

/** The JSON in `path`, checked by `schema`; undefined when the file does not exist. Throws FERRY_SETTING_INVALID for a damaged file, FERRY_IO. */
export async function readJson<Schema extends z.ZodType>(path: string, schema: Schema): Promise<z.infer<Schema> | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw fileSystemError(error, path, 'read');
  }
  const damaged = (why: string): FerryError =>
    new FerryError('FERRY_SETTING_INVALID', `${path} ${why}.`, { path, hint: 'Move the file aside; Stream Ferry starts a new one.' });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    // A file cut short (a full disk, a crash of another writer) is not JSON: named as such, not as
    // a field of it that does not match.
    throw damaged(`is not JSON (cut short or damaged): ${error instanceof Error ? error.message : String(error)}`);
  }
  const checked = schema.safeParse(parsed);
  if (!checked.success) throw damaged(`is not a file Stream Ferry wrote: ${checked.error.issues[0]?.message ?? 'unexpected content'}`);
  return checked.data;
}

/** Writes `value` as JSON to `path` through a temporary name and a rename. Throws FERRY_IO, FERRY_DISK_FULL. */
export async function writeJson(path: string, value: unknown): Promise<void> {
  const draft = `${path}.${process.pid}.draft`;
  try {
    await writeFile(draft, `${JSON.stringify(value, null, 1)}\n`);
    await rename(draft, path);
  } catch (error) {
    throw fileSystemError(error, path, 'write');
  }
}

/**
 * The job history: one JobStatus per job, written when a job starts and when it ends. A job still
 * `running` when the journal is opened was left by an engine that stopped without ending it (a
 * crash, a kill, the app closed): it is marked `interrupted`, and can be resumed.
 */
export class JobJournal {
  readonly #path: string;
  readonly #jobs = new Map<string, JournalEntry>();
  #writing: Promise<void> = Promise.resolve();

  private constructor(path: string) {
    this.#path = path;
  }

  /**
   * Opens (or starts) the journal in `dataDir`. A damaged journal does not stop the service: a file
   * that is not a journal at all, or entries that are not jobs (an older or newer Stream Ferry, an
   * edit by hand), are skipped; the file as it was is kept aside as `jobs.json.damaged-<time>`, the
   * jobs that could be read are written back, and a process warning of type FerryJournalWarning
   * says so (as a history that cannot be written does, service.ts). Throws FERRY_IO.
   */
  static async open(dataDir: string): Promise<JobJournal> {
    await mkdir(dataDir, { recursive: true }).catch((error: unknown) => {
      throw fileSystemError(error, dataDir, 'create');
    });
    const journal = new JobJournal(join(dataDir, JOURNAL_FILE_NAME));
    let saved: unknown[] = [];
    let damage: string | undefined;
    try {
      saved = (await readJson(journal.#path, journalSchema))?.jobs ?? [];
    } catch (error) {
      if (!(error instanceof FerryError) || error.code !== 'FERRY_SETTING_INVALID') throw error;
      damage = error.message;
    }
    let interrupted = false;
    let skipped = 0;
    for (const entry of saved) {
      const checked = journalEntrySchema.safeParse(entry);
      if (!checked.success) {
        skipped += 1;
        continue;
      }
      const job = checked.data;
      if (job.state === 'running') {
        interrupted = true;
        journal.#jobs.set(job.id, { ...job, state: 'interrupted' });
      } else journal.#jobs.set(job.id, job);
    }
    if (skipped > 0) damage = `${journal.#path}: ${skipped} of its ${saved.length} jobs are not jobs this Stream Ferry reads`;
    if (damage !== undefined) {
      const aside = `${journal.#path}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      await rename(journal.#path, aside).catch((error: unknown) => {
        throw fileSystemError(error, journal.#path, 'rename');
      });
      process.emitWarning(`The job history was damaged and is kept aside as ${aside}; the jobs that could be read are kept. ${damage}`, { type: 'FerryJournalWarning' });
    }
    if (interrupted || damage !== undefined) await journal.#save();
    return journal;
  }

  /** Every recorded job, oldest first. */
  list(): JobStatus[] {
    return [...this.#jobs.values()].map(statusOf);
  }

  get(jobId: string): JobStatus | undefined {
    const entry = this.#jobs.get(jobId);
    return entry === undefined ? undefined : statusOf(entry);
  }

  /** The input that runs a recorded job again (recorded with it), else the input of its status. */
  rerunInput(jobId: string): unknown {
    const entry = this.#jobs.get(jobId);
    return entry?.rerun ?? entry?.input;
  }

  /**
   * Records a job's latest status (started, or ended) and writes the file; writes never overlap.
   * `rerun` is the input that runs it again, given when it starts and kept through later records.
   */
  record(status: JobStatus, rerun?: JobStatus['input']): Promise<void> {
    const kept = rerun ?? this.#jobs.get(status.id)?.rerun;
    this.#jobs.delete(status.id);
    this.#jobs.set(status.id, kept === undefined ? status : { ...status, rerun: kept });
    for (const id of [...this.#jobs.keys()].slice(0, Math.max(0, this.#jobs.size - JOBS_KEPT))) this.#jobs.delete(id);
    return this.#save();
  }

  #save(): Promise<void> {
    const snapshot = { version: 1 as const, jobs: [...this.#jobs.values()] };
    this.#writing = this.#writing.catch(() => undefined).then(() => writeJson(this.#path, snapshot));
    return this.#writing;
  }
}

/** An entry without its rerun input, which stays in the engine (a job's status shows what it was given). */
function statusOf(entry: JournalEntry): JobStatus {
  const status: JournalEntry = { ...entry };
  delete status.rerun;
  return status;
}

/** The saved settings in `dataDir` ({} before any are saved). Throws FERRY_SETTING_INVALID for a damaged file, FERRY_IO. */
export async function readSettings(dataDir: string): Promise<Settings> {
  return (await readJson(join(dataDir, SETTINGS_FILE_NAME), settingsSchema)) ?? {};
}

/** Replaces the saved settings in `dataDir` with `settings` (already checked). Throws FERRY_IO, FERRY_DISK_FULL. */
export async function writeSettings(dataDir: string, settings: Settings): Promise<void> {
  await mkdir(dataDir, { recursive: true }).catch((error: unknown) => {
    throw fileSystemError(error, dataDir, 'create');
  });
  await writeJson(join(dataDir, SETTINGS_FILE_NAME), settings);
}
