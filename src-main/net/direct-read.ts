// Reading a file back from the device rather than from the page cache, to prove what a drive holds
// after an export (issue 9 §3). Linux: O_DIRECT reads into the same page-aligned staging buffers
// the download sink writes from (file-sink.ts). Where O_DIRECT is refused (tmpfs, many FUSE file
// systems, macOS and Windows, which have no O_DIRECT flag) the file is read normally, and the
// answer says so: a normal read right after writing may be served from memory.
import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { withFileErrors } from '../base/files.js';
import { hashOpenFile } from '../base/hashing.js';
import { pumpChunks } from '../base/pipeline.js';
import { returnStage, takeStage } from './file-sink.js';

/** How a file was read back: around the page cache (`direct`) or through it (`cached`). */
export type ReadBackMethod = 'direct' | 'cached';

export interface ReadBack {
  sha256: string;
  /** Bytes read. */
  size: number;
  method: ReadBackMethod;
}

/**
 * sha256 and size of the file at `path`, read with O_DIRECT in 2 MiB aligned reads where the
 * platform and file system allow it (a file system that opens with O_DIRECT but refuses the read,
 * EINVAL, is read again normally). `onBytes` is told of each chunk (negative when a refused direct
 * read restarts from zero). Throws FERRY_IO naming the path, FERRY_CANCELLED between chunks.
 */
export async function readBackFile(path: string, options: { signal?: AbortSignal; onBytes?: (delta: number) => void } = {}): Promise<ReadBack> {
  return withFileErrors(path, 'read back', async () => {
    const direct = await openDirectForReading(path);
    if (direct !== undefined) {
      try {
        return await readDirect(direct, options);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error;
      } finally {
        await direct.handle.close();
      }
    }
    const handle = await open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    try {
      const hash = createHash('sha256');
      const size = await hashOpenFile(handle, [hash], { signal: options.signal });
      options.onBytes?.(size);
      return { sha256: hash.digest('hex'), size, method: 'cached' };
    } finally {
      await handle.close();
    }
  });
}

async function openDirectForReading(path: string): Promise<{ handle: FileHandle } | undefined> {
  const flag = fsConstants.O_DIRECT as number | undefined;
  if (flag === undefined) return undefined;
  try {
    return { handle: await open(path, fsConstants.O_RDONLY | flag | fsConstants.O_NOFOLLOW) };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EINVAL') return undefined;
    throw error;
  }
}

async function readDirect(direct: { handle: FileHandle }, options: { signal?: AbortSignal; onBytes?: (delta: number) => void }): Promise<ReadBack> {
  // Two aligned stages: the drive reads the next while this thread hashes the last.
  const stages = [takeStage(), takeStage()];
  const hash = createHash('sha256');
  let position = 0;
  try {
    // Whole aligned lengths at aligned offsets; the read at the end of the file comes back short.
    await pumpChunks({
      read: async (buffer, length, offset) => (await direct.handle.read(buffer, 0, length, offset)).bytesRead,
      shortReadEnds: true,
      inspect: (chunk) => {
        hash.update(chunk);
        position += chunk.length;
        options.onBytes?.(chunk.length);
      },
      buffers: stages,
      signal: options.signal,
    });
  } catch (error) {
    if (position > 0) options.onBytes?.(-position);
    throw error;
  } finally {
    for (const stage of stages) returnStage(stage);
  }
  return { sha256: hash.digest('hex'), size: position, method: 'direct' };
}
