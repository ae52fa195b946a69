import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestContext } from 'vitest';
import { mountSmallExt4, unmount } from './loop-disk.js';

// Small, real FAT32, exFAT and NTFS file systems through Debian's FUSE drivers (the kernel here has
// no vfat/exfat/ntfs3), beside loop-disk.ts's ext4: one helper per file system kind, each making an
// image in the test's work dir, formatting it with a label and mounting it. They need root, loop
// devices and /dev/fuse; where mounting is refused the tests that need it are skipped, saying why.

const execFileAsync = promisify(execFile);

export type DiskKind = 'fat32' | 'exfat' | 'ntfs' | 'ext4';

export type MountedDisk =
  | { ok: true; kind: DiskKind; mountPoint: string; image: string; loopDevice: string | undefined }
  | { ok: false; kind: DiskKind; reason: string };

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message.trim() : String(error);
}

async function prepare(workDir: string, name: string, sizeMiB: number): Promise<{ image: string; mountPoint: string }> {
  const image = join(workDir, `${name}.img`);
  const mountPoint = join(workDir, name);
  await mkdir(mountPoint, { recursive: true });
  await execFileAsync('truncate', ['-s', `${sizeMiB}M`, image]);
  return { image, mountPoint };
}

async function attempt(kind: DiskKind, steps: () => Promise<MountedDisk>): Promise<MountedDisk> {
  try {
    return await steps();
  } catch (error) {
    console.warn(`Tests that need it will be skipped: cannot mount a small ${kind} file system (${reasonOf(error)}).`);
    return { ok: false, kind, reason: reasonOf(error) };
  }
}

async function attachLoop(image: string): Promise<string> {
  return (await execFileAsync('losetup', ['--find', '--show', image])).stdout.trim();
}

/**
 * Formats a `sizeMiB` image with `mkfs` (the image path is appended), attaches it to a loop
 * device and mounts that with `mountCommand DEVICE MOUNTPOINT`; detaches the device if mounting fails.
 */
function mountThroughLoop(kind: DiskKind, workDir: string, name: string, sizeMiB: number, mkfs: readonly string[], mountCommand: readonly string[]): Promise<MountedDisk> {
  return attempt(kind, async () => {
    const { image, mountPoint } = await prepare(workDir, name, sizeMiB);
    const [mkfsProgram = '', ...mkfsArgs] = mkfs;
    await execFileAsync(mkfsProgram, [...mkfsArgs, image]);
    const loopDevice = await attachLoop(image);
    const [mountProgram = '', ...mountArgs] = mountCommand;
    try {
      await execFileAsync(mountProgram, [...mountArgs, loopDevice, mountPoint]);
    } catch (error) {
      await execFileAsync('losetup', ['-d', loopDevice]).catch(() => undefined);
      throw error;
    }
    return { ok: true, kind, mountPoint, image, loopDevice };
  });
}

/** FAT32 (`mkfs.vfat -F 32`, at least 33 MiB) on a loop device, mounted with `fusefat -o rw+`. */
export function mountFat32(workDir: string, name: string, sizeMiB = 64, label = 'FERRYTEST'): Promise<MountedDisk> {
  return mountThroughLoop('fat32', workDir, name, sizeMiB, ['mkfs.vfat', '-F', '32', '-n', label], ['fusefat', '-o', 'rw+']);
}

/** exFAT (`mkfs.exfat`) on a loop device, mounted with `mount.exfat-fuse`. */
export function mountExfat(workDir: string, name: string, sizeMiB = 64, label = 'FERRYTEST'): Promise<MountedDisk> {
  return mountThroughLoop('exfat', workDir, name, sizeMiB, ['mkfs.exfat', '-L', label], ['mount.exfat-fuse']);
}

