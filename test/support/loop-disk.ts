import { execFile } from 'node:child_process';
import { mkdir, open, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestContext } from 'vitest';

// A small, real ext4 file system on a loop device, for the full-disk tests. Mounting needs root and
// loop devices; where it is refused, the tests that need it are skipped, saying why.

const execFileAsync = promisify(execFile);
const KIB = 1024;
const MIB = 1024 * KIB;

export type Mounted = { ok: true; mountPoint: string } | { ok: false; reason: string };

/**
 * Makes `<workDir>/<name>.img` of `sizeMiB` and mounts it at `mountPoint` (default `<workDir>/<name>`,
 * created with its parents). `-m 0`: no blocks
 * reserved for root, so free space is the same for the test and for ferry. Below 512 MiB mke2fs
 * picks 1 KiB blocks (its "small" type), which is what lets a 4 KiB page of a memory-mapped file
 * be partly backed: the case behind SQLite's SIGBUS on a nearly full disk.
 */
export async function mountSmallExt4(
  workDir: string,
  name: string,
  sizeMiB: number,
  mkfsOptions: readonly string[] = [],
  mountPoint = join(workDir, name),
): Promise<Mounted> {
  const image = join(workDir, `${name}.img`);
  try {
    await mkdir(mountPoint, { recursive: true });
    await execFileAsync('truncate', ['-s', `${sizeMiB}M`, image]);
    await execFileAsync('mkfs.ext4', ['-q', '-m', '0', ...mkfsOptions, image]);
    await execFileAsync('mount', ['-o', 'loop', image, mountPoint]);
    return { ok: true, mountPoint };
  } catch (error) {
    const reason = error instanceof Error ? error.message.trim() : String(error);
    console.warn(`Tests that need it will be skipped: cannot loop-mount a small ext4 file system (${reason}).`);
    return { ok: false, reason };
  }
}

export async function unmount(mounted: Mounted): Promise<void> {
  if (!mounted.ok) return;
  await execFileAsync('umount', [mounted.mountPoint]).catch(() => execFileAsync('umount', ['-l', mounted.mountPoint]));
}

/** Skips the running test, printing why, where this machine cannot mount the small file system. */
export function requireMount(mounted: Mounted, context: TestContext): string {
  if (!mounted.ok) context.skip(`cannot loop-mount a small ext4 file system: ${mounted.reason}`);
  return mounted.mountPoint;
}

export async function freeBytes(dir: string): Promise<number> {
  const stats = await statfs(dir);
  return stats.bavail * stats.bsize;
}

/** Writes zeros to `path` until `bytes` are written or, with Infinity, until no block is left. */
export async function fillBlocks(path: string, bytes: number): Promise<number> {
  const handle = await open(path, 'a');
  let written = 0;
  try {
    for (const chunkSize of [MIB, 4 * KIB, KIB]) {
      const chunk = Buffer.alloc(chunkSize);
      while (written + chunkSize <= bytes) {
        try {
          await handle.write(chunk, 0, chunkSize);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
          break;
        }
        written += chunkSize;
      }
    }
    await handle.sync().catch(() => undefined);
  } finally {
    await handle.close();
  }
  return written;
}

/** Appends to `ballast` until at most `bytesLeft` are free on the file system of `dir`; answers what is free. */
export async function fillUntilFree(dir: string, ballast: string, bytesLeft: number): Promise<number> {
  await fillBlocks(ballast, Math.max(0, (await freeBytes(dir)) - bytesLeft));
  // Indirect and extent blocks of the ballast itself take a little more; top up by single blocks.
  for (let free = await freeBytes(dir); free > bytesLeft; free = await freeBytes(dir)) {
    if ((await fillBlocks(ballast, KIB)) === 0) break;
  }
  return freeBytes(dir);
}
