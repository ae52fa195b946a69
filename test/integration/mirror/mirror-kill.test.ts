import { readFileSync, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureServer, type FaultHook, type FixtureServer } from '../../support/fixture-server.js';
import { collect, runFerry, spawnFerry } from '../../support/run-ferry.js';
import { generateStream, type GeneratedStream, type StreamOptions } from '../../support/stream-generator.js';
import {
  KIB,
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
  partialSizes,
  productsFilesOf,
  removeQuietly,
  sleep,
  type ListedFile,
  type TestKey,
} from './helpers.js';
import { checkPublishedTree, expectRecordedRunsConsistent } from '../../support/published-state.js';

// Issue 7 §1: after every test, each tree or library a run published into lists only files that are present.
afterEach(expectRecordedRunsConsistent);

// kill -9 of `ferry mirror` at random moments in the middle of downloads, several times over: no
// final path ever holds a partial or unverified file, the index never names missing files, a file
// placed before a kill is never fetched again, a partial download resumes where it stopped, and a
// last run completes the mirror.

const KILL_ROUNDS = 4;
const STALL_MS = 400;

let workDir: string;
let testKey: TestKey;
let stream: GeneratedStream;
let server: FixtureServer;
let source: string;
let listed: Map<string, ListedFile>;

beforeAll(async () => {
  workDir = await makeWorkDir('kill');
  testKey = await makeKey(workDir, 'Mirror kill test');
  // 32 files, about 45 MiB.
  stream = await generateStream(join(workDir, 'stream'), {
    signingKey: testKey.key,
    contents: ['ubuntu'],
    releases: ['jammy', 'noble'],
    arches: ['amd64', 'arm64'],
    versions: 2,
    payloadSizes: { squashfs: 4 * MIB, 'boot-initrd': 1 * MIB + 3, 'boot-kernel': 512 * KIB, manifest: 8 * KIB },
  });
  server = await startFixtureServer({ root: stream.baseDir });
  source = `${server.url}streams/v1/index.sjson`;
  listed = filesOf(await listedItems(stream.baseDir));
});

afterAll(async () => {
  await server.close();
  await removeQuietly(workDir);
});

/** Every item response pauses once, somewhere in its body, so a kill lands in the middle of transfers. */
const throttle: FaultHook = (request) => {
  if (request.path.includes('streams/v1/')) return undefined;
  const size = listed.get(request.path)?.size ?? 0;
  const remaining = size - (request.range?.start ?? 0);
  if (remaining <= 1) return undefined;
  return { kind: 'stall', afterBytes: Math.floor(remaining * (0.2 + Math.random() * 0.6)), ms: STALL_MS };
};

async function waitForDataRequest(exited: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (dataRequests(server).length === 0 && !exited()) {
    if (Date.now() > deadline) throw new Error('ferry made no item request within 30 s');
    await sleep(5);
  }
}

