import { lstat, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dataBytesSent, startFixtureServer, type FixtureServer } from '../../support/fixture-server.js';
import { runFerry } from '../../support/run-ferry.js';
import { generateStream, tamperFile, type GeneratedStream, type StreamOptions } from '../../support/stream-generator.js';
import {
  KIB,
  MIB,
  STATE_FOLDER,
  dataRequests,
  describeRun,
  exists,
  expectCompleteMirror,
  filesOf,
  listedItems,
  makeKey,
  makeWorkDir,
  parseJsonLines,
  referenceLine,
  removeQuietly,
  signedMetadataPaths,
  walkFiles,
  type JsonEvent,
  type ListedFile,
  type ListedItem,
  type TestKey,
} from './helpers.js';
import { expectRecordedRunsConsistent } from '../../support/published-state.js';

// Issue 7 §1: after every test, each tree or library a run published into lists only files that are present.
afterEach(expectRecordedRunsConsistent);

// `ferry mirror` of a whole generated stream, run as an operator runs it: the built CLI in a child
// process against a signed stream on 127.0.0.1. The tests in this file share one target and run in
// order: a dry run on nothing, the full mirror, a rerun, then the options that must change nothing.

let workDir: string;
let testKey: TestKey;
let stream: GeneratedStream;
let server: FixtureServer;
let source: string;
let target: string;
let items: ListedItem[];
let listed: Map<string, ListedFile>;

// Two releases × two arches × two kernels share each squashfs between two products; bootloaders and
// CentOS come too. Squashfs files are over 1 MiB so the plan lines show a non-zero Mb figure.
const streamOptions = (key: TestKey): StreamOptions => ({
  signingKey: key.key,
  releases: ['jammy', 'noble'],
  arches: ['amd64', 'arm64'],
  kernels: 2,
  versions: 2,
  payloadSizes: { squashfs: 1.5 * MIB, 'boot-initrd': 96 * KIB, 'boot-kernel': 48 * KIB, manifest: 2 * KIB, 'root-tgz': 1 * MIB + 7, 'archive.tar.xz': 3 * KIB },
});

beforeAll(async () => {
  workDir = await makeWorkDir('tree');
  testKey = await makeKey(workDir, 'Mirror tree test');
  stream = await generateStream(join(workDir, 'stream'), streamOptions(testKey));
  server = await startFixtureServer({ root: stream.baseDir });
  source = `${server.url}streams/v1/index.sjson`;
  target = join(workDir, 'mirror');
  items = await listedItems(stream.baseDir);
  listed = filesOf(items);
});

afterAll(async () => {
  await server.close();
  await removeQuietly(workDir);
});

function mirror(...args: string[]): ReturnType<typeof runFerry> {
  return runFerry(['mirror', '--keyring', testKey.keyringFile, ...args]);
}

