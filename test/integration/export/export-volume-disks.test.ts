import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { mountExfat, mountFat32, mountForTest, mountNtfs, unmountDisk, type MountedDisk } from '../../support/fuse-disks.js';
import { runFerry, type FerryRun } from '../../support/run-ferry.js';
import { generateStream, type GeneratedStream } from '../../support/stream-generator.js';
import { ELEVEN_MIB_SIZES, KIB, describeRun, makeKey, makeWorkDir, nobleShape, removeQuietly, sha256OfFile, type TestKey } from '../mirror/helpers.js';
import { bundleDirs, expectCompleteVolume, expectOk } from './helpers.js';

// Issue 9 §6 on real file systems: two drives of different file systems (FAT32 and exFAT through
// FUSE) as the two volumes of one export, imported in reverse order; and a bundle written to exFAT
// and to NTFS (ntfs-3g -o windows_names, which refuses names Windows cannot hold) that verifies
// there. `ferry export --volume-size` writes volume N to <PATH>/volume-N/, so each drive is
// mounted at its volume's folder: one drive per volume, with no option beyond --volume-size.

let workDir: string;
let testKey: TestKey;
/** About 11 MiB: two volumes at --volume-size 8M. */
let stream: GeneratedStream;
const mounts: MountedDisk[] = [];

/** fusefat writes a few MB/s: the FAT32 volume alone takes about a minute on a loaded machine. */
const VOLUMES_TIMEOUT_MS = 300_000;

const ferry = (args: readonly string[]): Promise<FerryRun> => runFerry(args, { timeoutMs: VOLUMES_TIMEOUT_MS });

beforeAll(async () => {
  workDir = await makeWorkDir('export-volume-disks');
  testKey = await makeKey(workDir, 'Volume disks test');
  stream = await generateStream(join(workDir, 'stream'), { ...nobleShape(['amd64', 'arm64'], ELEVEN_MIB_SIZES), signingKey: testKey.key });
});

afterAll(async () => {
  for (const mounted of mounts) await unmountDisk(mounted);
  await removeQuietly(workDir);
});

const disk = (mount: (dir: string, name: string) => Promise<MountedDisk>, name: string, context: TestContext): Promise<string> => mountForTest(mounts, mount, workDir, name, context);

describe('volumes on two real file systems', () => {
  it('FAT32 and exFAT drives take one volume each; each verifies alone; ferry import takes them in reverse order', async (context) => {
    await mkdir(join(workDir, 'drives'));
    const first = await disk(mountFat32, 'drives/volume-1', context);
    const second = await disk(mountExfat, 'drives/volume-2', context);
    const run = expectOk(await ferry(['export', '--to', join(workDir, 'drives'), '--tree', stream.baseDir, '--keyring', testKey.keyringFile, '--volume-size', '8M', '--no-eject']));
    const [one] = await bundleDirs(first);
    const [two] = await bundleDirs(second);
    if (one === undefined || two === undefined) throw new Error(`one bundle on each drive:\n${describeRun(run)}`);
    const manifests = [await expectCompleteVolume(one), await expectCompleteVolume(two)];
    expect(manifests.map((manifest) => manifest.volume)).toEqual([
      { index: 1, count: 2 },
      { index: 2, count: 2 },
    ]);
    expect(manifests.every((manifest) => manifest.blobs.length > 0)).toBe(true);
    for (const dir of [one, two]) {
      // Alone, a volume is valid but incomplete (exit 1 names what the other volume holds).
      const alone = await ferry(['verify', dir, '--keyring', testKey.keyringFile]);
      expect(alone.code, describeRun(alone)).toBe(1);
      expect(alone.stdout + alone.stderr).toMatch(/volume/i);
    }
    const both = await ferry(['verify', two, one, '--keyring', testKey.keyringFile]);
    expect(both.code, describeRun(both)).toBe(0);

    const target = join(workDir, 'imported');
    expectOk(await ferry(['import', two, one, '--into', target, '--keyring', testKey.keyringFile]));
    // By sha256: a deep compare of megabyte Buffers takes minutes.
    for (const file of manifests[0]?.files ?? []) expect(await sha256OfFile(join(target, file.path)), file.path).toBe(await sha256OfFile(join(stream.baseDir, file.path)));
  }, VOLUMES_TIMEOUT_MS);

  it.for([
    ['exfat', mountExfat],
    ['ntfs', mountNtfs],
  ] as const)('a bundle written to %s verifies there', async ([name, mount], context) => {
    const root = await disk(mount, `bundle-${name}`, context);
    const run = expectOk(await ferry(['export', '--to', root, '--tree', stream.baseDir, '--keyring', testKey.keyringFile, '--part-size', `${512 * KIB}`, '--no-eject']));
    expect(run.stderr).toMatch(/Verified: \d+ file\(s\)/);
    const [dir] = await bundleDirs(root);
    const manifest = await expectCompleteVolume(dir ?? '');
    expect(manifest.files.some((file) => file.path.includes(':'))).toBe(true);
    const verified = await ferry(['verify', dir ?? '', '--keyring', testKey.keyringFile]);
    expect(verified.code, describeRun(verified)).toBe(0);
  });
});
