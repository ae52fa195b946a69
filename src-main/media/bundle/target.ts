// Where an export goes: the file system holding a target folder, its type and its free space,
// read before anything is written (issue 9 §2: the verdict comes first).
import { execFile } from 'node:child_process';
import { realpath, stat, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { lstatIfExists, withFileErrors } from '../../base/files.js';
import { filesystemKind, type FilesystemKind } from '../fs-rules.js';
import { mountOf, readMounts } from '../mounts.js';

const execFileAsync = promisify(execFile);

export interface TargetFilesystem {
  /** The nearest folder of the target that exists (the target itself once created). */
  existing: string;
  mountPoint: string;
  /** The type as the kernel names it (`ext4`, `vfat`), or as blkid names a FUSE mount's device. */
  fsType: string;
  /** Its rules (media/fs-rules.ts), or null for a type they do not describe (tmpfs, xfs, btrfs...). */
  kind: FilesystemKind | null;
  /**
   * Bytes an unprivileged writer may still use (statfs f_bavail × f_bsize); null where the file
   * system reports no size at all (fusefat answers statfs with zero blocks in total).
   */
  freeBytes: number | null;
  /** The allocation unit (statfs f_bsize): every file takes whole units. */
  blockSize: number;
  /** The file system's device number (stat st_dev): the same for every mount of one file system, bind mounts included. */
  device: number;
}

/**
 * The file system a target folder is (or will be) on: its mount from /proc/self/mountinfo (the
 * longest mount point holding the folder's real path), and for FUSE mounts (`fuse.*`, `fuseblk`:
 * fusefat, exfat-fuse, ntfs-3g) the type blkid reads from the mounted device, since the kernel
 * knows only "fuse". Free space from statfs. Elsewhere than Linux the type is unknown (null kind).
 * Throws FERRY_IO naming the path when it cannot be inspected.
 */
export async function inspectTarget(target: string): Promise<TargetFilesystem> {
  let existing = target;
  while ((await lstatIfExists(existing)) === undefined && dirname(existing) !== existing) existing = dirname(existing);
  const real = await withFileErrors(existing, 'inspect', () => realpath(existing));
  const stats = await withFileErrors(existing, 'read the free space of', () => statfs(real));
  const { dev } = await withFileErrors(existing, 'inspect', () => stat(real));
  const mount = process.platform === 'linux' ? mountOf(await readMounts().catch(() => []), real) : undefined;
  const fsType = mount === undefined ? 'unknown' : await fuseDeviceType(mount.fsType, mount.source);
  return {
    existing,
    mountPoint: mount?.mountPoint ?? real,
    fsType,
    kind: filesystemKind(fsType),
    freeBytes: stats.blocks === 0 ? null : stats.bavail * stats.bsize,
    blockSize: stats.bsize,
    device: dev,
  };
}

/** FUSE drivers by the subtype they mount with (`fuse.<subtype>`), as the file system they serve. */
const FUSE_SUBTYPES: Readonly<Record<string, string>> = { fusefat: 'vfat', 'exfat-fuse': 'exfat', exfat: 'exfat', 'ntfs-3g': 'ntfs', ntfs: 'ntfs' };

async function fuseDeviceType(fsType: string, source: string): Promise<string> {
  if (!fsType.startsWith('fuse')) return fsType;
  // fusefat names no device (its source is "fusefat"): its subtype says what it serves.
  if (!source.startsWith('/dev/')) return FUSE_SUBTYPES[fsType.replace(/^fuse\./, '')] ?? fsType;
  try {
    const { stdout } = await execFileAsync('blkid', ['-p', '-o', 'value', '-s', 'TYPE', source], { timeout: 10_000 });
    const type = stdout.trim();
    return type === '' ? fsType : type;
  } catch {
    // No blkid or no access to the device: the type stays the kernel's, whose rules are unknown.
    return fsType;
  }
}
