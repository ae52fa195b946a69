import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { recordFerryRun } from './published-state.js';
import { findRepoRoot } from './repo-root.js';

/** The checkout's root, found from test/support/ under vitest and from dist/test/support/ once built (the bench). */
export const repoRoot = findRepoRoot(import.meta.dirname);
const ferryBin = join(repoRoot, 'bin/ferry.js');

export interface FerryRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface FerryRunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
}

/** Starts the built CLI as a real child process, as an operator would run it. */
export function spawnFerry(args: readonly string[], options: FerryRunOptions = {}): ChildProcess {
  if (!existsSync(join(repoRoot, 'dist/src-main/cli/main.js'))) {
    throw new Error('The CLI is not built: run `npm run build` (npm test does it first).');
  }
  // Proxy variables of the machine must not redirect loopback test traffic.
  const env: NodeJS.ProcessEnv = { ...process.env, HTTP_PROXY: '', HTTPS_PROXY: '', http_proxy: '', https_proxy: '', ...options.env };
  // So that an afterEach hook can check what each mirror or sync run left published (issue 7 §1).
  recordFerryRun(args, options.cwd ?? repoRoot, env);
  return spawn(process.execPath, [ferryBin, ...args], { cwd: options.cwd ?? repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function collect(child: ChildProcess, timeoutMs = 60_000): Promise<FerryRun> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ferry did not finish within ${timeoutMs} ms.\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export function runFerry(args: readonly string[], options: FerryRunOptions = {}): Promise<FerryRun> {
  return collect(spawnFerry(args, options), options.timeoutMs);
}
