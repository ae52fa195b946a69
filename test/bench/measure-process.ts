import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';

// Watches a child process from the outside, the same way for ferry and for the baseline: wall time,
// the moment each stdout line arrived (both print JSON lines marking their phases), peak RSS and
// CPU time. The machine has few cores and the server shares them, so CPU time explains throughput.

/**
 * How often /proc/<pid>/{status,stat} are read. VmHWM is the kernel's own high-water mark, so a
 * poll only has to land after the peak; CPU time misses at most this interval before the exit.
 */
const POLL_INTERVAL_MS = 50;
/** USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on every Linux architecture Node supports. */
const CLOCK_TICKS_PER_SECOND = 100;

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
  /** User plus system CPU time of the process, as last seen; undefined where /proc is not available. */
  cpuSeconds: number | undefined;
  stdoutLines: TimedLine[];
  stderr: string;
}

/** Call right after spawning: the clock starts here. */
export function measureProcess(child: ChildProcess): Promise<MeasuredRun> {
  const startedAt = performance.now();
  const stdoutLines: TimedLine[] = [];
  let stderr = '';
  let peakRssBytes: number | undefined;
  let cpuSeconds: number | undefined;
  const pid = child.pid;

  const sample = async (): Promise<void> => {
    if (pid === undefined) return;
    const [status, cpu] = await Promise.all([readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined), readCpuSeconds(pid)]);
    const match = status === undefined ? null : /^VmHWM:\s+(\d+) kB$/m.exec(status);
    if (match?.[1] !== undefined) peakRssBytes = Math.max(peakRssBytes ?? 0, Number(match[1]) * 1024);
    if (cpu !== undefined) cpuSeconds = Math.max(cpuSeconds ?? 0, cpu);
  };
  const pollTimer = setInterval(() => {
    void sample();
  }, POLL_INTERVAL_MS);
  void sample();

  if (child.stdout !== null) {
    createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (text) => {
      stdoutLines.push({ atMs: performance.now() - startedAt, text });
    });
  }
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));

  return new Promise((resolveRun, rejectRun) => {
    child.once('error', (error) => {
      clearInterval(pollTimer);
      rejectRun(error);
    });
    // 'close' rather than 'exit': every stdout line has been read by then.
    child.once('close', (exitCode, signal) => {
      clearInterval(pollTimer);
      resolveRun({ exitCode, signal, wallMs: performance.now() - startedAt, peakRssBytes, cpuSeconds, stdoutLines, stderr });
    });
  });
}

/** User plus system CPU seconds the process has used so far; undefined once it is gone. */
export async function readCpuSeconds(pid: number): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  // The command name (field 2) is in parentheses and may hold spaces; fields are counted after it.
  const fields = stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
  const userTicks = Number(fields?.[11]);
  const systemTicks = Number(fields?.[12]);
  if (!Number.isFinite(userTicks) || !Number.isFinite(systemTicks)) return undefined;
  return (userTicks + systemTicks) / CLOCK_TICKS_PER_SECOND;
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
