import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../support/run-ferry.js';
import { median, note, type BenchmarkResult, type SummaryRow } from './report.js';

// Start-up of the CLI (issue 11 §2): `ferry --version` and `ferry help` against `node -e 0`, the
// cost of starting Node itself, measured alternately in the same run. Target: under 150 ms.

const TARGET_MS = 150;
const RUNS = 15;

interface StartupDetails {
  runs: number;
  /** Median wall time of each command, ms. */
  medians: Record<string, number>;
}

function wallMs(args: readonly string[]): number {
  const started = performance.now();
  const run = spawnSync(process.execPath, args, { stdio: 'ignore', env: { ...process.env, COLUMNS: '80' } });
  if (run.status !== 0) throw new Error(`node ${args.join(' ')} exited with ${run.status}`);
  return performance.now() - started;
}

export function runStartupBenchmark(): BenchmarkResult<StartupDetails> {
  const ferry = join(repoRoot, 'bin/ferry.js');
  const commands: Record<string, string[]> = { 'node -e 0': ['-e', '0'], 'ferry --version': [ferry, '--version'], 'ferry help': [ferry, 'help'] };
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(commands).map((name) => [name, []]));
  // One warm-up of each (file cache), then the runs interleaved so that load on the machine hits all alike.
  for (const args of Object.values(commands)) wallMs(args);
  for (let round = 0; round < RUNS; round += 1) {
    for (const [name, args] of Object.entries(commands)) samples[name]?.push(wallMs(args));
  }
  const medians = Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, median(values)]));
  const baseline = medians['node -e 0'] ?? 0;
  note(`startup: medians of ${RUNS} runs: ${Object.entries(medians).map(([name, ms]) => `${name} ${ms.toFixed(1)} ms`).join(', ')}`);
  const rows: SummaryRow[] = ['ferry --version', 'ferry help'].map((name) => {
    const measured = medians[name] ?? 0;
    return {
      benchmark: `startup: ${name}`,
      measured: { value: measured, unit: 'ms' },
      baseline: { label: 'node -e 0', quantity: { value: baseline, unit: 'ms' } },
      ratio: baseline === 0 ? undefined : measured / baseline,
      target: `< ${TARGET_MS} ms`,
      met: measured < TARGET_MS,
    };
  });
  return { rows, details: { runs: RUNS, medians } };
}
