import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { collect, spawnFerry, type FerryRun } from '../support/run-ferry.js';

// `ferry ui` as an operator starts it (the built CLI in its own process): its first stdout line is
// the app's URL with the access token.

const START_TIMEOUT_MS = 30_000;

export interface RunningUi {
  child: ChildProcess;
  /** `http://127.0.0.1:PORT/<token>/` */
  url: string;
  stop(): Promise<FerryRun>;
}

export async function startFerryUi(args: readonly string[]): Promise<RunningUi> {
  const child = spawnFerry(['ui', '--no-open', '--port', '0', ...args]);
  const finished = collect(child, 600_000);
  const url = await new Promise<string>((resolveUrl, rejectUrl) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rejectUrl(new Error(`ferry ui printed no URL within ${START_TIMEOUT_MS} ms`));
    }, START_TIMEOUT_MS);
    finished.then((run) => { clearTimeout(timer); rejectUrl(new Error(`ferry ui exited before serving: exit ${String(run.code)}\n${run.stderr}`)); }, rejectUrl);
    if (child.stdout === null) throw new Error('no stdout');
    const reader = createInterface({ input: child.stdout });
    reader.once('line', (line) => {
      clearTimeout(timer);
      reader.close();
      resolveUrl(line.trim());
    });
  });
  return { child, url, stop: () => { child.kill('SIGTERM'); return finished; } };
}
