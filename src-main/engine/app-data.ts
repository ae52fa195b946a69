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
const journalSchema = z.object({ version: z.literal(1), jobs: z.array(journalEntrySchema) });
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
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const checked = schema.safeParse(parsed);
  if (!checked.success) {
    throw new FerryError('FERRY_SETTING_INVALID', `${path} is not a file Stream Ferry wrote: ${checked.error.issues[0]?.message ?? 'not JSON'}.`, {
      path,
      hint: 'Move the file aside; Stream Ferry starts a new one.',
    });
  }
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

  /** Opens (or starts) the journal in `dataDir`. Throws FERRY_SETTING_INVALID for a damaged file, FERRY_IO. */
  static async open(dataDir: string): Promise<JobJournal> {
    await mkdir(dataDir, { recursive: true }).catch((error: unknown) => {
      throw fileSystemError(error, dataDir, 'create');
    });
    const journal = new JobJournal(join(dataDir, JOURNAL_FILE_NAME));
    const saved = await readJson(journal.#path, journalSchema);
    let interrupted = false;
    for (const job of saved?.jobs ?? []) {
      if (job.state === 'running') {
        interrupted = true;
        journal.#jobs.set(job.id, { ...job, state: 'interrupted' });
      } else journal.#jobs.set(job.id, job);
    }
    if (interrupted) await journal.#save();
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
