import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureServer, type FixtureServer } from '../../support/fixture-server.js';
import { runFerry } from '../../support/run-ferry.js';
import { generateStream, type GeneratedStream } from '../../support/stream-generator.js';
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
  removeQuietly,
  walkFiles,
  type ListedFile,
  type TestKey,
} from './helpers.js';
import { expectRecordedRunsConsistent } from '../../support/published-state.js';

// Issue 7 §1: after every test, each tree or library a run published into lists only files that are present.
afterEach(expectRecordedRunsConsistent);

// A server that misbehaves for one file: the run must recover where recovery is possible (Range
// resume, a fresh attempt after wrong bytes) and otherwise fail naming the file, while every other
// file completes and the metadata stays unwritten.

let workDir: string;
let testKey: TestKey;
let stream: GeneratedStream;
let server: FixtureServer;
let source: string;
let listed: Map<string, ListedFile>;
let targetCount = 0;

beforeAll(async () => {
  workDir = await makeWorkDir('faults');
  testKey = await makeKey(workDir, 'Mirror faults test');
  stream = await generateStream(join(workDir, 'stream'), {
    signingKey: testKey.key,
    contents: ['ubuntu', 'bootloaders'],
    releases: ['noble'],
    arches: ['amd64', 'arm64'],
    versions: 1,
    payloadSizes: { squashfs: 4 * MIB, 'boot-initrd': 256 * KIB, 'boot-kernel': 64 * KIB, manifest: 1 * KIB, 'archive.tar.xz': 2 * KIB },
  });
  server = await startFixtureServer({ root: stream.baseDir });
  source = `${server.url}streams/v1/index.sjson`;
  listed = filesOf(await listedItems(stream.baseDir));
});

afterEach(() => {
  server.setFaults(undefined);
  server.resetCounters();
});

afterAll(async () => {
  await server.close();
  await removeQuietly(workDir);
});

function newTarget(): string {
  targetCount += 1;
  return join(workDir, `mirror-${targetCount}`);
}

function mirror(target: string): ReturnType<typeof runFerry> {
  return runFerry(['mirror', '--keyring', testKey.keyringFile, source, target]);
}

const version = (): string => stream.versions[0] ?? '';

/** The failed file is absent, every other file is complete and verified, and no metadata was written. */
async function expectAllBut(target: string, failedPath: string): Promise<void> {
  expect(await exists(join(target, failedPath)), `${failedPath} must not be at its final path`).toBe(false);
  const others = new Map([...listed].filter(([path]) => path !== failedPath));
  const present = await expectNothingUnverified(target, stream.baseDir, others);
  expect(present.sort()).toEqual([...others.keys()].sort());
  expect((await walkFiles(target)).filter((path) => path.startsWith('streams/'))).toEqual([]);
}

describe('ferry mirror against a faulty server', () => {
  it('resumes with Range when the connection is reset in the middle of a big file', async () => {
    const big = `noble/amd64/${version()}/squashfs`;
    const size = listed.get(big)?.size ?? 0;
    expect(size).toBe(4 * MIB);
    server.setFaults((request) => (request.path === big && request.attempt === 1 ? { kind: 'reset', afterBytes: 1.5 * MIB } : undefined));

    const target = newTarget();
    const run = await mirror(target);
    expect(run.code, describeRun(run)).toBe(0);
    await expectCompleteMirror(target, stream.baseDir, listed);

    const requests = dataRequests(server).filter((entry) => entry.path === big);
    expect(requests.map((entry) => entry.fault)).toEqual(['reset', undefined]);
    expect(requests[0]?.bytesSent).toBe(1.5 * MIB);
    const resumed = requests[1];
    expect(resumed?.status).toBe(206);
    expect(resumed?.range?.start).toBeGreaterThan(0);
    expect(resumed?.range?.start).toBeLessThanOrEqual(1.5 * MIB);
    expect(server.bytesSentFor(big)).toBeLessThan(2 * size);
    expect(server.bytesSentFor(big)).toBe(size + 1.5 * MIB - (resumed?.range?.start ?? 0));
  });

  it('rejects wrong bytes and fetches the file again from the start', async () => {
    const path = `noble/arm64/${version()}/ga-24.04/generic/boot-initrd`;
    server.setFaults((request) => (request.path === path && request.attempt <= 2 ? { kind: 'corrupt' } : undefined));

    const target = newTarget();
    const run = await mirror(target);
    expect(run.code, describeRun(run)).toBe(0);
    await expectCompleteMirror(target, stream.baseDir, listed);
    const requests = dataRequests(server).filter((entry) => entry.path === path);
    expect(requests.map((entry) => entry.fault)).toEqual(['corrupt', 'corrupt', undefined]);
    // Wrong bytes are never resumed from.
    expect(requests.every((entry) => entry.range === undefined && entry.status === 200)).toBe(true);
  });

  it('fails with exit 3 naming the URL and the checksum when every attempt brings wrong bytes', async () => {
    const path = `noble/amd64/${version()}/ga-24.04/generic/boot-kernel`;
    server.setFaults((request) => (request.path === path ? { kind: 'corrupt' } : undefined));

    const target = newTarget();
    const run = await mirror(target);
    expect(run.code, describeRun(run)).toBe(3);
    expect(run.stderr).toContain(`${server.url}${path}`);
    expect(run.stderr).toMatch(/checksum does not match/);
    expect(run.stderr).toContain('the metadata was not updated');
    expect(server.requestsFor(path)).toBeGreaterThan(1);
    await expectAllBut(target, path);

    await expectRerunFetchesOnly(target, path);
  });

  it('fails with exit 1 naming a file the server does not have, and completes the others', async () => {
    const path = `bootloaders/uefi/amd64/${version()}.0/shim-signed.tar.xz`;
    expect(listed.has(path)).toBe(true);
    server.setFaults((request) => (request.path === path ? { kind: 'status', status: 404 } : undefined));

    const target = newTarget();
    const run = await mirror(target);
    expect(run.code, describeRun(run)).toBe(1);
    expect(run.stderr).toContain(`${server.url}${path}`);
    expect(run.stderr).toContain('HTTP 404');
    // A 404 is an answer, not a hiccup: it is not retried.
    expect(server.requestsFor(path)).toBe(1);
    await expectAllBut(target, path);

    await expectRerunFetchesOnly(target, path);
  });
});

/** Once the server is right again, a rerun fetches only the file that failed and completes. */
async function expectRerunFetchesOnly(target: string, path: string): Promise<void> {
  server.setFaults(undefined);
  server.resetCounters();
  const rerun = await mirror(target);
  expect(rerun.code, describeRun(rerun)).toBe(0);
  expect(dataRequests(server).map((entry) => entry.path)).toEqual([path]);
  await expectCompleteMirror(target, stream.baseDir, listed);
}
