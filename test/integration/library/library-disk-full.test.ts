import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fillUntilFree, freeBytes, mountSmallExt4, requireMount, unmount, type Mounted } from '../../support/loop-disk.js';
import { runFerry, type FerryRun } from '../../support/run-ferry.js';
import { KIB, describeRun, type TestKey } from '../mirror/helpers.js';
import { blobsOnDisk, ferryOk, gcOutcome, startSmallStream, stopSmallStream, type SmallStream } from './helpers.js';
import { expectLatestSnapshotsPresent } from '../../support/published-state.js';

// `ferry sync` and `ferry gc` on a nearly full, real disk (a loop-mounted 8 MiB ext4 with 1 KiB
// blocks). Before issue 7, SQLite's memory-mapped `-shm` could not be backed with 24-40 KiB free
// and ferry died of SIGBUS (exit 135, no message); with 8 KiB free it said "disk I/O error"; and
// gc could not run at all on a full disk, because it wrote a lock draft first. Now every run ends
// in success or FERRY_DISK_FULL naming a path, and gc frees a disk with no byte left.

let stream: SmallStream | undefined;
let workDir: string;
let mounted: Mounted = { ok: false, reason: 'beforeAll did not run' };
let testKey: TestKey;
let source: string;
let pristine: string;

beforeAll(async () => {
  stream = await startSmallStream('library-disk-full', 64);
  ({ workDir, testKey, source } = stream);
  mounted = await mountSmallExt4(workDir, 'mnt', 8);
  pristine = join(workDir, 'pristine');
  await ferryOk(['sync', '--library', pristine, '--keyring', testKey.keyringFile, source]);
});

afterAll(async () => {
  await unmount(mounted);
  await stopSmallStream(stream);
});

/** Success, or FERRY_DISK_FULL naming a path on the small disk: never a signal, never "disk I/O error". */
function expectSuccessOrDiskFull(run: FerryRun, disk: string, label: string): 'ok' | 'full' {
  expect(run.signal, `${label}\n${describeRun(run)}`).toBeNull();
  if (run.code === 0) return 'ok';
  expect(run.code, `${label}\n${describeRun(run)}`).toBe(1);
  expect(run.stderr, label).toContain('FERRY_DISK_FULL');
  expect(run.stderr, label).toContain(disk);
  expect(run.stderr, label).not.toContain('disk I/O error');
  return 'full';
}

describe('ferry sync and gc on a nearly full disk', () => {
  it('end in success or FERRY_DISK_FULL at every free space from 0 to 64 KiB, and the library stays consistent', async (context) => {
    const disk = requireMount(mounted, context);
    const outcomes: string[] = [];
    for (const kib of [0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 48, 64]) {
      const library = join(disk, `library-${kib}`);
      await cp(pristine, library, { recursive: true });
      const ballast = join(disk, `ballast-${kib}`);
      const free = await fillUntilFree(disk, ballast, kib * KIB);
      // No -shm is left by the closed catalog: the case that used to crash.
      expect((await readdir(library)).filter((name) => name.endsWith('-shm'))).toEqual([]);
      const sync = expectSuccessOrDiskFull(
        await runFerry(['sync', '--library', library, '--keyring', testKey.keyringFile, source]),
        disk,
        `sync with ${free} bytes free`,
      );
      const gc = expectSuccessOrDiskFull(await runFerry(['gc', '--library', library]), disk, `gc with ${free} bytes free`);
      outcomes.push(`${(free / KIB).toFixed(0)} KiB free: sync ${sync}, gc ${gc}`);
      await rm(ballast);
      await expectLatestSnapshotsPresent(library);
      await ferryOk(['sync', '--library', library, '--keyring', testKey.keyringFile, source]);
      await rm(library, { recursive: true });
    }
    console.log(outcomes.join('\n'));
  });

  it('lets gc free a disk with no byte left, and removes lock drafts a killed or refused locker left', async (context) => {
    const disk = requireMount(mounted, context);
    const library = join(disk, 'library-gc');
    await cp(pristine, library, { recursive: true });
    // Unneeded blobs: placed by a sync killed before recording them; the first gc adopts them.
    const unneeded: string[] = [];
    for (let index = 0; index < 4; index += 1) {
      const bytes = Buffer.alloc(32 * KIB, index + 1);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      await mkdir(join(library, 'blobs', 'sha256', sha256.slice(0, 2)), { recursive: true });
      await writeFile(join(library, 'blobs', 'sha256', sha256.slice(0, 2), sha256), bytes);
      unneeded.push(sha256);
    }
    expect(gcOutcome(await ferryOk(['gc', '--library', library, '--json'])).removedBlobs).toEqual([]);
    const draft = join(library, 'lock.999999999.0123456789abcdef.tmp');
    await writeFile(draft, '{"pid":999999999}\n');

    const ballast = join(disk, 'ballast-gc');
    const free = await fillUntilFree(disk, ballast, 0);
    expect(free).toBe(0);
    const run = await runFerry(['gc', '--library', library, '--json']);
    expect(run.code, describeRun(run)).toBe(0);
    expect(gcOutcome(run).removedBlobs.map((blob) => blob.sha256).sort()).toEqual([...unneeded].sort());
    expect(await freeBytes(disk)).toBeGreaterThanOrEqual(4 * 32 * KIB);
    expect(await readdir(library)).not.toContain('lock.999999999.0123456789abcdef.tmp');
    expect(await readdir(library)).not.toContain('lock');
    const blobs = await blobsOnDisk(library);
    for (const sha256 of unneeded) expect(blobs.has(sha256)).toBe(false);
    await expectLatestSnapshotsPresent(library);
    await rm(ballast);
  });
});
