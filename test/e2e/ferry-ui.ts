import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { findRepoRoot } from '../support/repo-root.js';

// `ferry ui` as an operator starts it (the built CLI in its own process): its first stdout line is
// the app's URL with the access token. Self-contained (no run-ferry.ts, which loads the engine)
// because the renderer tests use it from jsdom, where openpgp cannot load.

const START_TIMEOUT_MS = 30_000;
const REPO_ROOT = findRepoRoot(import.meta.dirname);

export interface RunningUi {
  child: ChildProcess;
  /** `http://127.0.0.1:PORT/<token>/` */
  url: string;
  /** SIGTERM (running jobs pause), then the exit code. */
  stop(): Promise<number | null>;
}

export async function startFerryUi(args: readonly string[]): Promise<RunningUi> {
  if (!existsSync(join(REPO_ROOT, 'dist/src-main/cli/main.js'))) throw new Error('The CLI is not built: run `npm run build` (npm test does it first).');
  // Proxy variables of the machine must not redirect loopback test traffic.
  const env = { ...process.env, HTTP_PROXY: '', HTTPS_PROXY: '', http_proxy: '', https_proxy: '' };
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/ferry.js'), 'ui', '--no-open', ...(args.includes('--port') ? [] : ['--port', '0']), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'exit') as Promise<[number | null]>;
  const lines = createInterface({ input: child.stdout });
  let timer: NodeJS.Timeout | undefined;
  const url = await Promise.race([
    once(lines, 'line').then(([line]) => String(line).trim()),
    exited.then(([code]) => { throw new Error(`ferry ui exited before serving: exit ${String(code)}\n${stderr}`); }),
    new Promise<never>((_, reject) => { timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`ferry ui printed no URL within ${START_TIMEOUT_MS} ms`)); }, START_TIMEOUT_MS); }),
  ]).finally(() => { clearTimeout(timer); });
  child.stdout.resume();
  return { child, url, stop: async () => { child.kill('SIGTERM'); return (await exited)[0]; } };
}
