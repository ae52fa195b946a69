import { readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { formatBytes } from '../../../src-main/base/format.js';
import { dataBytesSent, startFixtureServer, type FixtureServer } from '../../support/fixture-server.js';
import { generateStream, type StreamOptions } from '../../support/stream-generator.js';
import { KIB, exists, filesOf, listedItems, makeKey, makeWorkDir, removeQuietly, type TestKey } from '../mirror/helpers.js';
import {
  blobsOnDisk,
  expectBlobsMatchTheirNames,
  ferryOk,
  jobsOf,
  gcOutcome,
  librarySummary,
  latestSnapshot,
  readCatalog,
  sha256Hex,
  upstreamMetadata,
} from './helpers.js';
import { expectRecordedRunsConsistent } from '../../support/published-state.js';

// Issue 7 §1: after every test, each tree or library a run published into lists only files that are present.
afterEach(expectRecordedRunsConsistent);

// `ferry sync --max 1` follows upstream to a new version; `ferry gc` then removes exactly the blobs
// that nothing references any more (the old version's files and the superseded metadata).

let workDir: string;
let testKey: TestKey;
let server: FixtureServer;

const streamDir = (): string => join(workDir, 'stream');
const library = (): string => join(workDir, 'library');
const streamOptions = (key: TestKey, versions: readonly string[]): StreamOptions => ({
  signingKey: key.key,
  contents: ['ubuntu', 'bootloaders'],
  releases: ['jammy', 'noble'],
  arches: ['amd64'],
  kernels: 2,
  versions,
  payloadSizes: { squashfs: 200 * KIB, 'boot-initrd': 30 * KIB, 'boot-kernel': 10 * KIB },
});

beforeAll(async () => {
  workDir = await makeWorkDir('library-gc');
  testKey = await makeKey(workDir, 'Library gc test');
  await generateStream(streamDir(), streamOptions(testKey, ['20240101']));
  server = await startFixtureServer({ root: streamDir() });
});

afterAll(async () => {
  await server.close();
  await removeQuietly(workDir);
});

/** Every sha256 the library needs for upstream as it is now, with --max 1: data files and metadata. */
async function neededNow(): Promise<Map<string, number>> {
  return mentionedNow({ max: 1 });
}

/** Every sha256 upstream's metadata lists now (of `max` versions per product), and the metadata's own. */
async function mentionedNow(options: { max?: number } = {}): Promise<Map<string, number>> {
  const needed = new Map<string, number>();
  for (const file of filesOf(await listedItems(streamDir(), options)).values()) needed.set(file.sha256, file.size);
  for (const bytes of (await upstreamMetadata(streamDir())).values()) needed.set(sha256Hex(bytes), bytes.length);
  return needed;
}

describe('ferry gc after ferry sync --max 1 follows a new upstream version', () => {
  it('removes the version --max 1 let go though upstream still lists it: the latest snapshot records its selection', async () => {
    const source = `${server.url}streams/v1/index.sjson`;
    await ferryOk(['sync', '--library', library(), '--max', '1', '--keyring', testKey.keyringFile, source]);
    const first = await neededNow();
    // Upstream adds a version and keeps listing the old one: --max 1 lets the old one go, and the
    // latest snapshot's selection (--max 1) no longer wants its files, so gc collects them.
    await generateStream(streamDir(), streamOptions(testKey, ['20240101', '20240108']));
    await ferryOk(['sync', '--library', library(), '--max', '1', '--keyring', testKey.keyringFile, source]);
    const needed = await neededNow();
    const listed = await mentionedNow();
    const retired = [...first.keys()].filter((sha256) => !needed.has(sha256)).sort();
    const retiredButListed = retired.filter((sha256) => listed.has(sha256));
    expect(retiredButListed.length, 'the old version is still listed upstream').toBeGreaterThan(0);
    const gc = gcOutcome(await ferryOk(['gc', '--library', library(), '--json']));
    expect(gc.removedBlobs.map((blob) => blob.sha256).sort()).toEqual(retired);
    expect(new Set((await blobsOnDisk(library())).keys())).toEqual(new Set(needed.keys()));
  });

  it('removes exactly the blobs no longer referenced, and stale partial downloads, and reports the bytes freed', async () => {
    const source = `${server.url}streams/v1/index.sjson`;
    const sync = (): ReturnType<typeof ferryOk> => ferryOk(['sync', '--library', library(), '--max', '1', '--keyring', testKey.keyringFile, source]);
    const before = await neededNow();
    // What the library holds from the first test: the old version's files are still on disk.
    const onDisk = new Set((await blobsOnDisk(library())).keys());
    for (const sha256 of before.keys()) expect(onDisk.has(sha256)).toBe(true);

    // Upstream drops the oldest version and adds one: the one held so far is let go by --max 1.
    await generateStream(streamDir(), streamOptions(testKey, ['20240108', '20240115']));
    const after = await neededNow();
    await sync();
    const unreferenced = [...onDisk].filter((sha256) => !after.has(sha256)).sort();
    // The old version's files and the old metadata; the scenario needs both.
    expect(unreferenced.length).toBeGreaterThan((await upstreamMetadata(streamDir())).size);
    const sizes = new Map([...(await blobsOnDisk(library())).values()].map((blob) => [blob.sha256, blob.size]));
    const bytesOfBlobs = unreferenced.reduce((sum, sha256) => sum + (sizes.get(sha256) ?? 0), 0);

    // A partial download whose blob is complete, and one that nothing will resume (the last sync
    // succeeded): both are stale.
    const [heldSha256] = after.keys();
    const partials = [
      { name: heldSha256 ?? '', size: 100 },
      { name: sha256Hex(Buffer.from('abandoned download')), size: 250 },
    ];
    for (const partial of partials) await writeFile(join(library(), 'tmp', 'partial', partial.name), Buffer.alloc(partial.size));
    const bytesFreed = bytesOfBlobs + 350;

    const dryRun = gcOutcome(await ferryOk(['gc', '--library', library(), '--dry-run', '--json']));
    expect(dryRun.removedBlobs.map((blob) => blob.sha256).sort()).toEqual(unreferenced);
    expect(dryRun.removedPartials.map((partial) => partial.name).sort()).toEqual(partials.map((partial) => partial.name).sort());
    expect(dryRun.bytesFreed).toBe(bytesFreed);
    expect(dryRun.jobId).toBeUndefined();
    expect((await blobsOnDisk(library())).size).toBe(new Set([...onDisk, ...after.keys()]).size);

    const gc = await ferryOk(['gc', '--library', library()]);
    const removedLines = gc.stdout.split('\n').filter((line) => line.startsWith('removed blob '));
    expect(removedLines.map((line) => line.split(' ')[2]).sort()).toEqual(unreferenced);
    expect(gc.stdout).toContain(`Removed ${unreferenced.length} blob(s) and 2 partial download(s); freed ${formatBytes(bytesFreed)}.`);

    const blobs = await expectBlobsMatchTheirNames(library());
    expect(new Set(blobs.keys())).toEqual(new Set(after.keys()));
    for (const partial of partials) expect(await exists(join(library(), 'tmp', 'partial', partial.name))).toBe(false);
    expect(readCatalog(library(), (db) => db.prepare<[], string>('SELECT sha256 FROM blobs ORDER BY sha256').pluck().all())).toEqual([...blobs.keys()].sort());
    expect(jobsOf(library(), 'gc').map((job) => job.status)).toEqual(['succeeded', 'succeeded']);

    const summary = librarySummary(await ferryOk(['library', '--library', library(), '--json']));
    const newest = await listedItems(streamDir(), { max: 1 });
    for (const product of summary.products) {
      expect(product.versions).toEqual([newest.find((item) => item.product === product.product)?.version]);
    }

    // Nothing the library still needs was removed: a rerun fetches nothing, and gc finds nothing.
    server.resetCounters();
    await sync();
    expect(dataBytesSent(server)).toBe(0);
    const again = gcOutcome(await ferryOk(['gc', '--library', library(), '--json']));
    expect(again.removedBlobs).toEqual([]);
    expect(again.bytesFreed).toBe(0);
  });

  it('records no snapshot for a sync that failed, and keeps its partial downloads but not older ones', async () => {
    const source = `${server.url}streams/v1/index.sjson`;
    const snapshotBefore = latestSnapshot(library());
    await generateStream(streamDir(), streamOptions(testKey, ['20240115', '20240122']));
    const missing = [...filesOf(await listedItems(streamDir(), { max: 1 })).values()].find((file) => file.path.endsWith('/boot-kernel'));
    if (missing === undefined) throw new Error('the new version has a boot kernel');
    // Upstream lost one file of the new version: the sync fails, and its partial downloads are
    // worth keeping for the rerun.
    server.setFaults((request) => (request.path === missing.path ? { kind: 'status', status: 404 } : undefined));
    try {
      const failed = await ferryOk(['sync', '--library', library(), '--max', '1', '--keyring', testKey.keyringFile, source], 1);
      expect(failed.stderr).toContain('no new snapshot was recorded');
    } finally {
      server.setFaults(undefined);
    }
    expect(latestSnapshot(library())).toEqual(snapshotBefore);
    const lastJob = jobsOf(library(), 'sync').at(-1);
    expect(lastJob?.status).toBe('failed');
    expect(lastJob?.events).toContain('file-failed');
    expect(lastJob?.events).not.toContain('metadata-written');

    const partialDir = join(library(), 'tmp', 'partial');
    // Whatever the failed download left for resuming counts as the failed sync's.
    const leftByFailure = (await readdir(partialDir)).length;
    const fresh = { name: sha256Hex(Buffer.from('interrupted download')), size: 300 };
    const old = { name: sha256Hex(Buffer.from('download from long ago')), size: 400 };
    for (const partial of [fresh, old]) await writeFile(join(partialDir, partial.name), Buffer.alloc(partial.size));
    const anHourAgo = new Date(Date.now() - 3_600_000);
    await utimes(join(partialDir, old.name), anHourAgo, anHourAgo);

    const gc = gcOutcome(await ferryOk(['gc', '--library', library(), '--json']));
    expect(gc.removedPartials).toEqual([old]);
    expect(gc.partialsKept).toBe(leftByFailure + 1);
    expect(await exists(join(partialDir, fresh.name))).toBe(true);

    // Once the file is back upstream, the rerun completes and records the new metadata.
    await ferryOk(['sync', '--library', library(), '--max', '1', '--keyring', testKey.keyringFile, source]);
    const snapshotAfter = latestSnapshot(library());
    expect(snapshotAfter?.id).toBeGreaterThan(snapshotBefore?.id ?? 0);
    const upstream = await upstreamMetadata(streamDir());
    expect(new Set(snapshotAfter?.files.map((file) => file.sha256))).toEqual(new Set([...upstream.values()].map(sha256Hex)));
  });
});
