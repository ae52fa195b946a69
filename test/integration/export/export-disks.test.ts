import { mkdir, open, readdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { mountExfat, mountFat32, mountNtfs, requireDisk, unmountDisk, type MountedDisk } from '../../support/fuse-disks.js';
import { mountSmallExt4, requireMount, unmount, type Mounted } from '../../support/loop-disk.js';
import { collect, runFerry, spawnFerry, type FerryRun } from '../../support/run-ferry.js';
import { generateStream, type GeneratedStream } from '../../support/stream-generator.js';
import { ELEVEN_MIB_SIZES, KIB, describeRun, exists, makeKey, makeWorkDir, nobleShape, removeQuietly, sha256OfFile, sleep, walkFiles, type TestKey } from '../mirror/helpers.js';
import { createEngine, type JobEvent } from '../../../src-main/engine/index.js';
import { bundleDirs, expectCompleteVolume, expectOk, lastLine } from './helpers.js';

// `ferry export` onto real small file systems made here (issue 9 §6): FAT32, exFAT and NTFS through
// FUSE, ext4 through a loop mount. The rules are proven by the file systems themselves: FAT32 takes
// a bundle whose metadata paths hold ':' (the bundle names files by sha256) with large files in
// parts, and refuses nothing; a plain tree is refused on FAT32/exFAT/NTFS before anything is
// written. Also: a target too small, a disk that fills up part way, and kill -9 at random moments.
// Exports read a tree generated here (signed metadata, real payloads) with --tree.

let workDir: string;
let testKey: TestKey;
/** Small: fits every test disk. */
let small: GeneratedStream;
/** About 11 MiB: larger than the small ext4 below. */
let large: GeneratedStream;
const mounts: MountedDisk[] = [];
const loops: Mounted[] = [];

const ferry = (args: readonly string[]): Promise<FerryRun> => runFerry(args, { timeoutMs: 120_000 });
const exportArgs = (stream: GeneratedStream, to: string, ...more: string[]): string[] => ['export', '--to', to, '--tree', stream.baseDir, '--keyring', testKey.keyringFile, ...more];

beforeAll(async () => {
  workDir = await makeWorkDir('export-disks');
  testKey = await makeKey(workDir, 'Export disks test');
  const smallSizes = { squashfs: 96 * KIB, 'boot-initrd': 40 * KIB, 'boot-kernel': 8 * KIB, manifest: 1 * KIB };
  small = await generateStream(join(workDir, 'small'), { ...nobleShape(['amd64'], smallSizes), signingKey: testKey.key });
  large = await generateStream(join(workDir, 'large'), { ...nobleShape(['amd64', 'arm64'], ELEVEN_MIB_SIZES), signingKey: testKey.key });
});

afterAll(async () => {
  for (const mounted of mounts) await unmountDisk(mounted);
  for (const mounted of loops) await unmount(mounted);
  await removeQuietly(workDir);
});

async function disk(mount: (dir: string, name: string) => Promise<MountedDisk>, name: string, context: TestContext): Promise<string> {
  const mounted = await mount(workDir, name);
  mounts.push(mounted);
  return requireDisk(mounted, context);
}

async function ext4(name: string, sizeMiB: number, context: TestContext, options: readonly string[] = []): Promise<string> {
  const mounted = await mountSmallExt4(workDir, name, sizeMiB, options);
  loops.push(mounted);
  return requireMount(mounted, context);
}

describe('FAT32, exFAT and NTFS', () => {
  it("FAT32 holds the bundle: ':' paths named by sha256, large blobs in parts of the lowered part size", async (context) => {
    const root = await disk(mountFat32, 'fat32', context);
    const run = expectOk(await ferry(exportArgs(small, root, '--part-size', '32K')));
    const [dir] = await bundleDirs(root);
    expect(lastLine(run)).toBe(dir);
    expect(run.stderr).toContain('on vfat');
    const manifest = await expectCompleteVolume(dir ?? '');
    expect(manifest.files.some((file) => file.path.includes(':'))).toBe(true);
    const split = manifest.blobs.filter((blob) => blob.parts !== undefined);
    // The squashfs (96 KiB) and the initrd (40 KiB) exceed 32 KiB; the others stay whole.
    expect(split.map((blob) => blob.size).sort((a, b) => a - b)).toEqual([40 * KIB, 96 * KIB]);
    for (const blob of split) expect(blob.parts?.every((part) => part.size <= 32 * KIB)).toBe(true);
    const names = await walkFiles(dir ?? '');
    expect(names.filter((name) => name.includes('.part-')).length).toBe(split.reduce((sum, blob) => sum + (blob.parts?.length ?? 0), 0));
  });

  it.for([
    ['fat32', mountFat32],
    ['exfat', mountExfat],
    ['ntfs', mountNtfs],
  ] as const)('--layout tree is refused on %s with the reason, before anything is written', async ([name, mount], context) => {
    const root = await disk(mount, `tree-${name}`, context);
    const before = await readdir(root);
    const run = await ferry(exportArgs(small, root, '--layout', 'tree'));
    expect(run.code, describeRun(run)).toBe(1);
    expect(run.stderr).toContain('FERRY_TARGET_UNFIT');
    expect(run.stderr).toContain("':'");
    expect(await readdir(root)).toEqual(before);
  });

  it('--layout tree writes a plain mirror tree where the file system holds it (ext4)', async (context) => {
    const root = await ext4('tree-ext4', 16, context);
    const run = expectOk(await ferry(exportArgs(small, root, '--layout', 'tree')));
    expect(lastLine(run)).toBe(root);
    const written = (await walkFiles(root)).filter((name) => name !== 'lost+found');
    const source = await walkFiles(small.baseDir);
    // The served tree also has the unsigned .json twins; the export carries what the signed index names.
    expect(written.every((name) => source.includes(name))).toBe(true);
    for (const name of written) expect(await sha256OfFile(join(root, name)), name).toBe(await sha256OfFile(join(small.baseDir, name)));
    expect(written).toContain('streams/v1/index.sjson');
  });
});

describe('space', () => {
  it('refuses a target too small before writing anything', async (context) => {
    const root = await ext4('too-small', 8, context);
    const before = await walkFiles(root, { includeState: true });
    const run = await ferry(exportArgs(large, root));
    expect(run.code, describeRun(run)).toBe(1);
    expect(run.stderr).toContain('FERRY_NOT_ENOUGH_SPACE');
    expect(await walkFiles(root, { includeState: true })).toEqual(before);
  });

  it('fails cleanly when the disk fills up part way, and a rerun after freeing space completes', async (context) => {
    const root = await ext4('full', 32, context, ['-N', '128']);
    // No inode left but a few: the verdict counts bytes, so the export starts and runs out mid-way.
    const ballast = join(root, 'ballast');
    await mkdir(ballast);
    const made: string[] = [];
    for (;;) {
      const path = join(ballast, String(made.length));
      try {
        await (await open(path, 'w')).close();
        made.push(path);
      } catch {
        break;
      }
    }
    for (const path of made.slice(-8)) await rm(path);
    const failed = await ferry(exportArgs(large, root));
    expect(failed.code, describeRun(failed)).toBe(1);
    expect(failed.stderr).toContain('FERRY_DISK_FULL');
    const [unfinished] = await bundleDirs(root);
    expect(await exists(join(unfinished ?? '', 'bundle.json'))).toBe(false);
    await expectNoWrongFinalBlob(unfinished ?? '');
    await rm(ballast, { recursive: true });
    const rerun = expectOk(await ferry(exportArgs(large, root)));
    // The rerun finished the same directory rather than starting another.
    expect(await bundleDirs(root)).toEqual([unfinished]);
    expect(lastLine(rerun)).toBe(unfinished);
    await expectCompleteVolume(unfinished ?? '');
  });
});

/** Every blob at its final path (not `.partial`) holds the bytes its name promises. */
async function expectNoWrongFinalBlob(dir: string): Promise<void> {
  for (const name of await walkFiles(dir)) {
    if (!name.startsWith('blobs/') || name.endsWith('.partial') || name.includes('.part-')) continue;
    expect(await sha256OfFile(join(dir, name)), name).toBe(basename(name));
  }
}

describe('kill -9', () => {
  it('at random moments: nothing looks complete that is not, nothing final is partial, a rerun completes in the same directory', async () => {
    const target = join(workDir, 'killed');
    await mkdir(target);
    let interrupted = 0;
    // Spread over the run (node starts in about 0.2 s), with jitter; a run that finished before
    // its kill is checked whole and removed, so that every round starts from what a kill left.
    for (const base of [200, 300, 400, 500, 650, 800]) {
      const child = spawnFerry(exportArgs(large, target));
      const finished = collect(child, 120_000);
      await sleep(base + Math.floor(Math.random() * 100));
      child.kill('SIGKILL');
      const run = await finished;
      for (const dir of await bundleDirs(target)) {
        if (await exists(join(dir, 'bundle.json'))) {
          await expectCompleteVolume(dir);
          await rm(dir, { recursive: true });
        } else {
          await expectNoWrongFinalBlob(dir);
        }
      }
      if (run.code !== 0) interrupted += 1;
      // At most one unfinished directory: each rerun of the same plan continues it.
      expect((await bundleDirs(target)).length).toBeLessThanOrEqual(1);
    }
    expect(interrupted).toBeGreaterThan(0);
    const rerun = expectOk(await ferry(exportArgs(large, target)));
    const dirs = await bundleDirs(target);
    expect(dirs).toHaveLength(1);
    expect(lastLine(rerun)).toBe(dirs[0]);
    await expectCompleteVolume(dirs[0] ?? '');
  });
});

describe('the export job', () => {
  it('pauses and cancels like a mirror: no bundle.json, and starting it again completes the same directory', async () => {
    const engine = createEngine({ cwd: workDir });
    const target = join(workDir, 'paused');
    await mkdir(target);
    const input = { to: target, tree: large.baseDir, keyringFiles: [testKey.keyringFile], progressIntervalMs: 5 };
    for (const how of ['pause', 'cancel'] as const) {
      const job = engine.startJob('export', input);
      const events: JobEvent[] = [];
      job.subscribe((event) => {
        events.push(event);
        if (event.type === 'progress' && event.progress.step === 'export' && event.progress.filesDone > 0) job[how]();
      });
      await expect(job.result).rejects.toMatchObject({ code: 'FERRY_CANCELLED' });
      expect(events.at(-1)?.type).toBe(how === 'pause' ? 'paused' : 'cancelled');
      const [dir] = await bundleDirs(target);
      expect(await exists(join(dir ?? '', 'bundle.json'))).toBe(false);
      await expectNoWrongFinalBlob(dir ?? '');
    }
    const outcome = await engine.startJob('export', input).result;
    expect(await bundleDirs(target)).toEqual(outcome.directories);
    expect(outcome.written?.blobsKept).toBeGreaterThan(0);
    expect(outcome.verified?.bad).toEqual([]);
    // A loop device is virtual, never a drive: nothing to eject.
    expect(outcome.ejected).toMatchObject({ kind: 'not-a-drive' });
    await expectCompleteVolume(outcome.directories[0] ?? '');
  });
});
