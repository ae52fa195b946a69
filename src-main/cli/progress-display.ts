import { createLogUpdate } from 'log-update';
import { formatBytes } from '../base/format.js';
import { displayWidth, isFerryError, type JobEvent, type JobHandle, type JobKind, type JobListener, type JobOutcomes, type Progress } from '../engine/index.js';
import type { CliIo } from './command.js';
import { factLines, fitText, formatDuration, formatRetry } from './output.js';

/**
 * live: a redrawn display (a terminal that can move the cursor); lines: a progress line every 5 s
 * (TERM=dumb, a terminal of unknown or zero width, or --progress off a terminal); notes: no progress,
 * every note (off a terminal); json: events as JSON lines on stdout; quiet: failures only (--quiet).
 */
export type DisplayMode = 'live' | 'lines' | 'notes' | 'json' | 'quiet';

/**
 * Picks how a job's events are shown. A live display needs a terminal that moves the cursor and
 * says its width: TERM=dumb (Emacs shells, some CI consoles) and a zero width get plain lines.
 */
export function displayModeFor(io: CliIo, options: { json: boolean; progress: boolean; quiet: boolean }): DisplayMode {
  if (options.json) return 'json';
  if (options.quiet) return 'quiet';
  // A terminal that reports no rows (a pty whose size was never set) gets lines: log-update fits
  // its drawing to the height, and would draw nothing at all there.
  if (io.stderr.isTTY === true) return io.env['TERM'] === 'dumb' || terminalColumns(io) === 0 || io.stderr.rows === 0 ? 'lines' : 'live';
  return options.progress ? 'lines' : 'notes';
}

/** The terminal's width: what the tty says, else COLUMNS, else 80; 0 for a terminal that says 0. */
function terminalColumns(io: CliIo): number {
  const fromEnv = Number(io.env['COLUMNS']);
  return io.stderr.columns ?? (Number.isInteger(fromEnv) && fromEnv >= 0 && io.env['COLUMNS'] !== '' ? fromEnv : 80);
}

const PLAIN_LINE_INTERVAL_MS = 5_000;
const BAR_STEPS: ReadonlySet<Progress['step']> = new Set(['download', 'verify-existing', 'place', 'export', 'read-back']);
const MAX_FILES_SHOWN = 4;

/**
 * Renders job events. Results go to stdout; progress and notes to stderr, so that stdout stays
 * parseable. In json mode every event is one JSON line on stdout. In live mode the progress is
 * redrawn in place by log-update, every line cut to the terminal's width (read again on each
 * resize), and notes print above it: io.notes is routed here while the display runs, so that a
 * Ctrl-C notice does not land inside the drawing.
 */
export class JobDisplay {
  readonly #io: CliIo;
  readonly mode: DisplayMode;
  readonly #verbose: number;
  readonly #live: ReturnType<typeof createLogUpdate> | undefined;
  #lastProgress: Progress | undefined;
  #lastPlainLine = 0;
  /** While a question waits for an answer (the next drive), the bar stays off the terminal: it would draw over the prompt. */
  #held = false;
  readonly #unroute: () => void;
  readonly #onResize = (): void => {
    if (this.#lastProgress !== undefined && !this.#held) this.#draw(this.#lastProgress);
  };

