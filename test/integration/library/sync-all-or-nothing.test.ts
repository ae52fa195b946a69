import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FixtureServer } from '../../support/fixture-server.js';
import { checkPublishedLibrary, expectRecordedRunsConsistent } from '../../support/published-state.js';
import { runFerry } from '../../support/run-ferry.js';
import { generateStream, type StreamOptions } from '../../support/stream-generator.js';
import { describeRun, listedItems, makeWorkDir, removeQuietly, serveSignedStream, twoProductShape, twoProductStream, type TestKey } from '../mirror/helpers.js';
import { blobsOnDisk, latestSnapshot } from './helpers.js';

// Issue 7 §1 for `ferry sync`: a run with a failed file records no snapshot and forgets no held
// version of any product, so the latest snapshot keeps listing only blobs that are present, and
// `ferry gc` (which keeps what held items and the latest snapshot reference) deletes none of them.

afterEach(expectRecordedRunsConsistent);

let workDir: string;
let testKey: TestKey;
let server: FixtureServer;
let streamDir: string;
let source: string;

const streamOptions = (versions: number): StreamOptions => twoProductStream(testKey.key, versions);

beforeAll(async () => {
  workDir = await makeWorkDir('sync-all-or-nothing');
  ({ testKey, server, source } = await serveSignedStream(workDir, 'Sync all-or-nothing test', twoProductShape(1)));
  streamDir = join(workDir, 'stream');
});

afterAll(async () => {
  await server.close();
  await removeQuietly(workDir);
});

describe('ferry sync commits all or nothing', () => {
  it('keeps the latest snapshot and every held version while one product fails, and gc deletes nothing it lists', async () => {
    const library = join(workDir, 'library');
    const sync = (): ReturnType<typeof runFerry> => runFerry(['sync', '--library', library, '--keyring', testKey.keyringFile, '--max', '1', source]);
    const gc = async (): Promise<void> => {
      const run = await runFerry(['gc', '--library', library]);
      expect(run.code, describeRun(run)).toBe(0);
    };
    const expectSnapshotHolds = async (label: string): Promise<number> => {
      const report = await checkPublishedLibrary(library, { filters: [], max: 1 });
      expect(report.problems, label).toEqual([]);
      return report.checked;
    };

    const first = await sync();
    expect(first.code, describeRun(first)).toBe(0);
    const firstSnapshot = latestSnapshot(library)?.id;
    const oldItems = await listedItems(streamDir, { max: 1 });

    await generateStream(streamDir, streamOptions(2));
    const newItems = (await listedItems(streamDir, { max: 1 })).filter((item) => !oldItems.some((old) => old.path === item.path));
    const failing = new Set(newItems.filter((item) => item.path.startsWith('noble/')).map((item) => item.path));
    expect(failing.size).toBeGreaterThan(0);
    server.setFaults((request) => (failing.has(request.path) ? { kind: 'status', status: 404 } : undefined));
    const failed = await sync();
    expect(failed.code, describeRun(failed)).toBe(1);
    expect(failed.stderr).toContain('nothing was removed and no new snapshot was recorded');
    expect(latestSnapshot(library)?.id, 'the latest snapshot is the previous one').toBe(firstSnapshot);
    expect(await expectSnapshotHolds('after the failed sync')).toBe(oldItems.length);
    await gc();
    expect(await expectSnapshotHolds('after gc following the failed sync')).toBe(oldItems.length);
    const oldBlobs = new Set(oldItems.map((item) => item.sha256));
    for (const sha256 of oldBlobs) expect((await blobsOnDisk(library)).has(sha256), `blob ${sha256} of the previous snapshot`).toBe(true);

    server.setFaults(undefined);
    const fixed = await sync();
    expect(fixed.code, describeRun(fixed)).toBe(0);
    expect(latestSnapshot(library)?.id).toBeGreaterThan(firstSnapshot ?? 0);
    expect(await expectSnapshotHolds('after the fixed sync')).toBe(newItems.length);
    await gc();
    expect(await expectSnapshotHolds('after gc following the fixed sync')).toBe(newItems.length);
    const onDisk = await blobsOnDisk(library);
    const newBlobs = new Set(newItems.map((item) => item.sha256));
    for (const sha256 of oldBlobs) if (!newBlobs.has(sha256)) expect(onDisk.has(sha256), `retired blob ${sha256} was collected`).toBe(false);
  });
});
