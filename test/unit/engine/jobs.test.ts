import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, isFerryError, type Engine, type JobEvent, type StreamInput, type SyncOutcome } from '../../../src-main/engine/index.js';
import type { FaultHook } from '../../support/fixture-server.js';
import { KIB, MIB, dataRequests, exists, makeWorkDir, removeQuietly, serveSignedStream, signedMetadataPaths, type ServedStream } from '../../integration/mirror/helpers.js';
import { collectEvents, expectPlainData, waitForProgress } from './helpers.js';

// The engine's job model, called directly: handles, the registry and a second subscriber,
// pause/resume with Range, cancel, and one loaded stream serving query, plan and a sync.

let workDir: string;
let served: ServedStream;
let squashfsPaths: string[];
let streamInput: StreamInput;

const STALLED_AFTER = 512 * KIB;

/** Big files hang after STALLED_AFTER bytes on their first (whole-file) request; the rest are served. */
const stallBigFiles: FaultHook = ({ path, range }) =>
  path.endsWith('squashfs') && range === undefined ? { kind: 'stall', afterBytes: STALLED_AFTER, ms: Infinity } : undefined;

beforeAll(async () => {
  workDir = await makeWorkDir('engine-jobs');
  served = await serveSignedStream(workDir, 'engine', {
    contents: ['ubuntu'],
    releases: ['jammy', 'noble'],
    arches: ['amd64'],
    versions: 1,
    payloadSizes: { squashfs: 2 * MIB, 'boot-initrd': 16 * KIB, 'boot-kernel': 8 * KIB, manifest: KIB },
  });
  squashfsPaths = [...served.listed.keys()].filter((path) => path.endsWith('squashfs'));
  expect(squashfsPaths).toHaveLength(2);
  streamInput = { source: served.source, keyringFiles: [served.testKey.keyringFile] };
});

afterAll(async () => {
  await served.server.close();
  await removeQuietly(workDir);
});

function newEngine(): Engine {
  return createEngine({ env: { ...process.env, FERRY_LIBRARY: '' }, cwd: workDir });
}