  constructor(io: CliIo, mode: DisplayMode, verbose: number) {
    this.#io = io;
    this.mode = mode;
    this.#verbose = verbose;
    this.#live = mode === 'live' ? createLogUpdate(io.stderr, { showCursor: true }) : undefined;
    if (this.#live !== undefined) io.stderr.on('resize', this.#onResize);
    this.#unroute = io.notes.route((line) => {
      this.#noteLine(line);
    });
  }

  handle = (event: JobEvent): void => {
    if (this.mode === 'json') {
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
        this.failure([`FAILED ${event.path}: ${event.error.message}`, ...factLines(event.error, '  ')].join('\n'));
        return;
      case 'retry':
        // Shown in every mode but quiet: a wait nobody is told about looks like a hang.
        this.note(formatRetry(event));
        return;
      case 'removed':
        if (this.#verbose > 0) this.note(`removed ${event.path}`);
        return;
      case 'metadata-written':
        if (this.#verbose > 0) this.note(`wrote metadata: ${event.paths.join(', ')}`);
        return;
      case 'target-needed':
        // The command asks for the next drive (ferry export); the bar of the volume just written gives way to the question until resume().
        this.#lastProgress = undefined;
        this.#held = true;
        this.#live?.clear();
        return;
      case 'loaded':
      case 'plan':
      case 'export-verdict':
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

  /** Lines on stderr for a person, above the live display; nothing with --quiet or --json. */
  note(text: string): void {
    if (this.mode === 'quiet' || this.mode === 'json') return;
    this.#noteLine(text);
  }

  /** A failure: printed in every mode but json (where the event itself is the line). */
  failure(text: string): void {
    if (this.mode === 'json') return;
    this.#noteLine(text);
  }

  #noteLine(text: string): void {
    this.#live?.clear();
    this.#io.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
    if (this.#lastProgress !== undefined && !this.#held) this.#draw(this.#lastProgress);
  }

  /** Draws the bar again after a question (target-needed) has been answered. */
  resume(): void {
    this.#held = false;
    if (this.#lastProgress !== undefined) this.#draw(this.#lastProgress);
  }

  /** Removes the live drawing and gives notes back to main; call once the job has settled. */
  finish(): void {
    this.#lastProgress = undefined;
    this.#live?.clear();
    this.#live?.done();
    this.#io.stderr.off('resize', this.#onResize);
    this.#unroute();
  }

  #progress(progress: Progress): void {
    if (progress.filesTotal === 0) return;
    if (this.#live !== undefined) {
      this.#lastProgress = progress;
      if (!this.#held) this.#draw(progress);
      return;
    }
    if (this.mode !== 'lines') return;
    const now = Date.now();
    const finished = progress.bytesDone >= progress.bytesTotal;
    if (!finished && now - this.#lastPlainLine < PLAIN_LINE_INTERVAL_MS) return;
    this.#lastPlainLine = now;
    this.#io.stderr.write(`${summaryLine(progress)}\n`);
  }

  #draw(progress: Progress): void {
    this.#live?.(renderLive(progress, terminalColumns(this.#io)).join('\n'));
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
  return `${percent}% ${formatBytes(progress.bytesDone)} of ${formatBytes(progress.bytesTotal)}, files ${progress.filesDone}/${progress.filesTotal}, ${formatBytes(progress.speed)}/s, ETA ${eta}`;
}

/**
 * The live drawing for a terminal `columns` wide: the bar and the totals (on one line when they
 * fit, the bar above them when not), then the files in flight. Every line is cut to columns - 1,
 * so no line ever wraps: a wrapped line is one log-update could not erase exactly.
 */
export function renderLive(progress: Progress, columns: number): string[] {
  const room = Math.max(1, columns - 1);
  const summary = summaryLine(progress);
  const ratio = progress.bytesTotal === 0 ? 1 : Math.min(1, progress.bytesDone / progress.bytesTotal);
  const bar = (width: number): string => {
    const filled = Math.round(ratio * width);
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  };
  // In steps of 5, so that the bar keeps its length while the numbers beside it change width.
  const besideWidth = Math.min(40, Math.floor((room - displayWidth(summary) - 3) / 5) * 5);
  const lines =
    besideWidth >= 10 ? [`${bar(besideWidth)} ${summary}`] : room >= 12 ? [bar(Math.min(40, room - 2)), summary] : [summary];
  for (const file of progress.current.slice(0, MAX_FILES_SHOWN)) {
    const percent = file.bytesTotal === 0 ? 100 : Math.floor((file.bytesDone / file.bytesTotal) * 100);
    const head = `  ${String(percent).padStart(3)}% ${formatBytes(file.speed).padStart(9)}/s  `;
    lines.push(`${head}${fitText(file.name, room - head.length, 'end', displayWidth)}`);
  }
  if (progress.current.length > MAX_FILES_SHOWN) lines.push(`  … and ${progress.current.length - MAX_FILES_SHOWN} more`);
  return lines.map((line) => fitText(line, room, 'start', displayWidth));
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
