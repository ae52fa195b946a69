import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { formatTable } from '../../src-main/cli/output.js';
import { spawnFerry } from '../support/run-ferry.js';
import type { BenchStream, ServerProcess } from './bench-stream.js';
import type { Cleanup } from './cleanup.js';
import { describeFailedRun, jsonLines, measureProcess } from './measure-process.js';
import { median, printSection, type BenchmarkResult } from './report.js';

// Product target: "a re-run with nothing new finishes in seconds, without re-reading data files".
// One full `ferry mirror` (the baseline), then the same command again on the mirror it completed.
// The server is another process, so the item bytes come from ferry's own result.

const RERUNS = 3;
/** "Seconds": a rerun that takes longer than this is re-reading data, not checking the catalog. */
const RERUN_TARGET_MS = 10_000;

export interface RerunContext {
  stream: BenchStream;
  server: ServerProcess;
  workDir: string;
  cleanup: Cleanup;
}

interface FerryOutcome {
  commandMs: number;
  filesFetched: number;
  bytesFetched: number;
  filesPresent: number;
}

export interface RerunDetails {
  fullRun: FerryOutcome;
  reruns: FerryOutcome[];
  medianRerunMs: number;
  targetMs: number;
}

export async function runRerunBenchmark(context: RerunContext): Promise<BenchmarkResult<RerunDetails>> {
  const target = join(context.workDir, 'rerun');
  try {
    const fullRun = await mirrorOnce(context, target);
    if (fullRun.bytesFetched !== context.stream.totalBytes) {
      throw new Error(`the full run fetched ${fullRun.bytesFetched} bytes, not the stream's ${context.stream.totalBytes}`);
    }
    const reruns: FerryOutcome[] = [];
    for (let attempt = 0; attempt < RERUNS; attempt += 1) reruns.push(await mirrorOnce(context, target));
    return report(fullRun, reruns);
  } finally {
    await rm(target, { recursive: true, force: true });
  }
}

async function mirrorOnce(context: RerunContext, target: string): Promise<FerryOutcome> {
  const sourceUrl = `${context.server.url}${context.stream.indexPath}`;
  const run = await measureProcess(context.cleanup.track(spawnFerry(['mirror', '--json', '--keyring', context.stream.keyringPath, sourceUrl, target])));
  if (run.exitCode !== 0) throw describeFailedRun('ferry mirror', run);
  const result = jsonLines(run.stdoutLines).find((event) => event.value['type'] === 'result')?.value;
  if (result === undefined) throw describeFailedRun('ferry mirror (no result)', run);
  return {
    commandMs: run.wallMs,
    filesFetched: Number(result['filesFetched']),
    bytesFetched: Number(result['bytesFetched']),
    filesPresent: Number(result['filesPresent']),
  };
}

function report(fullRun: FerryOutcome, reruns: readonly FerryOutcome[]): BenchmarkResult<RerunDetails> {
  const medianRerunMs = median(reruns.map((run) => run.commandMs));
  const bytesFetched = Math.max(...reruns.map((run) => run.bytesFetched));
  const ratio = medianRerunMs / fullRun.commandMs;
  const row = (label: string, run: FerryOutcome): string[] => [
    label,
    `${(run.commandMs / 1000).toFixed(2)} s`,
    String(run.filesFetched),
    String(run.bytesFetched),
    String(run.filesPresent),
  ];
  printSection(
    `rerun: ferry mirror once in full, then ${RERUNS} times more with nothing new`,
    formatTable(
      ['run', 'whole command', 'files fetched', 'item bytes fetched', 'files present'],
      [row('full run (baseline)', fullRun), ...reruns.map((run, index) => row(`rerun ${index + 1}`, run))],
      new Set([1, 2, 3, 4]),
    ) +
      `median rerun / full run: ${ratio.toFixed(3)}\n` +
      `target: rerun under ${RERUN_TARGET_MS / 1000} s: ${medianRerunMs < RERUN_TARGET_MS ? 'met' : 'NOT met'}; item bytes fetched 0: ${bytesFetched === 0 ? 'met' : 'NOT met'}\n`,
  );
  return {
    rows: [
      {
        benchmark: 'rerun, nothing new',
        measured: { value: medianRerunMs / 1000, unit: 's' },
        baseline: { label: 'full run', quantity: { value: fullRun.commandMs / 1000, unit: 's' } },
        ratio,
        target: `< ${RERUN_TARGET_MS / 1000} s`,
        met: medianRerunMs < RERUN_TARGET_MS,
      },
      {
        benchmark: 'rerun item bytes fetched',
        measured: { value: bytesFetched, unit: 'bytes' },
        target: '0',
        met: bytesFetched === 0,
      },
    ],
    details: { fullRun, reruns: [...reruns], medianRerunMs, targetMs: RERUN_TARGET_MS },
  };
}