async function partialFiles(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

describe('a stream loaded once', () => {
  it('serves query, plan and a sync with one fetch of each metadata file', async () => {
    const engine = newEngine();
    served.server.resetCounters();
    const load = engine.startJob('load', streamInput);
    const loadEvents = collectEvents(load);
    const loaded = await load.result;
    expect(loaded.trust.kind).toBe('verified');
    // Loading reports progress: step `load`, every metadata file counted.
    const loadProgress = (await loadEvents.ended).filter((event) => event.type === 'progress').map((event) => event.progress);
    expect(loadProgress.at(-1)).toMatchObject({ step: 'load', filesDone: loaded.metadataFiles, filesTotal: loaded.metadataFiles });

    const items = engine.query(loaded.streamId, { selection: [['ftype=squashfs']] });
    expect(items.map((item) => item.path).sort()).toEqual([...squashfsPaths].sort());
    expectPlainData(items, 'query items');
    expect(engine.products(loaded.streamId, { selection: [] })).toHaveLength(2);

    const library = join(workDir, 'library-once');
    const plan = await engine.plan('sync', { library, stream: { streamId: loaded.streamId }, selection: [] });
    expect(plan.filesToFetch).toBe(served.listed.size);

    const outcome = await engine.startJob('sync', { library, stream: { streamId: loaded.streamId }, selection: [] }).result;
    expect(outcome.failures).toEqual([]);
    expect(outcome.filesFetched).toBe(served.listed.size);
    expect(outcome.snapshotId).toBeDefined();

    const metadata = await signedMetadataPaths(served.stream.baseDir);
    for (const path of metadata) expect(served.server.requestsFor(path), path).toBe(1);
    expect(served.server.requestLog.filter((entry) => entry.path.includes('streams/v1/'))).toHaveLength(metadata.length);
    expect(dataRequests(served.server)).toHaveLength(served.listed.size);
  });

  it('refuses an unknown stream id as FERRY_INPUT_INVALID naming the field', () => {
    const engine = newEngine();
    let caught: unknown;
    try {
      engine.query('no-such-stream', { selection: [] });
    } catch (error) {
      caught = error;
    }
    expect(isFerryError(caught, 'FERRY_INPUT_INVALID')).toBe(true);
    expect(isFerryError(caught) ? caught.field : undefined).toBe('streamId');
  });
});

describe('a job handle', () => {
  it('stamps every event with its id, ends with the result, and lets a second subscriber attach', async () => {
    const engine = newEngine();
    served.server.setFaults(({ path, range }) => (path.endsWith('squashfs') && range === undefined ? { kind: 'stall', afterBytes: STALLED_AFTER, ms: 300 } : undefined));
    try {
      const target = join(workDir, 'tree-handle');
      const job = engine.startJob('mirror', { stream: streamInput, target, selection: [], progressIntervalMs: 20 });
      const first = collectEvents(job);

      await waitForProgress(job, (progress) => progress.step === 'download' && progress.bytesDone > 0);
      const attached = engine.job(job.id);
      expect(attached?.id).toBe(job.id);
      const status = attached?.status();
      expect(status).toMatchObject({ id: job.id, kind: 'mirror', state: 'running' });
      expect(status?.plan?.filesToFetch).toBe(served.listed.size);
      expect(status?.loaded?.trust.kind).toBe('verified');
      expect(engine.jobs().map((listed) => listed.id)).toContain(job.id);
      const second: JobEvent[] = [];
      attached?.subscribe((event) => second.push(event));

      const outcome = await job.result;
      const events = await first.ended;
      expect(outcome.failures).toEqual([]);
      expect(events.every((event) => event.jobId === job.id)).toBe(true);
      expect(events.at(-1)).toMatchObject({ type: 'result', kind: 'mirror', outcome: { filesFetched: served.listed.size } });
      expect(events.filter((event) => event.type === 'result')).toHaveLength(1);
      // The second subscriber saw the rest of the same events, the outcome last.
      expect(second.length).toBeGreaterThan(1);
      expect(events.slice(-second.length)).toEqual(second);
      // Progress has a step for each phase, and every event is plain data.
      const steps = new Set(events.flatMap((event) => (event.type === 'progress' ? [event.progress.step] : [])));
      expect([...steps].sort()).toEqual(['download', 'load', 'metadata']);
      for (const event of events) expectPlainData(event, event.type);

      expect(engine.job(job.id)?.status()).toMatchObject({ state: 'succeeded', outcome: { type: 'result' } });
      // An iterator opened after the end yields the outcome and stops.
      const late: JobEvent[] = [];
      for await (const event of job.events()) late.push(event);
      expect(late.map((event) => event.type)).toEqual(['result']);
    } finally {
      served.server.setFaults(undefined);
    }
  });

  it('reports re-hashing as step verify-existing', async () => {
    const engine = newEngine();
    const target = join(workDir, 'tree-rehash');
    await engine.startJob('mirror', { stream: streamInput, target, selection: [] }).result;
    const job = engine.startJob('mirror', { stream: streamInput, target, selection: [], verifyExisting: true, progressIntervalMs: 20 });
    const { ended } = collectEvents(job);
    expect((await job.result).filesPresent).toBe(served.listed.size);
    const rehash = (await ended).flatMap((event) => (event.type === 'progress' && event.progress.step === 'verify-existing' ? [event.progress] : []));
    const totalBytes = [...served.listed.values()].reduce((sum, file) => sum + file.size, 0);
    expect(rehash.at(-1)).toMatchObject({ filesDone: served.listed.size, filesTotal: served.listed.size, bytesDone: totalBytes });
  });
});

describe('pause and cancel', () => {
  it('a paused sync keeps its partial downloads, and resuming fetches only their missing bytes with Range', async () => {
    const engine = newEngine();
    const library = join(workDir, 'library-pause');
    served.server.setFaults(stallBigFiles);
    const job = engine.startJob('sync', { library, stream: streamInput, selection: [], progressIntervalMs: 20 });
    const { ended } = collectEvents(job);
    await waitForProgress(
      job,
      (progress) =>
        progress.step === 'download' &&
        progress.filesDone === served.listed.size - squashfsPaths.length &&
        progress.current.filter((file) => file.bytesDone >= STALLED_AFTER).length === squashfsPaths.length,
    );
    job.pause();
    await expect(job.result).rejects.toMatchObject({ code: 'FERRY_CANCELLED' });
    expect((await ended).at(-1)).toMatchObject({ type: 'paused', jobId: job.id, reason: { code: 'FERRY_CANCELLED' } });
    expect(engine.job(job.id)?.status().state).toBe('paused');
    const partials = await partialFiles(join(library, 'tmp', 'partial'));
    expect(partials).toHaveLength(squashfsPaths.length);

    served.server.resetCounters();
    served.server.setFaults(undefined);
    const resumed = engine.resumeJob(job.id);
    expect(resumed.id).not.toBe(job.id);
    expect(resumed.status().resumes).toBe(job.id);
    const outcome = (await resumed.result) as SyncOutcome;
    expect(outcome.failures).toEqual([]);
    expect(outcome.snapshotId).toBeDefined();
    // Only the two big files were asked for again, each from where its partial file ended.
    const requests = dataRequests(served.server);
    expect(requests.map((entry) => entry.path).sort()).toEqual([...squashfsPaths].sort());
    for (const entry of requests) {
      expect(entry.status, entry.path).toBe(206);
      expect(entry.range?.start, entry.path).toBeGreaterThanOrEqual(STALLED_AFTER);
      expect(entry.bytesSent, entry.path).toBeLessThanOrEqual(2 * MIB - STALLED_AFTER);
    }
  });

  it('a cancelled mirror ends with cancelled, deletes its partial downloads and leaves no file half-written at a final path', async () => {
    const engine = newEngine();
    const target = join(workDir, 'tree-cancel');
    served.server.setFaults(stallBigFiles);
    try {
      const job = engine.startJob('mirror', { stream: streamInput, target, selection: [], progressIntervalMs: 20 });
      const { ended } = collectEvents(job);
      await waitForProgress(job, (progress) => progress.step === 'download' && progress.current.some((file) => file.bytesDone >= STALLED_AFTER));
      job.cancel();
      await expect(job.result).rejects.toMatchObject({ code: 'FERRY_CANCELLED' });
      const last = (await ended).at(-1);
      expect(last).toMatchObject({ type: 'cancelled', jobId: job.id });
      expect(last?.type === 'cancelled' ? last.partialsDiscarded : 0).toBeGreaterThanOrEqual(1);
      expect(await partialFiles(join(target, '.ferry', 'tmp', 'partial'))).toEqual([]);
      for (const path of squashfsPaths) expect(await exists(join(target, path)), path).toBe(false);
      // Files that completed are whole; no metadata was published.
      for (const [path, file] of served.listed) if (await exists(join(target, path))) expect((await stat(join(target, path))).size, path).toBe(file.size);
      expect(await exists(join(target, 'streams/v1/index.sjson'))).toBe(false);
      expect(() => engine.resumeJob(job.id)).toThrow(/No paused job/);
    } finally {
      served.server.setFaults(undefined);
    }
  });
});
