import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { mountSmallExt4, requireMount, unmount, type Mounted } from '../../support/loop-disk.js';
import { collect, repoRoot, runFerry, spawnFerry, type FerryRun } from '../../support/run-ferry.js';
import { createEngine, isFerryError, type JobEvent } from '../../../src-main/engine/index.js';
import { generateStream, type GeneratedStream } from '../../support/stream-generator.js';
import { ELEVEN_MIB_SIZES, describeRun, makeKey, makeWorkDir, nobleShape, removeQuietly, sha256OfFile, walkFiles, type TestKey } from '../mirror/helpers.js';
import { bundleDirs, expectCompleteVolume, expectOk } from './helpers.js';
import type { BundleManifest } from '../../../src-main/media/bundle/manifest.js';

// Issue 9 §2 "one drive after another": an export larger than the first drive goes on several
// drives in turn, volume 1 filling the first (its free space less the margin). Two real file
// systems of different free space (loop-mounted ext4, 10 MiB and 16 MiB) and an export of about
// 11 MiB that does not fit the first: named together (--to A --to B), asked for on a terminal
// (a real pseudo-terminal from util-linux `script`, answered as an operator would type), refused
// without a terminal before anything is written; an interrupted run continued. Each result is
// checked volume by volume (ferry verify) and imported in reverse order.

const execFileAsync = promisify(execFile);
let workDir: string;
let testKey: TestKey;
/** About 11 MiB: more than the 10 MiB drive holds, less than the 16 MiB one. */
let stream: GeneratedStream;
const loops: Mounted[] = [];
const children: ChildProcess[] = [];

const TIMEOUT_MS = 180_000;
const ferry = (args: readonly string[]): Promise<FerryRun> => runFerry(args, { timeoutMs: TIMEOUT_MS });
const exportArgs = (...targets: string[]): string[] => ['export', ...targets.flatMap((target) => ['--to', target]), '--tree', stream.baseDir, '--keyring', testKey.keyringFile, '--no-eject'];

beforeAll(async () => {
  workDir = await makeWorkDir('export-drives');
  testKey = await makeKey(workDir, 'Drive after drive test');
  stream = await generateStream(join(workDir, 'stream'), { ...nobleShape(['amd64', 'arm64'], ELEVEN_MIB_SIZES), signingKey: testKey.key });
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const mounted of loops) await unmount(mounted);
  await removeQuietly(workDir);
});

async function drive(name: string, sizeMiB: number, context: TestContext): Promise<string> {
  const mounted = await mountSmallExt4(workDir, name, sizeMiB);
  loops.push(mounted);
  return requireMount(mounted, context);
}

/**
 * Both volumes complete, one per drive, of the same bundle: each verifies alone as a valid but
 * incomplete volume, both together (in reverse order) as the bundle; imported in reverse order
 * they give a tree that ferry mirror reads back, checking every signature and hash.
 */
