import { isFerryError, type JobEvent, type JobHandle, type JobKind, type JobListener, type JobOutcomes, type Progress } from '../engine/index.js';
import type { CliIo } from './command.js';
import { formatBytesFixed, formatDuration, formatRetry } from './output.js';

export type DisplayMode = 'live' | 'lines' | 'json' | 'quiet';

/** Picks how a job's events are shown: a redrawn display on a terminal, plain lines elsewhere. */
export function displayModeFor(io: CliIo, options: { json: boolean; progress: boolean }): DisplayMode {
  if (options.json) return 'json';
  if (io.stderr.isTTY === true) return 'live';
  return options.progress ? 'lines' : 'quiet';
}

const PLAIN_LINE_INTERVAL_MS = 5_000;
const BAR_STEPS: ReadonlySet<Progress['step']> = new Set(['download', 'verify-existing', 'place', 'export', 'read-back']);
const MAX_FILES_SHOWN = 4;

/**
 * Renders job events. Results go to stdout; progress and notes to stderr, so that stdout stays
 * parseable. In json mode every event is one JSON line on stdout.
 */
export class JobDisplay {
  readonly #io: CliIo;
  readonly #mode: DisplayMode;
  readonly #verbose: number;
  #drawnLines = 0;
  #lastPlainLine = 0;

  constructor(io: CliIo, mode: DisplayMode, verbose: number) {
    this.#io = io;
    this.#mode = mode;
    this.#verbose = verbose;
  }

