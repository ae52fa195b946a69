import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureServer, type FixtureServer } from '../../support/fixture-server.js';
import { collect, repoRoot, runFerry } from '../../support/run-ferry.js';
import { generateStream, type GeneratedStream } from '../../support/stream-generator.js';
import { playTerminal, writtenLines } from '../../support/terminal-screen.js';
import { makeKey, makeWorkDir, productsFilesOf, type ProductsJson } from '../mirror/helpers.js';

// What the operator sees (issue 11 §2): the live display in a real pseudo-terminal (script(1)) at
// 80 columns and across a resize, plain lines for TERM=dumb and off a terminal, --quiet, --json
// fatal errors, and the MAAS commands after a mirror. The CLI runs as a subprocess.

let workDir: string;
let keyringFile: string;
let stream: GeneratedStream;
let server: FixtureServer;
let source: string;
let totalProducts: number;
let runs = 0;

const ESCAPE = '\u001b';

beforeAll(async () => {
  workDir = await makeWorkDir('operator');
  const key = await makeKey(workDir, 'Operator output test');
  keyringFile = key.keyringFile;
  stream = await generateStream(join(workDir, 'stream'), {
    signingKey: key.key,
    releases: ['jammy', 'noble'],
    arches: ['amd64', 'arm64'],
    versions: 1,
    payloadSizes: { squashfs: 256 * 1024 },
  });
  server = await startFixtureServer({ root: stream.baseDir });
  source = `${server.url}${stream.indexPath}`;
  totalProducts = 0;
  for (const [, path] of await productsFilesOf(stream.baseDir)) {
    totalProducts += Object.keys((JSON.parse(await readFile(join(stream.baseDir, path), 'utf8')) as ProductsJson).products).length;
  }
});

afterAll(async () => {
  await server.close();
  await rm(workDir, { recursive: true, force: true });
});

function nextTarget(): string {
  runs += 1;
  return join(workDir, `mirror-${runs}`);
}

/** Slows each squashfs so that the live display draws (and redraws) several frames. */
function slowSquashfs(ms = 1500): void {
  server.resetCounters();
  server.setFaults((request) => (request.path.endsWith('squashfs') && request.attempt === 1 ? { kind: 'stall', afterBytes: 64 * 1024, ms } : undefined));
}

/**
 * Runs `ferry ARGS` in a pseudo-terminal (script(1)) sized `columns` wide; with `resizeTo`, the
 * terminal shrinks to that width two seconds in (while files stall), as a person dragging the window would.
 */