async function expectTwoDriveBundle(first: string, second: string, label: string): Promise<BundleManifest[]> {
  const [one] = await bundleDirs(first);
  const [two] = await bundleDirs(second);
  if (one === undefined || two === undefined) throw new Error(`${label}: one volume on each drive`);
  const manifests = [await expectCompleteVolume(one), await expectCompleteVolume(two)];
  expect(manifests.map((manifest) => manifest.volume)).toEqual([
    { index: 1, count: 2 },
    { index: 2, count: 2 },
  ]);
  expect(manifests[0]?.id).toBe(manifests[1]?.id);
  // Each volume's README.txt says to verify and import every volume: one alone is incomplete.
  for (const dir of [one, two]) {
    const readme = await readFile(join(dir, 'README.txt'), 'utf8');
    expect(readme).toContain('ferry verify VOLUME1 VOLUME2   (every volume');
    expect(readme).toContain('ferry import VOLUME1 VOLUME2 --into TARGET_DIR');
    expect(readme).not.toContain('ferry verify .');
  }
  expectOk(await ferry(['verify', two, one, '--keyring', testKey.keyringFile]));
  for (const dir of [one, two]) {
    const alone = await ferry(['verify', dir, '--keyring', testKey.keyringFile]);
    // Alone, a volume is valid but incomplete: exit 1 names what the other volume holds.
    expect(alone.code, describeRun(alone)).toBe(1);
    expect(alone.stdout + alone.stderr).toMatch(/volume/i);
  }
  const target = join(workDir, `imported-${label}`);
  expectOk(await ferry(['import', two, one, '--into', target, '--keyring', testKey.keyringFile]));
  // By sha256 (the bundle lists the source tree's): a deep compare of megabyte Buffers takes minutes.
  for (const file of manifests[0]?.files ?? []) expect(await sha256OfFile(join(target, file.path)), file.path).toBe(await sha256OfFile(join(stream.baseDir, file.path)));
  // The imported tree is a mirror tree ferry verify... of a bundle does not judge: ferry mirror does, from it, checking every signature and hash.
  const again = join(workDir, `mirrored-${label}`);
  expectOk(await ferry(['mirror', '--keyring', testKey.keyringFile, target, again]));
  return manifests;
}