/** NTFS (`mkntfs -F -Q`) on a loop device, mounted with `ntfs-3g -o windows_names` (refuses names Windows cannot hold). */
export function mountNtfs(workDir: string, name: string, sizeMiB = 64, label = 'FERRYTEST'): Promise<MountedDisk> {
  return mountThroughLoop('ntfs', workDir, name, sizeMiB, ['mkntfs', '-F', '-Q', '-L', label], ['ntfs-3g', '-o', 'windows_names']);
}

/** ext4 through loop-disk.ts (`mount -o loop`: the kernel attaches and detaches the loop device). */
export async function mountExt4(workDir: string, name: string, sizeMiB = 64): Promise<MountedDisk> {
  const mounted = await mountSmallExt4(workDir, name, sizeMiB);
  return mounted.ok
    ? { ok: true, kind: 'ext4', mountPoint: mounted.mountPoint, image: join(workDir, `${name}.img`), loopDevice: undefined }
    : { ok: false, kind: 'ext4', reason: mounted.reason };
}

export const mountDisk: Record<DiskKind, (workDir: string, name: string) => Promise<MountedDisk>> = {
  fat32: (workDir, name) => mountFat32(workDir, name),
  exfat: (workDir, name) => mountExfat(workDir, name),
  ntfs: (workDir, name) => mountNtfs(workDir, name),
  ext4: (workDir, name) => mountExt4(workDir, name),
};

/** Whether `mountPoint` is mounted now, by /proc/self/mountinfo (where spaces are written \\040). */
export async function isMounted(mountPoint: string): Promise<boolean> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  return mountinfo.split('\n').some((line) => line.split(' ')[4] === mountPoint.replace(/ /g, '\\040'));
}

/**
 * Unmounts (lazily if busy) and detaches the loop device this helper attached. A disk the test
 * has unmounted itself (an eject) only has its loop device detached.
 */
export async function unmountDisk(mounted: MountedDisk): Promise<void> {
  if (!mounted.ok) return;
  const stillMounted = await isMounted(mounted.mountPoint);
  if (mounted.kind === 'ext4') {
    if (stillMounted) await unmount({ ok: true, mountPoint: mounted.mountPoint });
    return;
  }
  if (stillMounted) await execFileAsync('umount', [mounted.mountPoint]).catch(() => execFileAsync('umount', ['-l', mounted.mountPoint]));
  if (mounted.loopDevice !== undefined) {
    // A FUSE daemon may still hold the device for a moment after umount returns.
    for (let attempt = 0; attempt < 20; attempt += 1) {
      try {
        await execFileAsync('losetup', ['-d', mounted.loopDevice]);
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }
}

/** Skips the running test, printing why, where this machine cannot mount the file system. */
export function requireDisk(mounted: MountedDisk, context: TestContext): string {
  if (!mounted.ok) context.skip(`cannot mount a small ${mounted.kind} file system: ${mounted.reason}`);
  return mounted.mountPoint;
}

/**
 * A child process (`tail -f`) holding `file` open, once /proc shows the descriptor: what keeps a
 * drive busy. It is added to `children`, which the test kills afterwards.
 */
export async function holdOpen(children: ChildProcess[], file: string): Promise<ChildProcess> {
  const child = spawn('tail', ['-f', file], { stdio: 'ignore' });
  children.push(child);
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const fds = await readdir(`/proc/${child.pid}/fd`).catch(() => []);
    const targets = await Promise.all(fds.map((fd) => readlink(`/proc/${child.pid}/fd/${fd}`).catch(() => '')));
    if (targets.includes(file)) return child;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`tail never opened ${file}`);
}

/**
 * Mounts a disk with `mount` (one of the helpers above) at `<workDir>/<name>`, records it in
 * `mounted` for the afterAll that unmounts, and answers its mount point; skips the test with the
 * reason where the file system cannot be mounted here.
 */
export async function mountForTest(mounted: MountedDisk[], mount: (workDir: string, name: string) => Promise<MountedDisk>, workDir: string, name: string, context: TestContext): Promise<string> {
  const disk = await mount(workDir, name);
  mounted.push(disk);
  return requireDisk(disk, context);
}