  handle = (event: JobEvent): void => {
    if (this.#mode === 'json') {
      if (isJsonLine(event)) this.#io.stdout.write(`${JSON.stringify(event)}\n`);
      return;
    }
    switch (event.type) {
      case 'progress':
        // The bulk of each job: downloads, re-hashing what is there (mirror --verify-existing, a
        // bundle's verify), an import's copy, an export's copy and read-back; loading metadata and
        // removing are quick next to them.
        if (BAR_STEPS.has(event.progress.step)) this.#progress(event.progress);
        return;
      case 'repaired':
        this.note(describeRepair(event.report));
        return;
      case 'file-done':
        if (this.#verbose > 0) this.note(`${event.outcome === 'fetched' ? 'fetched' : 'present'} ${event.path}`);
        return;
      case 'file-failed':
        this.note(`FAILED ${event.path}: ${event.error.message}`);
        return;
      case 'retry':
        // Shown in every mode: a wait nobody is told about looks like a hang.
        this.note(formatRetry(event));
        return;
      case 'removed':
        if (this.#verbose > 0) this.note(`removed ${event.path}`);
        return;
      case 'metadata-written':
        if (this.#verbose > 0) this.note(`wrote metadata: ${event.paths.join(', ')}`);
        return;
      case 'loaded':
      case 'plan':
        // The command prints these itself, in the reference's format.
        return;
      case 'result':
      case 'failed':
      case 'cancelled':
      case 'paused':
        // The command reports the outcome (and main an error) once the job's result settles.
        return;
    }
  };

  /** A line on stderr that does not collide with the live display. */
  note(text: string): void {
    this.#clear();
    this.#io.stderr.write(`${text}\n`);
  }

  finish(): void {
    this.#clear();
  }

  #progress(progress: Progress): void {
    if (progress.filesTotal === 0) return;
    if (this.#mode === 'live') {
      this.#clear();
      const lines = renderLive(progress, this.#io.stderr.columns ?? 80);
      this.#io.stderr.write(`${lines.join('\n')}\n`);
      this.#drawnLines = lines.length;
      return;
    }
    if (this.#mode !== 'lines') return;
    const now = Date.now();
    const finished = progress.bytesDone >= progress.bytesTotal;
    if (!finished && now - this.#lastPlainLine < PLAIN_LINE_INTERVAL_MS) return;
    this.#lastPlainLine = now;
    this.#io.stderr.write(`${summaryLine(progress)}\n`);
  }

  #clear(): void {
    if (this.#drawnLines === 0) return;
    // Move up over the previous drawing and erase it (ANSI: cursor up, erase to end of screen).
    this.#io.stderr.write(`\u001b[${this.#drawnLines}A\u001b[0J`);
    this.#drawnLines = 0;
  }
}

/**
 * `--json` lines: every event from `loaded` on, as scripts have read them; the outcome is the
 * command's own result line (or the error on stderr), and metadata loading stays off stdout so
 * that the first line is still `loaded`.
 */
function isJsonLine(event: JobEvent): boolean {
  switch (event.type) {
    case 'result':
    case 'failed':
    case 'cancelled':
    case 'paused':
      return false;
    case 'progress':
      return event.progress.step !== 'load';
    default:
      return true;
  }
}

/**
 * Waits for a job the CLI started, with `listener` subscribed to its events. Ctrl-C and SIGTERM
 * (io.signal) pause it: partial downloads are kept, so running the command again resumes them.
 * Rejects with the job's error, or the FERRY_CANCELLED error naming the signal.
 */
export async function followJob<K extends JobKind>(handle: JobHandle<K>, io: CliIo, listener: JobListener | undefined): Promise<JobOutcomes[K]> {
  const unsubscribe = listener === undefined ? undefined : handle.subscribe(listener);
  const onAbort = (): void => {
    const reason: unknown = io.signal.reason;
    handle.pause(isFerryError(reason) ? reason.message : undefined);
  };
  if (io.signal.aborted) onAbort();
  else io.signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await handle.result;
  } finally {
    io.signal.removeEventListener('abort', onAbort);
    unsubscribe?.();
  }
}

export function summaryLine(progress: Progress): string {
  const percent = progress.bytesTotal === 0 ? 100 : Math.floor((progress.bytesDone / progress.bytesTotal) * 100);
  const eta = progress.eta === null ? '--:--' : formatDuration(progress.eta);
  return `${percent}% ${formatBytesFixed(progress.bytesDone)} of ${formatBytesFixed(progress.bytesTotal)}, files ${progress.filesDone}/${progress.filesTotal}, ${formatBytesFixed(progress.speed)}/s, ETA ${eta}`;
}

function renderLive(progress: Progress, columns: number): string[] {
  const width = Math.max(10, Math.min(40, columns - 60));
  const ratio = progress.bytesTotal === 0 ? 1 : Math.min(1, progress.bytesDone / progress.bytesTotal);
  const filled = Math.round(ratio * width);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  const lines = [`${bar} ${summaryLine(progress)}`];
  for (const file of progress.current.slice(0, MAX_FILES_SHOWN)) {
    const percent = file.bytesTotal === 0 ? 100 : Math.floor((file.bytesDone / file.bytesTotal) * 100);
    const name = file.name.length > columns - 30 ? `…${file.name.slice(-(columns - 31))}` : file.name;
    lines.push(`  ${String(percent).padStart(3)}% ${formatBytesFixed(file.speed).padStart(9)}/s  ${name}`);
  }
  if (progress.current.length > MAX_FILES_SHOWN) lines.push(`  … and ${progress.current.length - MAX_FILES_SHOWN} more`);
  return lines;
}

/** The repair report's counts in an operator's words; a field without words here is a bug the test catches. */
export const REPAIR_COUNT_WORDS: Readonly<Record<string, (count: number) => string>> = {
  tempFilesRemoved: (count) => `${count} leftover temporary file(s) removed`,
  partialFilesKept: (count) => `${count} partial download(s) kept to resume`,
  blobRowsDropped: (count) => `${count} stored file(s) missing or wrong, forgotten`,
  blobFilesDeleted: (count) => `${count} stored file(s) with wrong contents deleted`,
  blobFilesAdopted: (count) => `${count} stored file(s) not in the catalog checked and kept`,
  blobsRehashed: (count) => `${count} changed file(s) re-hashed`,
  heldItemsDropped: (count) => `${count} item(s) no longer complete, to fetch again`,
  snapshotsDropped: (count) => `${count} metadata snapshot(s) with missing bytes dropped`,
  treeFilesDropped: (count) => `${count} mirror file(s) missing or changed since verified`,
};

/**
 * What startup repair did, worded by what it means: partial downloads kept from a stopped run are
 * the resume working, not a repair; files someone else changed or removed are said to be that.
 */
export function describeRepair(report: Extract<JobEvent, { type: 'repaired' }>['report']): string {
  const counts = Object.entries(report).filter((entry): entry is [string, number] => typeof entry[1] === 'number' && entry[1] > 0);
  const words = counts.map(([name, count]) => REPAIR_COUNT_WORDS[name]?.(count) ?? `${count} ${name}`).join('; ');
  if (report.finding === 'tampering-or-lost-catalog') {
    return `Found stored files changed, removed or unexplained by the catalog (tampering or a lost catalog); the catalog now agrees with the disk: ${words}.`;
  }
  if (counts.every(([name]) => name === 'partialFilesKept')) return `Resuming from an earlier run: ${words}.`;
  return `Cleaned up after an earlier run that stopped part way: ${words}.`;
}
