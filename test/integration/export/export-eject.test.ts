import type { ChildProcess } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { holdOpen, isMounted, mountExt4, mountFat32, requireDisk, unmountDisk, type MountedDisk } from '../../support/fuse-disks.js';
import { runFerry, type FerryRun } from '../../support/run-ferry.js';
import { generateStream, type GeneratedStream } from '../../support/stream-generator.js';
import { KIB, describeRun, makeKey, makeWorkDir, nobleShape, removeQuietly, type TestKey } from '../mirror/helpers.js';
import { bundleDirs, expectOk, lastLine } from './helpers.js';

// `ferry export` ejects the drive it wrote to, once written and verified (issue 9 §3), on real
// mounts made here: a FUSE FAT32 and a loop-mounted ext4, unmounted for real. The drive list is the
// one seam: loop devices are virtual, never offered as drives, so the CLI runs with an `lsblk` on
// its PATH that prints a recorded lsblk --json answer naming the test's loop device and mount point
// as a USB stick. sync, umount and /proc stay real. Needs root, loop devices and FUSE; where
// mounting is refused the tests are skipped, saying why.

let workDir: string;
let testKey: TestKey;
let stream: GeneratedStream;
let fakeBin: string;
const mounted: MountedDisk[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  workDir = await makeWorkDir('export-eject');
  testKey = await makeKey(workDir, 'Export eject test');
  const sizes = { squashfs: 96 * KIB, 'boot-initrd': 40 * KIB, 'boot-kernel': 8 * KIB, manifest: 1 * KIB };
  stream = await generateStream(join(workDir, 'stream'), { ...nobleShape(['amd64'], sizes), signingKey: testKey.key });
  fakeBin = join(workDir, 'bin');
  await mkdir(fakeBin);
  await writeFile(join(fakeBin, 'lsblk'), `#!/bin/sh\nexec cat '${join(workDir, 'lsblk.json')}'\n`);
  await chmod(join(fakeBin, 'lsblk'), 0o755);
});

afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const disk of mounted.splice(0)) await unmountDisk(disk);
});

afterAll(async () => {
  await removeQuietly(workDir);
});

/** What lsblk --json --bytes prints for a USB stick whose one partition is `device`, mounted at `mountPoint`. */
async function recordStick(device: string, fstype: string, mountPoint: string): Promise<void> {
  const node = (fields: Record<string, unknown>): Record<string, unknown> => ({
    rm: true, ro: false, hotplug: true, vendor: null, model: null, fstype: null, label: null, mountpoints: [null], fsavail: null, pkname: null, tran: null, ...fields,
  });
  const answer = {
    blockdevices: [
      node({
        name: 'sdx', kname: 'sdx', path: '/dev/sdx', type: 'disk', size: 64 * 1024 * 1024, tran: 'usb', vendor: 'Recorded', model: 'USB stick',
        children: [node({ name: device.replace('/dev/', ''), kname: device.replace('/dev/', ''), path: device, type: 'part', size: 64 * 1024 * 1024, fstype, label: 'FERRYTEST', mountpoints: [mountPoint], fsavail: 60 * 1024 * 1024, pkname: 'sdx' })],
      }),
    ],
  };
  await writeFile(join(workDir, 'lsblk.json'), JSON.stringify(answer, null, 2));
}

async function mountedDisk(context: TestContext, mount: () => Promise<MountedDisk>): Promise<{ mountPoint: string; device: string }> {
  const disk = await mount();
  mounted.push(disk);
  const mountPoint = requireDisk(disk, context);
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  const source = mountinfo.split('\n').find((line) => line.split(' ')[4] === mountPoint)?.split(' - ')[1]?.split(' ')[1];
  return { mountPoint, device: disk.ok && disk.loopDevice !== undefined ? disk.loopDevice : (source ?? '') };
}

const ferryWithDrives = (args: readonly string[]): Promise<FerryRun> =>
  runFerry(['export', '--tree', stream.baseDir, '--keyring', testKey.keyringFile, ...args], { timeoutMs: 120_000, env: { PATH: `${fakeBin}:${process.env.PATH ?? ''}` } });

interface ExportResult {
  exitCode: number;
  verified: { bad: unknown[] } | null;
  ejected: { kind: string; mountPoint?: string; holders?: Array<{ pid: number; command: string }>; reason?: string } | null;
}

function resultOf(run: FerryRun): ExportResult {
  return JSON.parse(lastLine(run)) as ExportResult;
}


describe('ferry export ejects the drive it wrote to', () => {
  it('writes, verifies and unmounts a FUSE FAT32 stick for real, each said on its own line', async (context) => {
    const { mountPoint, device } = await mountedDisk(context, () => mountFat32(workDir, 'fat32-stick', 40));
    await recordStick(device, 'vfat', mountPoint);
    const run = expectOk(await ferryWithDrives(['--to', mountPoint]));
    expect(run.stderr).toMatch(/^Written: \d+ file\(s\)/m);
    expect(run.stderr).toMatch(/^Verified: \d+ file\(s\)/m);
    expect(run.stderr).toContain(`Written and verified; unmounted ${mountPoint}: the drive can be removed.`);
    expect(lastLine(run)).toMatch(new RegExp(`^${mountPoint}/FERRY/\\d{8}T\\d{6}Z-[0-9a-f]{8}$`));
    expect(await isMounted(mountPoint)).toBe(false);
  });

  it('says which process keeps a busy drive mounted (exit 1), the bundle itself complete', async (context) => {
    const { mountPoint, device } = await mountedDisk(context, () => mountExt4(workDir, 'busy-stick', 32));
    await recordStick(device, 'ext4', mountPoint);
    const held = join(mountPoint, 'notes.txt');
    await writeFile(held, 'an operator left this open\n');
    const holder = await holdOpen(children, held);
    const run = await ferryWithDrives(['--to', mountPoint, '--json']);
    expect(run.code, describeRun(run)).toBe(1);
    const result = resultOf(run);
    expect(result).toMatchObject({ exitCode: 1, verified: { bad: [] }, ejected: { kind: 'busy', mountPoint, holders: [{ pid: holder.pid, command: 'tail' }] } });
    expect(await isMounted(mountPoint)).toBe(true);
    const [dir] = await bundleDirs(mountPoint);
    expect(await readFile(join(dir ?? '', 'bundle.json'), 'utf8')).toContain('"format": "stream-ferry-bundle"');

    // The same words without --json (the plan matches: the rerun keeps every blob).
    const plain = await ferryWithDrives(['--to', mountPoint]);
    expect(plain.code, describeRun(plain)).toBe(1);
    expect(plain.stderr).toContain(`Written and verified; eject failed: the drive is busy (process ${holder.pid} (tail) holds it); close it, then eject ${mountPoint} before removing the drive.`);
  });

  it('leaves the drive mounted with --no-eject, and a plain folder is not a drive', async (context) => {
    const { mountPoint, device } = await mountedDisk(context, () => mountFat32(workDir, 'kept-stick', 40));
    await recordStick(device, 'vfat', mountPoint);
    const run = expectOk(await ferryWithDrives(['--to', mountPoint, '--no-eject', '--json']));
    expect(resultOf(run).ejected).toEqual({ kind: 'not-requested' });
    expect(await isMounted(mountPoint)).toBe(true);

    const folder = join(workDir, 'plain-folder');
    await mkdir(folder);
    const plain = expectOk(await ferryWithDrives(['--to', folder, '--json']));
    expect(resultOf(plain).ejected).toMatchObject({ kind: 'not-a-drive', reason: expect.stringContaining('no removable drive is mounted at') as unknown });
  });
});