describe('ferry mirror killed with SIGKILL mid-download', () => {
  it('never leaves an unverified file at a final path and resumes without refetching completed files', async () => {
    const target = join(workDir, 'mirror');
    /** Files at their final paths after the rounds so far: none of them may be requested again. */
    const placed = new Set<string>();
    let partials = new Map<string, number>();
    let kills = 0;
    let rangeResumes = 0;

    /** What a round's requests may and may not contain, given what the previous rounds left. */
    const checkRequests = (round: string): void => {
      const seen = new Set<string>();
      for (const entry of dataRequests(server)) {
        expect(placed.has(entry.path), `${round}: ${entry.path} was already in place but was requested again`).toBe(false);
        if (seen.has(entry.path)) continue;
        seen.add(entry.path);
        const partial = partials.get(entry.path) ?? 0;
        const size = listed.get(entry.path)?.size ?? 0;
        expect(partial, `${round}: ${entry.path} was complete in the partial folder but was requested again`).toBeLessThan(size);
        // The first request of a run continues the partial file exactly where it stopped.
        expect(entry.range?.start, `${round}: first request for ${entry.path} (partial of ${partial} bytes)`).toBe(partial > 0 ? partial : undefined);
        if (partial > 0) rangeResumes += 1;
      }
    };

    /** After every run, killed or not: only verified files at final paths, and the index last. */
    const checkTree = async (round: string): Promise<void> => {
      const present = await expectNothingUnverified(target, stream.baseDir, listed);
      for (const path of placed) expect(present, `${round}: ${path} disappeared`).toContain(path);
      if (await exists(join(target, 'streams/v1/index.sjson'))) {
        expect(present.length, `${round}: the index was written before every item was in place`).toBe(listed.size);
      }
      for (const path of present) placed.add(path);
      partials = await partialSizes(target, listed);
      expect((await checkPublishedTree(target, { filters: [] })).problems, `${round}: the published metadata lists missing files`).toEqual([]);
    };

    for (let round = 1; round <= KILL_ROUNDS; round += 1) {
      server.setFaults(throttle);
      server.resetCounters();
      const child = spawnFerry(['mirror', '--concurrency', '2', '--keyring', testKey.keyringFile, source, target]);
      const finished = collect(child);
      await waitForDataRequest(() => child.exitCode !== null);
      // Random: within the first pause, or after a few files have gone through theirs. The first
      // kill always comes after two pauses, so some files are surely in place before the rerun.
      const delay = round === 1 ? Math.floor(2 * STALL_MS + Math.random() * STALL_MS) : Math.floor(50 + Math.random() * 3 * STALL_MS);
      await sleep(delay);
      const killed = child.kill('SIGKILL');
      const run = await finished;
      const inFlight = dataRequests(server).filter((entry) => entry.bytesSent < (listed.get(entry.path)?.size ?? 0) - (entry.range?.start ?? 0)).length;
      console.log(`round ${round}: killed ${delay} ms after the first item request (${run.signal ?? `exit ${String(run.code)}`}), ${inFlight} transfer(s) cut`);
      if (killed && run.signal === 'SIGKILL') kills += 1;
      else expect(run.code, describeRun(run)).toBe(0);
      checkRequests(`round ${round}`);
      await checkTree(`after round ${round}`);
    }
    expect(kills, 'the kills landed while ferry was running').toBeGreaterThanOrEqual(3);
    expect(placed.size, 'some files completed before the last run').toBeGreaterThan(0);
    expect(placed.size, 'some files were left for the last run').toBeLessThan(listed.size);

    server.setFaults(undefined);
    server.resetCounters();
    const last = await runFerry(['mirror', '--keyring', testKey.keyringFile, source, target]);
    expect(last.code, describeRun(last)).toBe(0);
    checkRequests('last run');
    await expectCompleteMirror(target, stream.baseDir, listed);
    expect(rangeResumes, 'some partial download was resumed with Range').toBeGreaterThan(0);
    console.log(`kill test: ${kills} kills, ${rangeResumes} Range resume(s), ${dataRequests(server).length} file(s) left for the last run`);
  });
});

