import { createHash } from 'node:crypto';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FixtureServer } from '../../support/fixture-server.js';
import { collect, spawnFerry } from '../../support/run-ferry.js';
import { describeRun, sleep, type TestKey } from '../mirror/helpers.js';
import {
  blobsOnDisk,
  ferryOk,
  gcOutcome,
  readCatalog,
  startSmallStream,
  stopSmallStream,
  type SmallStream,
} from './helpers.js';
import { expectLatestSnapshotsPresent } from '../../support/published-state.js';

// kill -9 lands inside gc's deletions, several times: after each kill the catalog is trusted (a
// dry run of gc accepts it), every file the latest snapshot needs is present with its size and
// sha256, and the next gc completes, removing exactly what is left of the unneeded blobs.

const UNNEEDED = 1500;
const KILLS = 6;

let stream: SmallStream | undefined;
let workDir: string;
let testKey: TestKey;
let server: FixtureServer;

beforeAll(async () => {
  stream = await startSmallStream('gc-kill', 32);
  ({ workDir, testKey, server } = stream);
});

afterAll(() => stopSmallStream(stream));

const present = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

describe('ferry gc killed inside its deletions', () => {
  it('leaves a trusted catalog and every needed file after each kill, and the next gc completes', async () => {
    const library = join(workDir, 'library');
    await ferryOk(['sync', '--library', library, '--keyring', testKey.keyringFile, `${server.url}streams/v1/index.sjson`]);
    const needed = await expectLatestSnapshotsPresent(library);
    // Blobs a sync placed but never recorded (or versions let go); the first gc adopts them, and
    // from then on they are recorded and unneeded.
    const unneeded: string[] = [];
    for (let index = 0; index < UNNEEDED; index += 1) {
      const bytes = Buffer.from(`unneeded blob ${index}`);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      await mkdir(join(library, 'blobs', 'sha256', sha256.slice(0, 2)), { recursive: true });
      await writeFile(join(library, 'blobs', 'sha256', sha256.slice(0, 2), sha256), bytes);
      unneeded.push(sha256);
    }
    unneeded.sort();
    expect(gcOutcome(await ferryOk(['gc', '--library', library, '--json'])).removedBlobs).toEqual([]);
    const pathOf = (sha256: string): string => join(library, 'blobs', 'sha256', sha256.slice(0, 2), sha256);

    const landed: string[] = [];
    for (let kill = 0; kill < KILLS; kill += 1) {
      const remaining = [];
      for (const sha256 of unneeded) if (await present(pathOf(sha256))) remaining.push(sha256);
      if (remaining.length < 50) break;
      const child = spawnFerry(['gc', '--library', library]);
      const finished = collect(child);
      // gc deletes in digest order: once the first remaining one is gone, it is inside its deletions.
      const first = remaining[0] ?? '';
      while (child.exitCode === null && (await present(pathOf(first)))) await sleep(1);
      await sleep(Math.floor(Math.random() * 15));
      child.kill('SIGKILL');
      const run = await finished;
      let left = 0;
      for (const sha256 of remaining) if (await present(pathOf(sha256))) left += 1;
      landed.push(`kill ${kill + 1}: ${run.signal ?? `exit ${String(run.code)}`}, ${remaining.length - left} of ${remaining.length} deleted`);

      const dryRun = await ferryOk(['gc', '--library', library, '--dry-run', '--json']);
      expect(gcOutcome(dryRun).removedBlobs.length, describeRun(dryRun)).toBeLessThanOrEqual(left);
      const checked = await expectLatestSnapshotsPresent(library);
      expect(checked).toEqual(needed);
    }
    console.log(landed.join('\n'));
    expect(landed.some((line) => line.includes('SIGKILL') && !line.includes(' 0 of '))).toBe(true);

    const last = gcOutcome(await ferryOk(['gc', '--library', library, '--json']));
    const blobs = await blobsOnDisk(library);
    for (const sha256 of unneeded) expect(blobs.has(sha256), sha256).toBe(false);
    expect(new Set(blobs.keys())).toEqual(needed);
    expect(readCatalog(library, (db) => db.prepare<[], string>('SELECT sha256 FROM blobs ORDER BY sha256').pluck().all())).toEqual([...needed].sort());
    expect(last.removedBlobs.length).toBeLessThanOrEqual(UNNEEDED);
    expect(gcOutcome(await ferryOk(['gc', '--library', library, '--json'])).removedBlobs).toEqual([]);
  });
});
