import { execFileSync } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, type TestContext } from 'vitest';
import { renameIntoPlace } from '../../../src-main/base/files.js';
import { deadPid, useTempDirs } from '../library/helpers.js';

// renameIntoPlace across file systems: rename(2) says EXDEV, so the file is copied beside its
// final path, flushed and renamed there. A real second file system: a small tmpfs (needs root).

const tempDir = useTempDirs();
const mounted: string[] = [];
afterEach(() => {
  for (const mountPoint of mounted.splice(0)) execFileSync('umount', [mountPoint], { stdio: 'pipe' });
});

async function otherFileSystem(context: TestContext): Promise<string> {
  const mountPoint = join(await tempDir('other-fs'), 'mnt');
  await mkdir(mountPoint);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint], { stdio: 'pipe' });
  } catch (error) {
    context.skip(`cannot mount a tmpfs: ${error instanceof Error ? error.message.trim() : String(error)}`);
  }
  mounted.push(mountPoint);
  return mountPoint;
}

describe('renameIntoPlace onto another file system', () => {
  it('copies, flushes and renames beside the final path, then removes the source and abandoned copies', async (context) => {
    const other = await otherFileSystem(context);
    const source = join(await tempDir('source'), 'finished');
    await writeFile(source, 'verified bytes');
    const finalPath = join(other, 'noble', 'squashfs');
    await mkdir(join(other, 'noble'));
    // Left by a run killed during its copy; its writer is gone.
    const abandoned = join(other, 'noble', `.ferry-copy.${String(deadPid())}.0123456789abcdef.tmp`);
    await writeFile(abandoned, 'half a co');

    await renameIntoPlace(source, finalPath);

    expect(await readFile(finalPath, 'utf8')).toBe('verified bytes');
    expect(await readdir(join(other, 'noble'))).toEqual(['squashfs']);
    expect(await readdir(join(source, '..'))).toEqual([]);
  });

  it('reports a copy that does not fit as FERRY_DISK_FULL and leaves neither the copy nor a final file', async (context) => {
    const other = await otherFileSystem(context);
    const source = join(await tempDir('source'), 'finished');
    await writeFile(source, Buffer.alloc(2 * 1024 * 1024, 7));
    await expect(renameIntoPlace(source, join(other, 'big'))).rejects.toMatchObject({ code: 'FERRY_DISK_FULL' });
    expect(await readdir(other)).toEqual([]);
    expect(await readFile(source)).toHaveLength(2 * 1024 * 1024);
  });
});
