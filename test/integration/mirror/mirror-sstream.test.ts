import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureServer, type FixtureServer } from '../../support/fixture-server.js';
import { runFerry } from '../../support/run-ferry.js';
import { generateStream, tamperFile, type GeneratedStream } from '../../support/stream-generator.js';
import {
  KIB,
  dataRequests,
  describeRun,
  exists,
  expectCompleteMirror,
  listedItems,
  makeWorkDir,
  removeQuietly,
  serveSignedStream,
  walkFiles,
  type ListedFile,
  type TestKey,
} from './helpers.js';
import { expectRecordedRunsConsistent } from '../../support/published-state.js';

afterEach(expectRecordedRunsConsistent);

// Issue 11: `ferry mirror` as sstream-mirror (--mirror prefixes), refused runs that leave nothing
// in TARGET, and the MAAS selection that forgot its bootloaders.

let workDir: string;
let testKey: TestKey;
let stream: GeneratedStream;
let source: FixtureServer;
let backup: FixtureServer;
let sourceUrl: string;
let listed: Map<string, ListedFile>;
let targets = 0;

beforeAll(async () => {
  workDir = await makeWorkDir('sstream');
  ({ testKey, stream, server: source, source: sourceUrl, listed } = await serveSignedStream(workDir, 'Mirror sstream test', {
    contents: ['ubuntu', 'bootloaders'],
    releases: ['noble'],
    arches: ['amd64'],
    versions: 1,
    payloadSizes: { squashfs: 64 * KIB, 'boot-initrd': 16 * KIB, 'boot-kernel': 8 * KIB, manifest: 1 * KIB, 'archive.tar.xz': 2 * KIB },
  }));
  // The second mirror prefix: the same files from another server, under another path.
  await mkdir(join(workDir, 'backup-root'), { recursive: true });
  await symlink(stream.baseDir, join(workDir, 'backup-root', 'maas'));
  backup = await startFixtureServer({ root: join(workDir, 'backup-root') });
});

afterEach(() => {
  source.setFaults(undefined);
  source.resetCounters();
  backup.setFaults(undefined);
  backup.resetCounters();
});

afterAll(async () => {
  await source.close();
  await backup.close();
  await removeQuietly(workDir);
});

const newTarget = (): string => join(workDir, `target-${++targets}`);
const mirror = (...args: string[]) => runFerry(['mirror', '--keyring', testKey.keyringFile, '--retries', '0', ...args]);

