import { formatTable } from '../../src-main/cli/output.js';
import { spawnFerry } from '../support/run-ferry.js';
import type { Cleanup } from './cleanup.js';
import type { CompletedMirror } from './download.js';
import { describeFailedRun, jsonLines, measureProcess } from './measure-process.js';
import { median, printSection, type BenchmarkResult } from './report.js';

// Product target: "a re-run with nothing new finishes in seconds, without re-reading data files".
// The same `ferry mirror` command again on the mirror the download benchmark completed. The server
// is another process, so the item bytes come from ferry's own result (filesFetched, bytesFetched).

const RERUNS = 3;
/** "Seconds": a rerun that takes longer than this is re-reading data, not checking the catalog. */
const RERUN_TARGET_MS = 10_000;

export interface RerunDetails {
  runs: Array<{ commandMs: number; filesFetched: number; bytesFetched: number; filesPresent: number; peakRssBytes: number | undefined }>;
  medianCommandMs: number;
  fullRunCommandMs: number;
  targetMs: number;
}

export async function runRerunBenchmark(mirror: CompletedMirror, cleanup: Cleanup): Promise<BenchmarkResult<RerunDetails>> {
  const runs: RerunDetails['runs'] = [];
  for (let attempt = 0; attempt < RERUNS; attempt += 1) {
    const run = await measureProcess(cleanup.track(spawnFerry(['mirror', '--json', '--keyring', mirror.keyringPath, mirror.sourceUrl, mirror.target])));
    if (run.exitCode !== 0) throw describeFailedRun('ferry mirror (rerun)', run);
    const result = jsonLines(run.stdoutLines).find((event) => event.value['type'] === 'result')?.value;
    if (result === undefined) throw describeFailedRun('ferry mirror (rerun, no result)', run);
    runs.push({
      commandMs: run.wallMs,
      filesFetched: Number(result['filesFetched']),
      bytesFetched: Number(result['bytesFetched']),
      filesPresent: Number(result['filesPresent']),
      peakRssBytes: run.peakRssBytes,
    });
  }
  const medianCommandMs = median(runs.map((run) => run.commandMs));
  const bytesFetched = Math.max(...runs.map((run) => run.bytesFetched));
  const ratio = medianCommandMs / mirror.fullRunCommandMs;
  printSection(
    `rerun: the same ferry mirror on the completed mirror, ${RERUNS} times`,
    formatTable(
      ['run', 'whole command', 'files fetched', 'item bytes fetched', 'files present'],
      [
        ...runs.map((run, index) => [String(index + 1), `${(run.commandMs / 1000).toFixed(2)} s`, String(run.filesFetched), String(run.bytesFetched), String(run.filesPresent)]),
        ['full run (baseline)', `${(mirror.fullRunCommandMs / 1000).toFixed(2)} s`, '', '', ''],
      ],
      new Set([1, 2, 3, 4]),
    ) +
      `median rerun / full run: ${ratio.toFixed(3)}\n` +
      `target: rerun under ${RERUN_TARGET_MS / 1000} s: ${medianCommandMs < RERUN_TARGET_MS ? 'met' : 'NOT met'}; item bytes fetched 0: ${bytesFetched === 0 ? 'met' : 'NOT met'}\n`,
  );
  return {
    rows: [
      {
        benchmark: 'rerun, nothing new',
        measured: { value: medianCommandMs / 1000, unit: 's' },
        baseline: { label: 'full run', quantity: { value: mirror.fullRunCommandMs / 1000, unit: 's' } },
        ratio,
        target: `< ${RERUN_TARGET_MS / 1000} s`,
        met: medianCommandMs < RERUN_TARGET_MS,
      },
      {
        benchmark: 'rerun item bytes fetched',
        measured: { value: bytesFetched, unit: 'bytes' },
        target: '0',
        met: bytesFetched === 0,
      },
    ],
    details: { runs, medianCommandMs, fullRunCommandMs: mirror.fullRunCommandMs, targetMs: RERUN_TARGET_MS },
  };
}