describe('ferry mirror killed with SIGKILL between metadata writes', () => {
  it('leaves old and new products files side by side, each listing only files that are present', async () => {
    // Several products files, each upstream update adding a version to every product, --max 1: a
    // run fetches the new version, then writes the products files one by one and the index last.
    // The kill must land after the first new products file and before the index. No hook in the
    // product: inotify tells the test the moment a products file is renamed into place, and
    // SIGSTOP freezes ferry there (a few fsyncs later it would be done), then SIGKILL.
    const dir = join(workDir, 'metadata-kill');
    const streamDir = join(dir, 'stream');
    const options = (versions: number): StreamOptions => ({
      signingKey: testKey.key,
      contents: ['ubuntu', 'bootloaders', 'centos'],
      releases: ['jammy', 'noble'],
      arches: ['amd64'],
      versions,
      payloadSizes: { squashfs: 16 * KIB, 'boot-initrd': 4 * KIB, 'boot-kernel': 2 * KIB, manifest: 1 * KIB, 'root-tgz': 8 * KIB, 'archive.tar.xz': 2 * KIB },
    });
    let versions = 1;
    await generateStream(streamDir, options(versions));
    const metadataServer = await startFixtureServer({ root: streamDir });
    const target = join(dir, 'mirror');
    const mirrorArgs = ['mirror', '--max', '1', '--keyring', testKey.keyringFile, `${metadataServer.url}streams/v1/index.sjson`, target];
    const checkPublished = async (label: string): Promise<void> => {
      const report = await checkPublishedTree(target, { filters: [], max: 1 });
      expect(report.problems, label).toEqual([]);
      expect(report.checked, label).toBeGreaterThan(0);
    };
    try {
      const first = await runFerry(mirrorArgs);
      expect(first.code, describeRun(first)).toBe(0);
      const productsPaths = (await productsFilesOf(streamDir)).map(([, path]) => path.replace(/\.json$/, '.sjson'));
      expect(productsPaths.length).toBeGreaterThanOrEqual(3);
      let landed = 0;
      let rounds = 0;
      while (landed < 3 && rounds < 12) {
        rounds += 1;
        versions += 1;
        await generateStream(streamDir, options(versions));
        const upstream = new Map(await Promise.all(productsPaths.map(async (path) => [path, await readFile(join(streamDir, path))] as const)));
        const oldIndex = await readFile(join(target, 'streams/v1/index.sjson'));
        const child = spawnFerry(mirrorArgs);
        const finished = collect(child);
        const watcher = watch(join(target, 'streams/v1'), (_event, name) => {
          if (name !== null && name.endsWith('.sjson') && !name.startsWith('index.')) child.kill('SIGSTOP');
        });
        const run = await Promise.race([finished, (async () => { while (child.exitCode === null && !isStopped(child.pid)) await sleep(1); return undefined; })()]);
        watcher.close();
        if (run !== undefined) {
          // Finished before the first rename was seen: nothing to kill this round.
          expect(run.code, describeRun(run)).toBe(0);
          await checkPublished(`round ${rounds} (completed)`);
          continue;
        }
        const newOnDisk: string[] = [];
        for (const path of productsPaths) if ((await readFile(join(target, path))).equals(upstream.get(path) ?? Buffer.alloc(0))) newOnDisk.push(path);
        const indexIsOld = (await readFile(join(target, 'streams/v1/index.sjson'))).equals(oldIndex);
        child.kill('SIGKILL');
        const killed = await finished;
        expect(killed.signal, describeRun(killed)).toBe('SIGKILL');
        const between = indexIsOld && newOnDisk.length > 0 && newOnDisk.length < productsPaths.length;
        if (between) landed += 1;
        console.log(`metadata kill round ${rounds}: ${newOnDisk.length} of ${productsPaths.length} products file(s) new, index ${indexIsOld ? 'old' : 'new'}${between ? ' (between writes)' : ''}`);
        await checkPublished(`round ${rounds}: killed with ${newOnDisk.length} new products file(s)`);
      }
      expect(landed, `kills that landed between metadata writes in ${rounds} rounds`).toBeGreaterThanOrEqual(1);
      const last = await runFerry(mirrorArgs);
      expect(last.code, describeRun(last)).toBe(0);
      await checkPublished('after the last run');
      for (const path of productsPaths) expect((await readFile(join(target, path))).equals(await readFile(join(streamDir, path))), path).toBe(true);
    } finally {
      await metadataServer.close();
    }
  });
});

/** Whether the process is stopped (state T in /proc), so the test knows SIGSTOP took hold. */
function isStopped(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    return /^\d+ \(.*\) [Tt] /.test(readFileSync(`/proc/${String(pid)}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