describe('--mirror', () => {
  it('fetches what the source fails (404, 5xx, wrong bytes) from the next prefix, verified', async () => {
    const [missing, broken, corrupt] = [...listed.keys()].filter((path) => path.endsWith('squashfs') || path.endsWith('boot-kernel') || path.endsWith('boot-initrd'));
    expect(corrupt, 'the stream has three image files').toBeDefined();
    source.setFaults((request) => {
      if (request.path === missing) return { kind: 'status', status: 404 };
      if (request.path === broken) return { kind: 'status', status: 503 };
      if (request.path === corrupt) return { kind: 'corrupt' };
      return undefined;
    });
    const target = newTarget();
    const run = await mirror('--mirror', 'http://127.0.0.1:9/unused-first/', '--mirror', `${backup.url}maas/`, sourceUrl, target);
    expect(run.code, describeRun(run)).toBe(0);
    await expectCompleteMirror(target, stream.baseDir, listed);
    // The backup served exactly the three files the source failed, nothing else.
    expect(dataRequests(backup).map((entry) => entry.path.replace(/^maas\//, '')).sort()).toEqual([missing, broken, corrupt].sort());
  });

  it('fails the file when every prefix fails it, and writes no metadata', async () => {
    const [missing] = [...listed.keys()];
    source.setFaults((request) => (request.path === missing ? { kind: 'status', status: 404 } : undefined));
    backup.setFaults((request) => (request.path === `maas/${missing}` ? { kind: 'corrupt' } : undefined));
    const target = newTarget();
    const run = await mirror('--mirror', `${backup.url}maas/`, sourceUrl, target);
    expect(run.code, describeRun(run)).toBe(1);
    expect(run.stderr).toContain(missing);
    expect(await exists(join(target, missing ?? ''))).toBe(false);
    expect((await walkFiles(target)).filter((path) => path.startsWith('streams/'))).toEqual([]);
  });
});

describe('a dry run after a failed run', () => {
  it('lists the + lines sstream-mirror would (nothing was published), and says why fewer bytes are fetched', async () => {
    const target = newTarget();
    const plus = (stderr: string): string[] => stderr.split('\n').filter((line) => line.startsWith('+ '));
    const before = await mirror('--dry-run', sourceUrl, target);
    expect(before.code, describeRun(before)).toBe(0);
    const expected = plus(before.stderr);
    expect(expected.length).toBe((await listedItems(stream.baseDir)).length);

    const [missing] = [...listed.keys()].filter((path) => path.endsWith('squashfs'));
    source.setFaults((request) => (request.path === missing ? { kind: 'status', status: 404 } : undefined));
    const failed = await mirror(sourceUrl, target);
    expect(failed.code, describeRun(failed)).toBe(1);
    source.setFaults(undefined);

    const after = await mirror('--dry-run', sourceUrl, target);
    expect(after.code, describeRun(after)).toBe(0);
    expect(plus(after.stderr)).toEqual(expected);
    expect(after.stderr.split('\n').find((line) => line.endsWith(' Mb change'))).toBe(before.stderr.split('\n').find((line) => line.endsWith(' Mb change')));
    expect(after.stderr).toMatch(/Plan: .* 1 to fetch /);
    expect(after.stderr).toMatch(/The \+ lines add up to .* of that is already here/);
  });
});

describe('a refused run leaves nothing in TARGET', () => {
  it('a bad signature: no TARGET, not even .ferry/', async () => {
    const tampered = join(workDir, 'tampered');
    await generateStream(tampered, { signingKey: testKey.key, contents: ['ubuntu'], releases: ['noble'], arches: ['amd64'], versions: 1 });
    await tamperFile(tampered, 'streams/v1/index.sjson');
    const server = await startFixtureServer({ root: tampered });
    try {
      const target = newTarget();
      const run = await mirror(`${server.url}streams/v1/index.sjson`, target);
      expect(run.code, describeRun(run)).toBe(3);
      expect(await exists(target)).toBe(false);
    } finally {
      await server.close();
    }
  });

  it('a bad option (--concurrency 0, an unknown option): refused when parsed, exit 2, no TARGET', async () => {
    for (const bad of [['--concurrency', '0'], ['--retries=-1'], ['--stall-timeout', '2.5'], ['--concurency', '2']]) {
      const target = newTarget();
      const run = await mirror(...bad, sourceUrl, target);
      expect(run.code, `${bad.join(' ')}\n${describeRun(run)}`).toBe(2);
      expect(await exists(target)).toBe(false);
    }
    expect(dataRequests(source)).toEqual([]);
  });

  it('sstream-mirror options ferry refuses say what to use instead', async () => {
    const target = newTarget();
    const run = await mirror('--no-checksumming-reader', sourceUrl, target);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--no-checksumming-reader is not supported by ferry:');
    expect(await exists(target)).toBe(false);
  });
});

describe('MAAS selections and bootloaders', () => {
  it('warns when images are selected without bootloaders, and --bootloaders adds them', async () => {
    const target = newTarget();
    const without = await mirror('--dry-run', sourceUrl, target, 'os=ubuntu', 'release=noble');
    expect(without.code, describeRun(without)).toBe(0);
    expect(without.stderr).toContain('WARNING: MAAS images are selected but no bootloader');
    expect(without.stderr).toContain('Add them with --bootloaders');
    expect(without.stderr).not.toMatch(/^\+ com\.ubuntu\.maas:stable:1:bootloader/m);

    const withBootloaders = await mirror('--dry-run', '--bootloaders', sourceUrl, target, 'os=ubuntu', 'release=noble');
    expect(withBootloaders.code, describeRun(withBootloaders)).toBe(0);
    expect(withBootloaders.stderr).not.toContain('WARNING: MAAS images are selected but no bootloader');
    const added = withBootloaders.stderr.split('\n').filter((line) => line.startsWith('+ '));
    const bootloaderItems = [...(await listedItems(stream.baseDir))].filter((item) => item.contentId.includes('bootloader'));
    expect(bootloaderItems.length).toBeGreaterThan(0);
    for (const item of bootloaderItems) expect(added.some((line) => line.includes(` ${item.path} `))).toBe(true);
    expect(await exists(target)).toBe(false);
  });

  it('explains an empty selection in the plan and still exits 0', async () => {
    const target = newTarget();
    const run = await mirror('--dry-run', sourceUrl, target, 'releases=noble');
    expect(run.code, describeRun(run)).toBe(0);
    expect(run.stderr).toContain('0 Mb change');
    expect(run.stderr).toContain("releases=noble: 'releases' is MAAS's word; this stream's images call it 'release'");
  });
});

describe('a TARGET that existed before', () => {
  it('keeps what was there when the run is refused', async () => {
    const target = newTarget();
    await mkdir(target);
    await writeFile(join(target, 'README'), 'mine\n');
    const run = await mirror('--concurrency', '0', sourceUrl, target);
    expect(run.code).toBe(2);
    expect(await walkFiles(target, { includeState: true })).toEqual(['README']);
  });
});