async function inTerminal(
  args: readonly string[],
  columns: number,
  env: NodeJS.ProcessEnv,
  resizeTo?: number,
  interrupt = false,
): Promise<{ code: number | null; output: string }> {
  const ferry = ['node', join(repoRoot, 'bin/ferry.js'), ...args].map((word) => `'${word.replaceAll("'", "'\\''")}'`).join(' ');
  const resize = resizeTo === undefined ? '' : `sleep 2; stty cols ${resizeTo}; kill -WINCH $pid 2>/dev/null; `;
  // As Ctrl-C would: SIGINT to ferry while its display is drawn (script -e passes its status on).
  const stop = interrupt ? 'sleep 2; kill -INT $pid; ' : '';
  const shell = `stty cols ${columns} rows 40; ${ferry} & pid=$!; ${resize}${stop}wait $pid`;
  const child = spawn('script', ['-q', '-e', '-c', shell, '/dev/null'], {
    cwd: repoRoot,
    env: { ...process.env, HTTP_PROXY: '', HTTPS_PROXY: '', http_proxy: '', https_proxy: '', COLUMNS: '', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const run = await collect(child, 60_000);
  return { code: run.code, output: run.stdout };
}

describe('the live display in a terminal', () => {
  it.each([
    { name: '80 columns', columns: 80, resizeTo: undefined },
    { name: 'a resize from 80 to 50 columns', columns: 80, resizeTo: 50 },
  ])('draws within $name and leaves no stale lines', async ({ columns, resizeTo }) => {
    slowSquashfs(resizeTo === undefined ? 1500 : 3500);
    const target = nextTarget();
    const { code, output } = await inTerminal(['mirror', '--keyring', keyringFile, source, target, 'release=noble'], columns, { TERM: 'xterm-256color' }, resizeTo);
    server.setFaults(undefined);
    expect(code).toBe(0);
    // It was live: redrawn with cursor movement, frames with the bar.
    expect(output).toContain(`${ESCAPE}[1A`);
    expect(output).toMatch(/\[#*\.*\]( |\r?\n)\d+% /);
    const screen = playTerminal(output, columns);
    // The grid does not reflow, so lines printed before a resize keep their width there.
    for (const line of screen.lines) expect(line.length, line).toBeLessThanOrEqual(columns);
    // Nothing of the drawing is left once the run ends: no bar, no file-in-flight line.
    expect(screen.lines.filter((line) => /\[[#.]{3,}\]|^\s+\d+%\s/.test(line))).toEqual([]);
    expect(screen.lines).toContain('Metadata written last: 4 file(s).');
    if (resizeTo !== undefined) {
      // Frames after the resize are cut to the new width.
      const frames = writtenLines(output).filter((line) => /\[[#.]+\] \d+%/.test(line) || /^\d+% /.test(line));
      expect(frames.some((line) => line.length < resizeTo)).toBe(true);
      expect(frames.some((line) => line.length > resizeTo)).toBe(true);
    }
  }, 60_000);

  it('prints the Ctrl-C notice above the drawing and leaves no stale lines', async () => {
    slowSquashfs(4000);
    const { code, output } = await inTerminal(['mirror', '--keyring', keyringFile, source, nextTarget(), 'release=noble'], 80, { TERM: 'xterm-256color' }, undefined, true);
    server.setFaults(undefined);
    expect(code).toBe(130);
    const screen = playTerminal(output, 80);
    expect(screen.lines).toContain('SIGINT: stopping after the current writes; press Ctrl-C again to quit at once.');
    expect(screen.lines.filter((line) => /\[[#.]{3,}\]|^\s+\d+%\s/.test(line))).toEqual([]);
    for (const line of screen.lines) expect(line.length, line).toBeLessThanOrEqual(80);
  }, 60_000);

  it('prints plain lines without escape sequences when TERM=dumb', async () => {
    slowSquashfs();
    const { code, output } = await inTerminal(['mirror', '--keyring', keyringFile, source, nextTarget(), 'release=noble'], 80, { TERM: 'dumb' });
    server.setFaults(undefined);
    expect(code).toBe(0);
    expect(output).not.toContain(`${ESCAPE}[`);
    expect(output).toMatch(/\d+% [\d.]+ \w*B of [\d.]+ \w*B, files \d+\/\d+/);
  }, 60_000);
});

describe('off a terminal', () => {
  it('prints plain progress lines with --progress, and no escape sequences', async () => {
    const run = await runFerry(['mirror', '--progress', '--keyring', keyringFile, source, nextTarget(), 'release=noble']);
    expect(run.code).toBe(0);
    expect(run.stderr).not.toContain(ESCAPE);
    expect(run.stderr).toMatch(/100% [\d.]+ \w*B of [\d.]+ \w*B, files \d+\/\d+/);
  });
});

describe('after a mirror', () => {
  it('prints the MAAS commands for what was mirrored and how many products MAAS will list without files', async () => {
    const run = await runFerry(['mirror', '--keyring', keyringFile, source, nextTarget(), 'release=noble', 'arch=amd64']);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain(`  maas $PROFILE boot-sources create url=$MIRROR_URL keyring_filename=${keyringFile}\n`);
    expect(run.stderr).toContain(`  maas $PROFILE boot-source update $BOOT_SOURCE_ID url=$MIRROR_URL keyring_filename=${keyringFile}\n`);
    expect(run.stderr).toMatch(/ {2}maas \$PROFILE boot-source-selections create \$BOOT_SOURCE_ID os=ubuntu release=noble arches=amd64 subarches=\S+ labels=\S+\n/);
    expect(run.stderr).not.toContain('release=jammy');
    expect(run.stderr).toContain('  maas $PROFILE boot-resources import\n');
    const mirrored = Number(/lists (\d+) more\nproduct\(s\)/.exec(run.stderr)?.[1]);
    // noble/amd64 is one Ubuntu product here; the bootloaders did not match release=noble.
    expect(mirrored).toBe(totalProducts - 1);
  });
});

describe('--quiet', () => {
  it('prints nothing on success', async () => {
    const run = await runFerry(['mirror', '--quiet', '--keyring', keyringFile, source, nextTarget(), 'release=noble']);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe('');
  });

  it('prints the failure, and only it, with the documented exit status', async () => {
    server.setFaults((request) => (request.path.endsWith('squashfs') ? { kind: 'status', status: 404 } : undefined));
    const run = await runFerry(['mirror', '-q', '--keyring', keyringFile, source, nextTarget(), 'release=noble']);
    server.setFaults(undefined);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^FAILED /);
    expect(run.stderr).toContain('404');
    expect(run.stderr).not.toContain('Verified');
    expect(run.stderr).not.toContain('Mb change');
  });

  it('prints a fatal error', async () => {
    const run = await runFerry(['mirror', '-q', '--keyring', join(workDir, 'missing.gpg'), source, nextTarget()]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('(FERRY_KEYRING_INVALID)');
  });
});

describe('--json plan', () => {
  it('gives the plan as structured entries, one per + line', async () => {
    const run = await runFerry(['mirror', '--json', '--dry-run', '--keyring', keyringFile, source, nextTarget(), 'release=noble', 'arch=amd64']);
    expect(run.code).toBe(0);
    const events = run.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as { type: string; plan?: { referenceLines: string[]; entries: Array<Record<string, unknown>> } });
    const plan = events.find((event) => event.type === 'plan')?.plan;
    if (plan === undefined) throw new Error('no plan event');
    const added = plan.referenceLines.filter((line) => line.startsWith('+ '));
    expect(plan.entries).toHaveLength(added.length);
    const noble = stream.files.filter((file) => file.path.startsWith('noble/amd64/'));
    expect(plan.entries.map((entry) => entry['path']).sort()).toEqual(noble.map((file) => file.path).sort());
    for (const entry of plan.entries) {
      expect(entry['change']).toBe('add');
      for (const field of ['contentId', 'product', 'version', 'item']) expect(typeof entry[field], field).toBe('string');
      expect(entry['size']).toBe(noble.find((file) => file.path === entry['path'])?.size);
    }
  });
});

describe('--json', () => {
  it.each([
    { name: 'a usage error', args: () => ['mirror', '--json', '--nope', source, nextTarget()], code: 'FERRY_USAGE', exit: 2 },
    { name: 'a missing keyring', args: () => ['mirror', '--json', '--keyring', join(workDir, 'missing.gpg'), source, nextTarget()], code: 'FERRY_KEYRING_INVALID', exit: 1 },
    { name: 'an unreachable source', args: () => ['sync', '--json', '--library', join(workDir, 'library'), 'http://127.0.0.1:1/streams/v1/index.sjson'], code: 'FERRY_FETCH_FAILED', exit: 1 },
  ])('writes $name as a JSON line on stdout', async ({ args, code, exit }) => {
    const run = await runFerry(args());
    expect(run.code).toBe(exit);
    const last = run.stdout.trimEnd().split('\n').at(-1) ?? '';
    const parsed = JSON.parse(last) as { type: string; exitCode: number; error: { code: string; message: string } };
    expect(parsed).toMatchObject({ type: 'error', exitCode: exit, error: { code } });
    expect(parsed.error.message.length).toBeGreaterThan(0);
    // Every line of stdout is JSON.
    for (const line of run.stdout.trimEnd().split('\n')) expect(() => JSON.parse(line) as unknown).not.toThrow();
  });
});

describe('a checksum mismatch', () => {
  it.each([
    { mode: 'the default mode', flags: [] as string[] },
    { mode: '--quiet', flags: ['--quiet'] },
    { mode: '--json', flags: ['--json'] },
  ])('shows the expected and the actual checksum in $mode', async ({ flags }) => {
    const [file] = stream.files.filter((candidate) => candidate.path.startsWith('noble/amd64/') && candidate.path.endsWith('squashfs'));
    if (file === undefined) throw new Error('no noble/amd64 squashfs in the generated stream');
    server.setFaults((request) => (request.path === file.path ? { kind: 'corrupt' } : undefined));
    const run = await runFerry(['mirror', ...flags, '--retries', '0', '--keyring', keyringFile, source, nextTarget(), 'release=noble', 'arch=amd64']);
    server.setFaults(undefined);
    expect(run.code).toBe(3);
    const shown = flags.includes('--json') ? run.stdout : run.stderr;
    expect(shown).toContain(file.sha256);
    // The actual digest is of the bytes received: another 64-hex string next to the expected one.
    const actual = flags.includes('--json')
      ? (JSON.parse(run.stdout.trimEnd().split('\n').at(-1) ?? '{}') as { failures: Array<{ error: { actual?: string } }> }).failures[0]?.error.actual
      : /actual: +([0-9a-f]{64})/.exec(run.stderr)?.[1];
    expect(actual).toMatch(/^[0-9a-f]{64}$/);
    expect(actual).not.toBe(file.sha256);
  });
});

describe('tables', () => {
  it('ferry query --products fits 80 columns', async () => {
    const run = await runFerry(['query', '--products', '--keyring', keyringFile, source]);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    // A header and a row per product; a product name too long for its column takes a line of its own above its row.
    expect(lines.length).toBeGreaterThanOrEqual(totalProducts + 1);
    for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(80);
  });
});

describe('ferry version', () => {
  it('prints what --version prints', async () => {
    const version = await runFerry(['--version']);
    expect(version.stdout).toMatch(/^stream-ferry \d+\.\d+\.\d+\n$/);
    expect((await runFerry(['version'])).stdout).toBe(version.stdout);
  });
});
