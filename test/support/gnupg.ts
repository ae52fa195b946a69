// Debian's GnuPG as the judge of signatures in tests. Both tools are a CI requirement (.ci/run
// installs them), so a missing binary fails the test with the fix instead of skipping it.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ToolRun {
  /** Exit status; gpgv's is its verdict (0 good, 1 bad signature, 2 anything else it cannot accept). */
  status: number;
  stderr: string;
}

/** Runs a GnuPG tool with no agent, no config and no network, in a temporary home. */
export function runGnupgTool(tool: 'gpg' | 'gpgv', args: readonly string[], homedir: string): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    // gpgv knows neither --batch nor --no-tty: it never prompts.
    const common = tool === 'gpg' ? ['--homedir', homedir, '--batch', '--no-tty'] : ['--homedir', homedir];
    execFile(tool, [...common, ...args], { env: { ...process.env, LC_ALL: 'C' } }, (error, _stdout, stderr) => {
      if (error !== null && typeof error.code !== 'number') {
        reject(new Error(`${tool} could not be run (${error.message}); install it with \`apt-get install -y gpgv gpg\`, as .ci/run does`));
        return;
      }
      resolve({ status: error === null ? 0 : Number(error.code), stderr });
    });
  });
}

/** A temporary GnuPG home, removed by the returned cleanup. */
export async function makeGnupgHome(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-gnupg-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** `gpg --import` of the given binary keys into a fresh home; returns the `pubring.kbx` GnuPG wrote. */
export async function keyboxOf(keys: readonly Uint8Array[]): Promise<Uint8Array> {
  const home = await makeGnupgHome();
  try {
    const keyFile = join(home.dir, 'import.gpg');
    await writeFile(keyFile, Buffer.concat(keys));
    const run = await runGnupgTool('gpg', ['--quiet', '--import', keyFile], home.dir);
    if (run.status !== 0) throw new Error(`gpg --import failed (${run.status}): ${run.stderr}`);
    return await readFile(join(home.dir, 'pubring.kbx'));
  } finally {
    await home.cleanup();
  }
}
