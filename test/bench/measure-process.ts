import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';

// Watches a child process from the outside, the same way for ferry and for the baseline: wall time,
// the moment each stdout line arrived (both print JSON lines marking their phases), and peak RSS.

/** How often /proc/<pid>/status is read; VmHWM is the kernel's own high-water mark, so a poll
 *  only has to land after the peak, and the last one is at most this long before the exit. */
const RSS_POLL_INTERVAL_MS = 50;

export interface TimedLine {
  /** Milliseconds after the child was spawned. */
  atMs: number;
  text: string;
}

export interface MeasuredRun {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Spawn to exit. */
  wallMs: number;
  /** Largest VmHWM seen; undefined where /proc is not available. */
  peakRssBytes: number | undefined;
  stdoutLines: TimedLine[];
  stderr: string;
}

/** Call right after spawning: the clock starts here. */
export function measureProcess(child: ChildProcess): Promise<MeasuredRun> {
  const startedAt = performance.now();
  const stdoutLines: TimedLine[] = [];
  let stderr = '';
  let peakRssBytes: number | undefined;
  const pid = child.pid;

  const sampleRss = async (): Promise<void> => {
    if (pid === undefined) return;
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
    const match = status === undefined ? null : /^VmHWM:\s+(\d+) kB$/m.exec(status);
    if (match?.[1] === undefined) return;
    peakRssBytes = Math.max(peakRssBytes ?? 0, Number(match[1]) * 1024);
  };
  const rssTimer = setInterval(() => {
    void sampleRss();
  }, RSS_POLL_INTERVAL_MS);
  void sampleRss();

  if (child.stdout !== null) {
    createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (text) => {
      stdoutLines.push({ atMs: performance.now() - startedAt, text });
    });
  }
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));

  return new Promise((resolveRun, rejectRun) => {
    child.once('error', (error) => {
      clearInterval(rssTimer);
      rejectRun(error);
    });
    // 'close' rather than 'exit': every stdout line has been read by then.
    child.once('close', (exitCode, signal) => {
      clearInterval(rssTimer);
      resolveRun({ exitCode, signal, wallMs: performance.now() - startedAt, peakRssBytes, stdoutLines, stderr });
    });
  });
}

/** The JSON objects among the lines, with their arrival times; other lines are ignored. */
export function jsonLines(lines: readonly TimedLine[]): Array<{ atMs: number; value: Record<string, unknown> }> {
  const parsed: Array<{ atMs: number; value: Record<string, unknown> }> = [];
  for (const line of lines) {
    if (!line.text.startsWith('{')) continue;
    const value: unknown = JSON.parse(line.text);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      parsed.push({ atMs: line.atMs, value: value as Record<string, unknown> });
    }
  }
  return parsed;
}

export function describeFailedRun(what: string, run: MeasuredRun): Error {
  const tail = (text: string): string => text.split('\n').slice(-20).join('\n');
  return new Error(
    `${what} exited with ${run.signal ?? String(run.exitCode)}\nstdout (end):\n${tail(run.stdoutLines.map((line) => line.text).join('\n'))}\nstderr (end):\n${tail(run.stderr)}`,
  );
}