/** The CLI on a pseudo-terminal (util-linux `script`), its screen collected, its keyboard `type`. */
function onTerminal(args: readonly string[]): { child: ChildProcess; screen: () => string; type: (line: string) => void; ended: Promise<number | null> } {
  const quoted = [process.execPath, join(repoRoot, 'bin/ferry.js'), ...args].map((word) => `'${word.replace(/'/g, "'\\''")}'`).join(' ');
  const child = spawn('script', ['-qefc', `stty cols 200 rows 40; exec ${quoted}`, '/dev/null'], { cwd: workDir, env: { ...process.env, TERM: 'xterm' }, stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let screen = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (screen += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (screen += chunk));
  const ended = new Promise<number | null>((resolve) => {
    child.on('close', (code) => {
      resolve(code);
    });
  });
  const type = (line: string): void => {
    child.stdin.write(`${line}\n`);
  };
  return { child, screen: () => screen, type, ended };
}

/** Waits until the screen has `count` questions for a drive. */
async function waitForPrompt(terminal: ReturnType<typeof onTerminal>, count: number): Promise<void> {
  const started = Date.now();
  while ((terminal.screen().match(/insert the next drive and type the folder/g) ?? []).length < count) {
    if (terminal.child.exitCode !== null || Date.now() - started > TIMEOUT_MS) throw new Error(`no question for drive ${count}:\n${terminal.screen()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('one drive after another', () => {
  it('--to A --to B: volume 1 fills A, volume 2 goes to B; each verifies; imported in reverse order', async (context) => {
    const a = await drive('named-a', 10, context);
    const b = await drive('named-b', 16, context);
    const run = expectOk(await ferry(exportArgs(a, b)));
    expect(run.stderr).toMatch(/2 volume\(s\)/);
    await expectTwoDriveBundle(a, b, 'named');
    // Both folders on stdout, volume 1 first.
    expect(run.stdout.trimEnd().split('\n').slice(-2)).toEqual([...(await bundleDirs(a)), ...(await bundleDirs(b))]);
  }, TIMEOUT_MS * 2);

  it('refuses without a terminal and without enough --to before writing anything, naming the drives needed', async (context) => {
    const a = await drive('refused-a', 10, context);
    const before = await walkFiles(a, { includeState: true });
    const run = await ferry(exportArgs(a));
    expect(run.code, describeRun(run)).toBe(1);
    expect(run.stderr).toContain('FERRY_NOT_ENOUGH_SPACE');
    expect(run.stderr).toMatch(/it takes 2 drives, one volume each, and 1 was given; 1 more drive\(s\) are needed, with free space for volume 2 \d+\.\d [KM]iB\. Nothing was written/);
    // The exact count of bytes is a fact of the error.
    expect(run.stderr).toMatch(/expected: 2 drives; free space for volume 2 \d+ bytes/);
    expect(run.stderr).toContain('hint: Give --to once for each drive');
    expect(await walkFiles(a, { includeState: true })).toEqual(before);
  });

  it('refuses a drive mounted twice (a bind mount) as a second --to before writing anything, without the layout hint', async (context) => {
    const a = await drive('twice-a', 10, context);
    const b = await drive('twice-b', 16, context);
    const again = join(workDir, 'twice-a-again');
    await mkdir(again);
    try {
      await execFileAsync('mount', ['--bind', a, again]);
    } catch (error) {
      context.skip(`cannot bind-mount: ${error instanceof Error ? error.message : String(error)}`);
    }
    // Unmounted first (afterAll unmounts in order): the bind mount, then the loop mount under it.
    loops.unshift({ ok: true, mountPoint: again });
    const before = await walkFiles(a, { includeState: true });
    const run = await ferry(exportArgs(a, again, b));
    expect(run.code, describeRun(run)).not.toBe(0);
    expect(run.stderr).toContain('FERRY_TARGET_UNFIT');
    expect(run.stderr).toContain(`${a} and ${again} are on the same file system (one drive mounted at both ${a} and ${again})`);
    expect(run.stderr).not.toContain('--layout bundle');
    expect(await walkFiles(a, { includeState: true })).toEqual(before);
    expect(await readdir(b)).toEqual(['lost+found']);
  });

  it('on a terminal asks for the next drive, refuses the same drive with the reason, and continues on the one named', async (context) => {
    const a = await drive('asked-a', 10, context);
    const b = await drive('asked-b', 16, context);
    const terminal = onTerminal(exportArgs(a));
    await waitForPrompt(terminal, 1);
    // The verdict comes before anything is written (it was printed only at the end).
    const verdictAt = terminal.screen().search(/Verdict: .*2 volume\(s\)/);
    expect(verdictAt, terminal.screen()).toBeGreaterThanOrEqual(0);
    expect(verdictAt).toBeLessThan(terminal.screen().indexOf('Volume 1 of 2 written and verified'));
    expect(terminal.screen()).toMatch(/Volume 1 of 2 written and verified: .*asked-a\/FERRY\//);
    expect(terminal.screen()).toMatch(/Volume 2 of 2 needs [\d.]+ [KMG]i?B: insert the next drive/);
    // The progress bar stays off the prompt while it waits (it drew "69% 22.1 MiB of ..." onto it): still the last thing on the screen a while later.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(terminal.screen().trimEnd()).toMatch(/\(or Ctrl-C to stop; a rerun continues\):$/);
    terminal.type(a);
    await waitForPrompt(terminal, 2);
    expect(terminal.screen()).toMatch(/That folder cannot take volume 2: .*same file system/);
    terminal.type(b);
    const code = await terminal.ended;
    expect(code, terminal.screen()).toBe(0);
    // Nothing of the bar on a prompt's line: each prompt is followed by the answer typed.
    for (const line of terminal.screen().split(/\r?\n/).filter((text) => text.includes('a rerun continues):'))) expect(line).toMatch(/a rerun continues\): \S*$/);
    await expectTwoDriveBundle(a, b, 'asked');
  }, TIMEOUT_MS * 2);

  it('a run killed while it waits for the next drive keeps volume 1: a rerun with both drives writes only volume 2', async (context) => {
    const a = await drive('killed-a', 10, context);
    const b = await drive('killed-b', 16, context);
    const terminal = onTerminal(exportArgs(a));
    await waitForPrompt(terminal, 1);
    const scriptPid = terminal.child.pid ?? 0;
    // The ferry process is script's child: kill -9 it, as a power cut would.
    const ferryPid = Number((await readFile(`/proc/${scriptPid}/task/${scriptPid}/children`, 'utf8')).trim().split(/\s+/)[0]);
    process.kill(ferryPid, 'SIGKILL');
    await terminal.ended;
    const [volumeOne] = await bundleDirs(a);
    const first = await expectCompleteVolume(volumeOne ?? '');
    expect(await readdir(join(b))).toEqual(['lost+found']);

    const rerun = expectOk(await ferry(exportArgs(a, b)));
    // Volume 1 is not written again: only volume 2's directory is reported, of the same bundle.
    const [volumeTwo] = await bundleDirs(b);
    expect(rerun.stdout.trimEnd().split('\n').at(-1)).toBe(volumeTwo);
    expect(rerun.stderr).toMatch(/Written: \d+ file\(s\)/);
    const manifests = await expectTwoDriveBundle(a, b, 'killed');
    expect(manifests[0]?.created).toBe(first.created);
    expect(await bundleDirs(a)).toEqual([volumeOne]);
  }, TIMEOUT_MS * 2);

  it('a run killed while it writes volume 2 keeps volume 1: a rerun given only the second drive continues volume 2 there', async (context) => {
    const a = await drive('cut-a', 10, context);
    const b = await drive('cut-b', 16, context);
    const child = spawnFerry(exportArgs(a, b));
    children.push(child);
    const running = collect(child, TIMEOUT_MS);
    // Killed once volume 2's directory has its plan marker: its blobs are being written.
    const started = Date.now();
    let marker: string | undefined;
    while (marker === undefined && child.exitCode === null && Date.now() - started < TIMEOUT_MS) {
      const [dir] = await bundleDirs(b);
      if (dir !== undefined && existsSync(join(dir, 'export-plan.json'))) marker = dir;
      else await new Promise((resolve) => setTimeout(resolve, 5));
    }
    child.kill('SIGKILL');
    const killed = await running;
    if (marker === undefined || killed.signal !== 'SIGKILL') context.skip(`the export ended before volume 2 could be interrupted (${describeRun(killed)})`);
    const [volumeOne] = await bundleDirs(a);
    const first = await expectCompleteVolume(volumeOne ?? '');
    expect(first.volume).toEqual({ index: 1, count: 2 });
    expect(existsSync(join(marker ?? '', 'bundle.json'))).toBe(false);

    const rerun = expectOk(await ferry(exportArgs(b)));
    expect(rerun.stdout.trimEnd().split('\n').at(-1)).toBe(marker);
    expect(await bundleDirs(b)).toEqual([marker]);
    await expectTwoDriveBundle(a, b, 'cut');
  }, TIMEOUT_MS * 2);

  it('the engine: the wait is an event, answered by provideTarget only while it waits, and cancel ends it keeping volume 1', async (context) => {
    const a = await drive('engine-a', 10, context);
    const engine = createEngine({ cwd: workDir });
    const job = engine.startJob('export', { to: a, tree: stream.baseDir, keyringFiles: [testKey.keyringFile], askForTargets: true, eject: false });
    let thrown: unknown;
    try {
      job.provideTarget(a);
    } catch (error) {
      thrown = error;
    }
    expect(isFerryError(thrown, 'FERRY_INPUT_INVALID')).toBe(true);
    const asked = new Promise<JobEvent>((resolve) => {
      job.subscribe((event) => {
        if (event.type === 'target-needed') resolve(event);
      });
    });
    const event = await asked;
    expect(event).toMatchObject({ type: 'target-needed', jobId: job.id, volume: 2, volumes: 2, problem: null });
    const [volumeOne] = await bundleDirs(a);
    expect(event.type === 'target-needed' ? event.done : []).toEqual([{ volume: 1, directory: volumeOne }]);
    expect(job.status().state).toBe('running');
    job.cancel();
    await expect(job.result).rejects.toMatchObject({ code: 'FERRY_CANCELLED' });
    expect(job.status().state).toBe('cancelled');
    await expectCompleteVolume(volumeOne ?? '');
  }, TIMEOUT_MS);
});
