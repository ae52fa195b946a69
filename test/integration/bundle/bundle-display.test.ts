import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountFat32, mountForTest, unmountDisk, type MountedDisk } from '../../support/fuse-disks.js';
import { repoRoot, runFerry } from '../../support/run-ferry.js';
import { generateStream, type GeneratedStream } from '../../support/stream-generator.js';
import { KIB, describeRun, makeKey, makeWorkDir, nobleShape, removeQuietly, type TestKey } from '../mirror/helpers.js';

// How export, verify and import show a running job (issue 9 §5), as mirror does: a redrawn display
// on a terminal (a real pseudo-terminal from util-linux `script`), plain progress lines with
// --progress, and one JSON event per line with --json, the result last.

const execFileAsync = promisify(execFile);
/** The escape character that starts ANSI control sequences. */
const ESC = String.fromCharCode(0x1b);

let workDir: string;
let testKey: TestKey;
let stream: GeneratedStream;
let usb: string;
const disks: MountedDisk[] = [];

beforeAll(async () => {
  workDir = await makeWorkDir('bundle-display');
  testKey = await makeKey(workDir, 'Display test');
  const sizes = { squashfs: 512 * KIB, 'boot-initrd': 64 * KIB, 'boot-kernel': 16 * KIB, manifest: 1 * KIB };
  stream = await generateStream(join(workDir, 'stream'), { ...nobleShape(['amd64'], sizes), signingKey: testKey.key });
  usb = join(workDir, 'usb');
  await mkdir(usb);
  await mkdir(join(workDir, 'usb-terminal'));
  const exported = await runFerry(['export', '--progress', '--to', usb, '--tree', stream.baseDir, '--keyring', testKey.keyringFile]);
  expect(exported.code, describeRun(exported)).toBe(0);
  // Plain lines for export too: the copy's and the read-back's last line says 100%.
  expect(exported.stderr.split('\n').filter((line) => /^100% .* files \d+\/\d+, /.test(line)).length).toBeGreaterThanOrEqual(2);
});

afterAll(async () => {
  for (const disk of disks) await unmountDisk(disk);
  await removeQuietly(workDir);
});

/**
 * The CLI on a pseudo-terminal 100 columns by 40 rows: stdout and stderr are the terminal, as for
 * an operator. The rows matter: script's pty has none unless set, and log-update draws nothing there.
 */
async function onTerminal(args: readonly string[]): Promise<string> {
  const quoted = [process.execPath, join(repoRoot, 'bin/ferry.js'), ...args].map((word) => `'${word.replace(/'/g, "'\\''")}'`).join(' ');
  const { stdout } = await execFileAsync('script', ['-qefc', `stty cols 100 rows 40; exec ${quoted}`, '/dev/null'], { cwd: workDir, timeout: 60_000, env: { ...process.env, TERM: 'xterm' } });
  return stdout;
}

describe('the job display of verify and import', () => {
  it('prints plain progress lines with --progress when stderr is not a terminal', async () => {
    for (const args of [['verify', usb], ['import', usb, '--into', join(workDir, 'lines')]]) {
      const run = await runFerry([...args, '--progress', '--keyring', testKey.keyringFile]);
      expect(run.code, describeRun(run)).toBe(0);
      expect(run.stderr, args[0]).toMatch(/^100% .* files \d+\/\d+, .*\/s, ETA/m);
    }
  });

  it('prints one JSON event per line with --json: loaded first, the re-hashing or copying as progress, the result last', async () => {
    for (const [args, step] of [
      [['verify', usb], 'verify-existing'],
      [['import', usb, '--into', join(workDir, 'json')], 'place'],
    ] as const) {
      const run = await runFerry([...args, '--json', '--keyring', testKey.keyringFile]);
      expect(run.code, describeRun(run)).toBe(0);
      const events = run.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as { type: string; exitCode?: number; progress?: { step: string } });
      expect(events[0]?.type).toBe('loaded');
      expect(events.some((event) => event.type === 'progress' && event.progress?.step === step), step).toBe(true);
      expect(events.at(-1)).toMatchObject({ type: 'result', exitCode: 0 });
    }
  });

  it('draws and clears a live display on a terminal for export, verify and import', async () => {
    const runs = {
      export: await onTerminal(['export', '--to', join(workDir, 'usb-terminal'), '--tree', stream.baseDir, '--keyring', testKey.keyringFile]),
      verify: await onTerminal(['verify', usb, '--keyring', testKey.keyringFile]),
      import: await onTerminal(['import', usb, '--into', join(workDir, 'terminal'), '--keyring', testKey.keyringFile]),
    };
    // Each draws its bar (at least the last frame, at 100%: trees this small end before the first
    // redraw; the test below sees one part way), and no progress line is left on the screen.
    for (const [command, output] of Object.entries(runs)) {
      expect(output, command).toMatch(/\[#+\.*\] \d+% /);
      const lastFrame = output.split(`${ESC}[`).at(-1) ?? '';
      expect(lastFrame, command).not.toMatch(/\[#+\.*\] \d+% /);
    }
    expect(runs.export).toContain('Verdict: ');
    expect(runs.verify).toContain('Complete: yes. Valid: yes.');
    expect(runs.import).toContain('Metadata written:');
  });

  it('shows the bar while an export runs, before its end: written with fsync to a real drive and read back around the page cache', async (context) => {
    // About 20 MiB to a FAT32 drive through FUSE (fusefat: a few MiB/s): many times the 200 ms
    // between two frames of the display. A loop-mounted ext4 takes it in the kernel's copy faster
    // than one frame.
    const sizes = { squashfs: 8 * 1024 * KIB, 'boot-initrd': 1024 * KIB, 'boot-kernel': 512 * KIB, manifest: 1 * KIB };
    const large = await generateStream(join(workDir, 'large'), { ...nobleShape(['amd64', 'arm64'], sizes), signingKey: testKey.key });
    const drive = await mountForTest(disks, (dir, name) => mountFat32(dir, name, 48), workDir, 'drive', context);
    const output = await onTerminal(['export', '--to', drive, '--tree', large.baseDir, '--keyring', testKey.keyringFile, '--no-eject']);
    const percents = [...output.matchAll(/\[[#.]+\] (\d+)% /g)].map((match) => Number(match[1]));
    // A frame part way through the copy or the read-back, not only the last one at 100%.
    expect(percents.some((percent) => percent < 100), output).toBe(true);
    expect(output).toContain('Verified: ');
    const lastFrame = output.split(`${ESC}[`).at(-1) ?? '';
    expect(lastFrame).not.toMatch(/\[#+\.*\] \d+% /);
  });
});
