import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { startFixtureServer, type FixtureServer } from '../../support/fixture-server.js';
import { fillBlocks, freeBytes as freeBytesOf, mountSmallExt4, requireMount as requireMountOf, unmount, type Mounted } from '../../support/loop-disk.js';
import { collect, runFerry, spawnFerry, type FerryRun } from '../../support/run-ferry.js';
import { generateStream, type GeneratedStream } from '../../support/stream-generator.js';
import {
  ELEVEN_MIB_SIZES,
  MIB,
  dataRequests,
  describeRun,
  exists,
  expectCompleteMirror,
  expectNothingUnverified,
  filesOf,
  listedItems,
  makeKey,
  makeWorkDir,
  nobleShape,
  parseJsonLines,
  partialSizes,
  removeQuietly,
  sleep,
  walkFiles,
  type JsonEvent,
  type ListedFile,
  type TestKey,
} from './helpers.js';
import { expectRecordedRunsConsistent } from '../../support/published-state.js';

// Issue 7 §1: after every test, each tree or library a run published into lists only files that are present.
afterEach(expectRecordedRunsConsistent);

// `ferry mirror` onto a small, real file system (a loop-mounted 24 MiB ext4): a plan larger than
// the free space is refused before anything is written (FERRY_NOT_ENOUGH_SPACE), and a disk that
// fills up during the downloads, whether data blocks or inodes run out, fails the run clearly
// (FERRY_DISK_FULL for every file concerned). Either way the tree stays consistent and a rerun after
// space is freed completes. Mounting needs root and loop devices; without them these tests are
// skipped, saying why.

const INODES = 256;

let workDir: string;
let mountPoint: string;
// Mounted in beforeAll, not at import, so that collecting the tests (vitest list) leaves nothing mounted.
let mounted: Mounted = { ok: false, reason: 'beforeAll did not run' };

let testKey: TestKey;
let stream: GeneratedStream;
let server: FixtureServer;
let source: string;
let listed: Map<string, ListedFile>;

beforeAll(async () => {
  workDir = await makeWorkDir('disk-full');
  mounted = await mountSmallExt4(workDir, 'mnt', 24, ['-N', String(INODES)]);
  mountPoint = join(workDir, 'mnt');
  testKey = await makeKey(workDir, 'Mirror disk-full test');
  // About 11 MiB: it fits the file system, but not what is left of it once the test fills it.
  stream = await generateStream(join(workDir, 'stream'), { ...nobleShape(['amd64', 'arm64'], ELEVEN_MIB_SIZES), signingKey: testKey.key });
  server = await startFixtureServer({ root: stream.baseDir });
  source = `${server.url}streams/v1/index.sjson`;
  listed = filesOf(await listedItems(stream.baseDir));
});

afterAll(async () => {
  await server.close();
  await unmount(mounted);
  await removeQuietly(workDir);
});

const freeBytes = (): Promise<number> => freeBytesOf(mountPoint);

/** Creates empty files in `directory` (which must exist) until no inode is left; answers how many. */
async function useUpInodes(directory: string): Promise<number> {
  for (let count = 0; ; count += 1) {
    try {
      await (await open(join(directory, String(count)), 'wx')).close();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
      return count;
    }
  }
}

interface MirrorResult {
  type: string;
  exitCode: number;
  failures: Array<{ path: string; url: string; error: { code: string; message: string } }>;
}

/** The `--json` result line of a failed run: every failure a FERRY_DISK_FULL naming its URL. */
function expectDiskFullFailures(run: FerryRun, label: string): MirrorResult {
  expect(run.code, describeRun(run)).toBe(1);
  const result = parseJsonLines(run.stdout).at(-1) as JsonEvent & MirrorResult;
  expect(result.type, describeRun(run)).toBe('result');
  expect(result.failures.length).toBeGreaterThan(0);
  console.log(`${label}; ${result.failures.length} file(s) failed:\n${result.failures.map((failure) => `  ${failure.error.code}: ${failure.error.message}`).join('\n')}`);
  for (const failure of result.failures) {
    expect(failure.error.code, failure.error.message).toBe('FERRY_DISK_FULL');
    expect(failure.error.message).toMatch(/No space left|disk is full/);
    expect(failure.url).toBe(`${server.url}${failure.path}`);
  }
  return result;
}

/**
 * After a failed run: whatever is at a final path is verified and no metadata was written. Then,
 * once `free` has made room, a rerun completes without fetching a placed file again and resumes
 * every partial download from its last byte.
 */
