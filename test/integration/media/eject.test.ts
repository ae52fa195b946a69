import { execFile, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { ejectDrive, runCommand, type CommandRunner, type EjectOutcome } from '../../../src-main/media/index.js';
import { holdOpen, isMounted, mountExt4, mountFat32, requireDisk, unmountDisk, type MountedDisk } from '../../support/fuse-disks.js';

// ejectDrive on real mounts made here: a loop-mounted ext4 and a FUSE FAT32 are unmounted for real
// (checked in /proc/self/mountinfo), a file held open by a child process makes the drive busy
// naming that process, and a folder on the system disk is not a drive. udisksctl is not installed
// on the build machine: its answers are fed through the runner, in the form udisks 2 prints them,
// while the mount and the unmount stay real. Needs root, loop devices and FUSE; where mounting is
// refused the tests are skipped, saying why.

const execFileAsync = promisify(execFile);

let workDir: string;
const mounted: MountedDisk[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'ferry-eject-'));
});

afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const disk of mounted.splice(0)) await unmountDisk(disk);
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

async function mountedDisk(context: TestContext, mount: () => Promise<MountedDisk>): Promise<string> {
  const disk = await mount();
  mounted.push(disk);
  return requireDisk(disk, context);
}

/** The real runner, except that udisksctl answers as `udisks` says (and unmounts for real when told to succeed). */
function withUdisks(answer: (args: readonly string[]) => Promise<{ stdout: string; stderr: string; exitCode: number }>): { run: CommandRunner; calls: string[] } {
  const calls: string[] = [];
  const run: CommandRunner = async (file, args) => {
    calls.push([file, ...args].join(' '));
    return file === 'udisksctl' ? answer(args) : runCommand(file, args);
  };
  return { run, calls };
}


describe('ejectDrive on Linux, for real', () => {
  it('unmounts a loop-mounted ext4 with umount (no udisksctl here), given a folder on it', async (context) => {
    const mountPoint = await mountedDisk(context, () => mountExt4(workDir, 'ext4 drive', 16));
    const folder = join(mountPoint, 'FERRY', '20261130T054000Z-3fa9c2d1');
    await mkdir(folder, { recursive: true });
    const outcome = await ejectDrive({ mountPoint: folder });
    expect(outcome).toMatchObject({ kind: 'ejected', mountPoint, tool: 'umount', poweredOff: false });
    expect(await isMounted(mountPoint)).toBe(false);
  });

  it('unmounts a FUSE FAT32, which names no device', async (context) => {
    const mountPoint = await mountedDisk(context, () => mountFat32(workDir, 'fat32', 40));
    await writeFile(join(mountPoint, 'README.TXT'), 'written\n');
    const outcome = await ejectDrive({ mountPoint });
    expect(outcome).toEqual({ kind: 'ejected', mountPoint, device: null, poweredOff: false, tool: 'umount' });
    expect(await isMounted(mountPoint)).toBe(false);
  });

  it('reports a busy drive naming the process that holds a file on it, and ejects once it lets go', async (context) => {
    const mountPoint = await mountedDisk(context, () => mountExt4(workDir, 'busy', 16));
    const file = join(mountPoint, 'held.txt');
    await writeFile(file, 'held\n');
    const holder = await holdOpen(children, file);
    const busy = await ejectDrive({ mountPoint });
    expect(busy).toMatchObject({ kind: 'busy', mountPoint, tool: 'umount', holders: [{ pid: holder.pid, command: 'tail' }] });
    expect(await isMounted(mountPoint)).toBe(true);

    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.once('exit', resolve));
    expect((await ejectDrive({ mountPoint })).kind).toBe('ejected');
    expect(await isMounted(mountPoint)).toBe(false);
  });

  it('says a folder on the system disk is not a drive, and runs nothing', async () => {
    const calls: string[] = [];
    const outcome = await ejectDrive({
      mountPoint: workDir,
      run: (file, args) => {
        calls.push([file, ...args].join(' '));
        return runCommand(file, args);
      },
    });
    expect(outcome.kind).toBe('not-a-drive');
    expect(calls).toEqual([]);
  });

  it('uses udisksctl where it runs: unmount, then power-off (refused for a loop device: still ejected, not powered off)', async (context) => {
    const mountPoint = await mountedDisk(context, () => mountExt4(workDir, 'udisks', 16));
    const { run, calls } = withUdisks(async (args) => {
      if (args[0] === 'unmount') {
        await execFileAsync('umount', [mountPoint]);
        return { stdout: `Unmounted ${args[2]}.\n`, stderr: '', exitCode: 0 };
      }
      return { stdout: '', stderr: `Error powering off drive: The given block device '${args[2]}' is not a drive\n`, exitCode: 1 };
    });
    const outcome: EjectOutcome = await ejectDrive({ mountPoint, run });
    expect(outcome).toMatchObject({ kind: 'ejected', mountPoint, tool: 'udisksctl', poweredOff: false });
    const device = outcome.kind === 'ejected' ? outcome.device : null;
    expect(device).toMatch(/^\/dev\/loop\d+$/);
    expect(calls).toEqual(['sync', `udisksctl unmount -b ${device}`, `udisksctl power-off -b ${device}`]);
    expect(await isMounted(mountPoint)).toBe(false);
  });

  it("reads udisks' DeviceBusy as busy, and falls back to umount when the udisks daemon is not running", async (context) => {
    const mountPoint = await mountedDisk(context, () => mountExt4(workDir, 'udisks busy', 16));
    const busy = await ejectDrive({
      mountPoint,
      run: withUdisks((args) =>
        Promise.resolve({
          stdout: '',
          stderr: `Error unmounting ${args[2]}: GDBus.Error:org.freedesktop.UDisks2.Error.DeviceBusy: Error unmounting ${args[2]}: target is busy\n`,
          exitCode: 1,
        }),
      ).run,
    });
    expect(busy).toMatchObject({ kind: 'busy', mountPoint, tool: 'udisksctl', holders: [] });
    expect(await isMounted(mountPoint)).toBe(true);

    const { run, calls } = withUdisks(() =>
      Promise.resolve({
        stdout: '',
        stderr: 'Error connecting to the udisks daemon: Error calling StartServiceByName for org.freedesktop.UDisks2: GDBus.Error:org.freedesktop.DBus.Error.ServiceUnknown\n',
        exitCode: 1,
      }),
    );
    expect(await ejectDrive({ mountPoint, run })).toMatchObject({ kind: 'ejected', tool: 'umount' });
    expect(calls.at(-1)).toBe(`umount ${mountPoint}`);
    expect(await isMounted(mountPoint)).toBe(false);
  });
});