describe('ferry mirror of a whole stream', () => {
  it('prints the plan as sstream-mirror does on --dry-run and creates nothing', async () => {
    const run = await mirror('--dry-run', source, target);
    expect(run.code, describeRun(run)).toBe(0);

    const expectedAdds = items.map((item) => referenceLine('+', item));
    // Shared squashfs files count once per item, as the reference counts them.
    const change = Math.trunc(items.reduce((sum, item) => sum + item.size, 0) / MIB);
    const planLines = run.stderr.split('\n').filter((line) => /^[+-] /.test(line) || / Mb change$/.test(line));
    expect(planLines).toEqual([...expectedAdds, `${change} Mb change`]);
    expect(change).toBeGreaterThan(0);
    expect(expectedAdds.some((line) => line.endsWith(' 1 Mb'))).toBe(true);
    // The same squashfs path is planned under more than one product.
    const squashfsLines = items.filter((item) => item.item === 'squashfs');
    expect(new Set(squashfsLines.map((item) => item.path)).size).toBeLessThan(squashfsLines.length);

    expect(run.stderr).toContain('Dry run');
    expect(dataRequests(server)).toEqual([]);
    expect(await exists(target), 'a dry run must not create the target').toBe(false);
  });

  it('writes every selected item verified at its path, then the signed metadata byte for byte, index last', async () => {
    server.resetCounters();
    const run = await mirror('--json', source, target);
    expect(run.code, describeRun(run)).toBe(0);

    await expectCompleteMirror(target, stream.baseDir, listed);
    // Upstream's unsigned twins are not copied and no index.json is invented from the .sjson one.
    expect((await walkFiles(target)).filter((path) => path.endsWith('.json'))).toEqual([]);
    expect((await lstat(join(target, STATE_FOLDER))).isDirectory()).toBe(true);

    // Every file was fetched exactly once, whole.
    const requested = dataRequests(server);
    expect(requested.map((entry) => entry.path).sort()).toEqual([...listed.keys()].sort());
    expect(requested.every((entry) => entry.status === 200 && entry.range === undefined)).toBe(true);

    const events = parseJsonLines(run.stdout);
    const types = events.map((event) => event.type);
    expect(types[0]).toBe('loaded');
    expect(types.at(-1)).toBe('result');
    const plan = events.find((event) => event.type === 'plan') as (JsonEvent & { plan: { referenceLines: string[] } }) | undefined;
    expect(plan?.plan.referenceLines.slice(0, -1)).toEqual(items.map((item) => referenceLine('+', item)));

    // Metadata comes after every item, products files first and the index last.
    const metadataEvents = events.filter((event) => event.type === 'metadata-written');
    expect(metadataEvents).toHaveLength(1);
    const metadataAt = types.indexOf('metadata-written');
    expect(types.lastIndexOf('file-done')).toBeLessThan(metadataAt);
    expect(events.filter((event) => event.type === 'file-done')).toHaveLength(listed.size);
    const metadataPaths = await signedMetadataPaths(stream.baseDir);
    expect(metadataEvents[0]?.paths).toEqual(metadataPaths);

    // The files on disk say the same: the index is the newest file in the mirror.
    const indexTime = (await lstat(join(target, 'streams/v1/index.sjson'))).mtimeMs;
    for (const path of await walkFiles(target)) {
      if (path === 'streams/v1/index.sjson') continue;
      expect((await lstat(join(target, path))).mtimeMs, `${path} was written after the index`).toBeLessThanOrEqual(indexTime);
    }

    const result = events.at(-1) as JsonEvent & { exitCode: number; filesFetched: number; failures: unknown[]; metadataWritten: string[] };
    expect(result.exitCode).toBe(0);
    expect(result.filesFetched).toBe(listed.size);
    expect(result.failures).toEqual([]);
    expect(result.metadataWritten).toEqual(metadataPaths);
  });

  it('fetches no item again on a rerun with nothing new', async () => {
    const mtimesBefore = await dataMtimes();
    server.resetCounters();
    const started = performance.now();
    const run = await mirror(source, target);
    const seconds = (performance.now() - started) / 1000;
    console.log(`rerun of a ${listed.size}-file mirror with nothing new: ${seconds.toFixed(2)} s`);
    expect(run.code, describeRun(run)).toBe(0);

    expect(dataBytesSent(server)).toBe(0);
    expect(dataRequests(server)).toEqual([]);
    const metadataPaths = await signedMetadataPaths(stream.baseDir);
    expect(new Set(server.requestLog.map((entry) => entry.path))).toEqual(new Set(metadataPaths));
    expect(run.stderr.split('\n').filter((line) => /^[+-] /.test(line))).toEqual([]);
    expect(run.stderr.split('\n')).toContain('0 Mb change');
    expect(run.stderr).toContain(`Fetched 0 file(s) (0 B); ${listed.size} already present and verified`);

    await expectCompleteMirror(target, stream.baseDir, listed);
    expect(await dataMtimes(), 'a rerun must not rewrite item files').toEqual(mtimesBefore);
  });

  it('--dry-run on an existing mirror plans the removals of --max 1 but deletes nothing', async () => {
    const before = await snapshot(target, { includeState: true });
    server.resetCounters();
    const run = await mirror('--dry-run', '--max', '1', source, target);
    expect(run.code, describeRun(run)).toBe(0);

    const oldest = new Set(stream.versions.slice(0, 1).flatMap((version) => [version, `${version}.0`, `${version}_01`]));
    const removed = items.filter((item) => oldest.has(item.version));
    expect(removed.length).toBeGreaterThan(0);
    const removalLines = run.stderr.split('\n').filter((line) => line.startsWith('- '));
    expect(removalLines.sort()).toEqual(removed.map((item) => referenceLine('-', item)).sort());
    expect(run.stderr.split('\n')).toContain(`${Math.trunc(-removed.reduce((sum, item) => sum + item.size, 0) / MIB)} Mb change`);

    expect(dataRequests(server)).toEqual([]);
    // Not even the state changes: no catalog write, no startup repair.
    expect(await snapshot(target, { includeState: true })).toEqual(before);
  });

  it('--no-direct-io writes the same tree through the page cache', async () => {
    const buffered = join(workDir, 'buffered');
    const run = await mirror('--no-direct-io', source, buffered);
    expect(run.code, describeRun(run)).toBe(0);
    await expectCompleteMirror(buffered, stream.baseDir, listed);
    expect(await walkFiles(buffered)).toEqual(await walkFiles(target));
  });

  it('--no-item-download writes the signed metadata and no item', async () => {
    const metadataOnly = join(workDir, 'metadata-only');
    server.resetCounters();
    const run = await mirror('--no-item-download', source, metadataOnly);
    expect(run.code, describeRun(run)).toBe(0);
    expect(dataRequests(server)).toEqual([]);
    expect(await walkFiles(metadataOnly)).toEqual((await signedMetadataPaths(stream.baseDir)).sort());
    for (const path of await signedMetadataPaths(stream.baseDir)) {
      expect((await readFile(join(metadataOnly, path))).equals(await readFile(join(stream.baseDir, path))), path).toBe(true);
    }
  });

  it('refuses a tampered products file with exit 3, names it, and writes nothing', async () => {
    const tamperedDir = join(workDir, 'tampered-stream');
    const tampered = await generateStream(tamperedDir, streamOptions(testKey));
    const productsPath = 'streams/v1/com.ubuntu.maas:stable:v3:download.sjson';
    expect(tampered.metadataFiles).toContain(productsPath);
    await tamperFile(tamperedDir, productsPath);
    const tamperedServer = await startFixtureServer({ root: tamperedDir });
    try {
      const tamperedSource = `${tamperedServer.url}streams/v1/index.sjson`;
      const fresh = join(workDir, 'never-written');
      const run = await mirror(tamperedSource, fresh);
      expect(run.code, describeRun(run)).toBe(3);
      expect(run.stderr).toContain(`${tamperedServer.url}${productsPath}`);
      expect(run.stderr).toContain('FERRY_SIG_BAD');
      expect(await exists(fresh)).toBe(false);
      expect(dataRequests(tamperedServer)).toEqual([]);

      // Against the existing mirror, nothing changes either: no file removed, no metadata replaced.
      const before = await snapshot(target);
      const rerun = await mirror('--max', '1', tamperedSource, target);
      expect(rerun.code, describeRun(rerun)).toBe(3);
      expect(await snapshot(target)).toEqual(before);
    } finally {
      await tamperedServer.close();
    }
  });

  it('refuses to write into a tree that another running job holds, before fetching any item', async () => {
    const lockPath = join(target, STATE_FOLDER, 'lock');
    // This test's own process stands in for the other job: it is certainly running.
    const holder = { pid: process.pid, job: 'mirror', since: '2025-01-02T03:04:05.000Z', token: 'other' };
    await writeFile(lockPath, JSON.stringify(holder));
    try {
      const before = await snapshot(target);
      server.resetCounters();
      const run = await mirror('--max', '1', source, target);
      expect(run.code, describeRun(run)).toBe(1);
      expect(run.stderr).toContain(`is in use by a Stream Ferry mirror job (pid ${process.pid}, since 2025-01-02T03:04:05.000Z)`);
      expect(run.stderr).toContain(`delete ${lockPath}`);
      expect(dataRequests(server)).toEqual([]);
      expect(await snapshot(target)).toEqual(before);

      // A dry run only reads, but a running holder keeps the tree's catalog in SQLite's exclusive
      // mode: it is told so at once, naming the job.
      const dryRun = await mirror('--dry-run', source, target);
      expect(dryRun.code, describeRun(dryRun)).toBe(1);
      expect(dryRun.stderr).toContain(`The state of the mirror tree ${join(target, STATE_FOLDER)} is in use by a Stream Ferry mirror job (pid ${process.pid}`);
      expect(dryRun.stderr).toContain('(FERRY_LIBRARY_BUSY)');
    } finally {
      await rm(lockPath, { force: true });
    }
  });
});

async function dataMtimes(): Promise<Record<string, number>> {
  const mtimes: Record<string, number> = {};
  for (const path of listed.keys()) mtimes[path] = (await lstat(join(target, path))).mtimeMs;
  return mtimes;
}

/** Every file outside .ferry/ with its size and mtime: what an operator (or MAAS) would see. */
async function snapshot(root: string, options: { includeState?: boolean } = {}): Promise<Record<string, string>> {
  const state: Record<string, string> = {};
  for (const path of await walkFiles(root, options)) {
    const stats = await lstat(join(root, path));
    state[path] = `${stats.size}@${stats.mtimeMs}`;
  }
  return state;
}