async function expectConsistentThenRerun(target: string, free: () => Promise<void>): Promise<void> {
  const present = await expectNothingUnverified(target, stream.baseDir, listed);
  expect(present.length).toBeLessThan(listed.size);
  expect((await walkFiles(target)).filter((path) => path.startsWith('streams/'))).toEqual([]);
  const partials = await partialSizes(target, listed);

  await free();
  server.resetCounters();
  const rerun = await mirror(target);
  expect(rerun.code, describeRun(rerun)).toBe(0);
  await expectCompleteMirror(target, stream.baseDir, listed);
  for (const entry of dataRequests(server)) {
    expect(present).not.toContain(entry.path);
    const partial = partials.get(entry.path) ?? 0;
    expect(partial, `${entry.path} was complete in the partial folder but was requested again`).toBeLessThan(listed.get(entry.path)?.size ?? 0);
    expect(entry.range?.start, `resume of ${entry.path} from its ${partial}-byte partial file`).toBe(partial > 0 ? partial : undefined);
  }
}

function mirror(target: string, ...options: string[]): ReturnType<typeof runFerry> {
  return runFerry(['mirror', ...options, '--keyring', testKey.keyringFile, source, target]);
}

function requireMount(context: TestContext): void {
  requireMountOf(mounted, context);
}

describe('ferry mirror on a disk that is too small', () => {
  it('refuses a plan larger than the free space before writing anything', async (context) => {
    requireMount(context);
    const target = join(mountPoint, 'mirror-plan');
    const ballast = join(mountPoint, 'ballast-plan');
    const total = [...listed.values()].reduce((sum, file) => sum + file.size, 0);
    await fillBlocks(ballast, (await freeBytes()) - Math.floor(total / 2));
    expect(await freeBytes()).toBeLessThan(total);

    server.resetCounters();
    const run = await mirror(target);
    expect(run.code, describeRun(run)).toBe(1);
    expect(run.stderr).toContain('FERRY_NOT_ENOUGH_SPACE');
    expect(run.stderr).toMatch(/The plan needs [\d.]+ MiB more but only [\d.]+ MiB is free/);
    expect(dataRequests(server)).toEqual([]);
    // Issue 11 §2: a refused run leaves nothing behind, not even TARGET/.ferry/ (TARGET was new).
    expect(await exists(target)).toBe(false);

    await rm(ballast);
    const rerun = await mirror(target);
    expect(rerun.code, describeRun(rerun)).toBe(0);
    await expectCompleteMirror(target, stream.baseDir, listed);
    await rm(target, { recursive: true });
  });

  it('fails clearly when the disk fills up during the downloads, and a rerun completes', async (context) => {
    requireMount(context);
    const target = join(mountPoint, 'mirror-midway');
    const ballast = join(mountPoint, 'ballast-midway');
    const total = [...listed.values()].reduce((sum, file) => sum + file.size, 0);
    expect(await freeBytes()).toBeGreaterThan(total + 4 * MIB);

    // Every item response pauses half way, so the disk fills while files are still arriving.
    server.setFaults((request) =>
      request.path.includes('streams/v1/') ? undefined : { kind: 'stall', afterBytes: Math.floor((listed.get(request.path)?.size ?? 0) / 2), ms: 1000 },
    );
    server.resetCounters();
    const child = spawnFerry(['mirror', '--json', '--keyring', testKey.keyringFile, source, target]);
    const finished = collect(child);
    while (dataRequests(server).length === 0 && child.exitCode === null) await sleep(5);
    const filled = await fillBlocks(ballast, Infinity);
    const run = await finished;
    server.setFaults(undefined);

    expectDiskFullFailures(run, `disk filled with ${(filled / MIB).toFixed(1)} MiB of ballast after the first item request`);
    await expectConsistentThenRerun(target, () => rm(ballast));
    await rm(target, { recursive: true });
  });

  it('reports a directory that cannot be created for lack of space as FERRY_DISK_FULL', async (context) => {
    requireMount(context);
    const target = join(mountPoint, 'mirror-inodes');
    const inodeBallast = join(mountPoint, 'ballast-inodes');
    await mkdir(inodeBallast);

    // Item responses wait before their first byte; meanwhile the test takes every free inode. The
    // files already opened still get their bytes (blocks are free), but the directories they are
    // placed in cannot be created.
    server.setFaults((request) => (request.path.includes('streams/v1/') ? undefined : { kind: 'stall', afterBytes: 0, ms: 1000 }));
    server.resetCounters();
    const child = spawnFerry(['mirror', '--json', '--keyring', testKey.keyringFile, source, target]);
    const finished = collect(child);
    while (dataRequests(server).length < 4 && child.exitCode === null) await sleep(5);
    await sleep(50);
    const inodes = await useUpInodes(inodeBallast);
    const run = await finished;
    server.setFaults(undefined);

    const result = expectDiskFullFailures(run, `${inodes} inodes taken after the first item requests`);
    expect(result.failures.some((failure) => failure.error.message.includes('could not create the directory'))).toBe(true);
    await expectConsistentThenRerun(target, () => rm(inodeBallast, { recursive: true }));
  });
});
