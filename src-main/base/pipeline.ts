// The one copy-and-check loop of exports and imports: reads, hashing and writes overlap through a
// small ring of buffers (a bounded queue), so a copy runs at the speed of its slowest stage rather
// than at the sum of the three. Measured on a 315 MB blob here: 1 MiB read, hash, write in turn
// ran at ~210 MB/s; the ring keeps the drive and the hash busy at once. Part of base/.

import { constants as fsConstants, existsSync } from 'node:fs';
import { copyFile, open, type FileHandle } from 'node:fs/promises';
import { throwIfCancelled } from './cancel.js';
import { errnoCode } from './errors.js';

/** Bytes per read: large enough that a USB drive sees long sequential reads and writes. */
export const PIPELINE_CHUNK_BYTES = 4 * 1024 * 1024;
/** Buffers in the ring: one being read, one being hashed, the rest being written. */
export const PIPELINE_DEPTH = 4;

export interface PumpOptions {
  /** Reads up to `length` bytes into `buffer` from `position` (bytes from the start); answers bytes read, 0 at the end. */
  read: (buffer: Buffer, length: number, position: number) => Promise<number>;
  /** Reads at most this many bytes in all (undefined: until a read answers 0). */
  limit?: number;
  /** A read shorter than asked is the end (O_DIRECT reads, which may not continue at an unaligned offset). */
  shortReadEnds?: boolean;
  /** Sees each chunk, in order, on this thread (hashing); the chunk is valid only during the call. */
  inspect: (chunk: Buffer) => void;
  /** Writes a chunk at `position`; up to depth - 1 writes are in flight at once, so they must be positional. The chunk is valid until the promise settles. */
  write?: (chunk: Buffer, position: number) => Promise<void>;
  /** The ring's buffers (aligned ones for O_DIRECT); default PIPELINE_DEPTH fresh buffers of PIPELINE_CHUNK_BYTES. */
  buffers?: readonly Buffer[];
  signal?: AbortSignal;
}

/**
 * Reads through `read` chunk after chunk, hands each to `inspect` then to `write`, with the next
 * read and earlier writes under way while a chunk is inspected. Answers the bytes read. Every read
 * and write has settled when it returns or throws (so the caller may close its files). Throws what
 * `read`, `inspect` or `write` throw (the first failure), FERRY_CANCELLED between chunks.
 */
export async function pumpChunks(options: PumpOptions): Promise<number> {
  const buffers = options.buffers ?? Array.from({ length: PIPELINE_DEPTH }, () => Buffer.allocUnsafe(PIPELINE_CHUNK_BYTES));
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const writes: Array<Promise<void> | undefined> = buffers.map(() => undefined);
  const failed: { first?: { error: unknown } } = {};
  // A write's failure is kept, not left unhandled, until the loop reaches it or ends.
  const track = (promise: Promise<void>): Promise<void> =>
    promise.catch((error: unknown) => {
      failed.first ??= { error };
    });
  const throwFailure = (): void => {
    if (failed.first !== undefined) throw failed.first.error;
  };
  const startRead = (index: number, position: number): Promise<{ bytes: number; asked: number }> => {
    const buffer = buffers[index] as Buffer;
    const asked = Math.min(buffer.length, limit - position);
    if (asked <= 0) return Promise.resolve({ bytes: 0, asked });
    return options.read(buffer, asked, position).then((bytes) => ({ bytes, asked }));
  };
  let position = 0;
  let index = 0;
  let reading: Promise<{ bytes: number; asked: number }> | undefined = startRead(0, 0);
  try {
    while (reading !== undefined) {
      if (options.signal !== undefined) throwIfCancelled(options.signal);
      const { bytes, asked } = await reading;
      reading = undefined;
      throwFailure();
      if (bytes === 0) break;
      const chunk = (buffers[index] as Buffer).subarray(0, bytes);
      const chunkPosition = position;
      position += bytes;
      const next = (index + 1) % buffers.length;
      // The next buffer is free once the write that last used it has landed.
      await writes[next];
      throwFailure();
      const ended = bytes < asked && options.shortReadEnds === true;
      if (!ended) reading = startRead(next, position);
      options.inspect(chunk);
      if (options.write !== undefined) writes[index] = track(options.write(chunk, chunkPosition));
      index = next;
    }
    await Promise.all(writes.filter((write) => write !== undefined));
    throwFailure();
    return position;
  } finally {
    await Promise.allSettled([reading, ...writes].filter((pending) => pending !== undefined));
  }
}

/**
 * Writes all of `chunk` at `position` of the open file (a write may land short, as when the drive
 * fills; a positional write that left a gap would keep the file's size and hide it). Throws Node's
 * errors (ENOSPC when a write lands nothing), for the caller to word.
 */
export async function writeFully(handle: FileHandle, chunk: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, done, chunk.length - done, position + done);
    // A write that lands nothing would repeat for ever; the kernel says so only as ENOSPC.
    if (bytesWritten === 0) throw Object.assign(new Error('no space left on the device'), { code: 'ENOSPC' });
    done += bytesWritten;
  }
}

/**
 * Where an open descriptor has a name that reopens the same file: Linux's /proc/self/fd. Elsewhere
 * (macOS, Windows, a Linux without /proc) there is no kernel copy of an opened file.
 */
const OPEN_FILE_NAMES = process.platform === 'linux' && existsSync('/proc/self/fd') ? '/proc/self/fd' : undefined;
/** copyFile failures that mean "this file system will not copy that way" (fchmod refused on FUSE, no copy_file_range): pump instead. */
const COPY_REFUSED: ReadonlySet<string> = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EINVAL', 'ENOSYS', 'EXDEV']);

/**
 * Copies the regular file open at `source` to the new file `to` inside the kernel (Node's copyFile:
 * libuv's copy_file_range, else sendfile, on Linux), so no byte passes through this process, then
 * flushes `to` (fsync). Measured here (docs/ARCHITECTURE.md, "Copying blobs"): 1.3 GB/s against
 * ~0.6 GB/s for read, hash and write through user space. The caller opened `source` with
 * O_NOFOLLOW|O_NONBLOCK and checked with fstat that it is a regular file; copyFile reopens it by
 * its descriptor's name (/proc/self/fd/N), which names that same inode, so a FIFO or link swapped
 * in at the path afterwards can neither block the copy nor redirect it. `to` is created with
 * O_EXCL (COPYFILE_EXCL): a link planted at that name fails the copy (EEXIST) rather than being
 * written through. Answers false, having written nothing, where the kernel copy is not available
 * or the file system refuses it: the caller copies through user space. Throws Node's errors
 * (ENOSPC, EEXIST...) for the caller to word; copyFile removes its partial copy on failure.
 */
export async function copyInKernel(source: FileHandle, to: string): Promise<boolean> {
  if (OPEN_FILE_NAMES === undefined) return false;
  try {
    await copyFile(`${OPEN_FILE_NAMES}/${String(source.fd)}`, to, fsConstants.COPYFILE_EXCL);
  } catch (error) {
    if (COPY_REFUSED.has(errnoCode(error) ?? '')) return false;
    throw error;
  }
  // Read-only: the copy has the source's mode, which may not allow writing; fsync needs no write access.
  const handle = await open(to, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  return true;
}

/**
 * Items inStages keeps staged ahead of the one being finished, for exports and imports. Blob sizes
 * vary 30-fold (a kernel, then a squashfs): with one ahead, a squashfs's copy could start only once
 * the small blob before it was finished, and the hashing then waited for it (waits fell ~20% with two).
 */
export const STAGES_AHEAD = 2;

/**
 * Runs `stage` over `items` one after another (each starts when the one before it has settled:
 * one kernel copy at a time on libuv's threads), at most `ahead` items ahead of the one `finish`
 * is working on (on this thread: hashing), and `finish` over them in order; `finish` is handed
 * the item's staging, so it takes that failure too (and may swallow it to go on). When `finish`
 * throws, nothing more is staged, what was staged ahead is abandoned (its `abandon` removes it),
 * and the error is thrown.
 */
export async function inStages<T, S extends { abandon(): Promise<void> }>(
  items: readonly T[],
  ahead: number,
  stage: (item: T) => Promise<S>,
  finish: (item: T, staging: Promise<S>) => Promise<void>,
): Promise<void> {
  const queue: Array<{ item: T; staging: Promise<S | undefined> }> = [];
  let started = 0;
  let stopped = false;
  let previous: Promise<unknown> = Promise.resolve();
  const topUp = (): void => {
    for (let item = items[started]; item !== undefined && queue.length < ahead; item = items[started]) {
      started += 1;
      const next = item;
      const staging = previous.then(() => (stopped ? undefined : stage(next)));
      // Its failure is taken by finish when its turn comes, or dropped when an earlier item fails.
      previous = staging.catch(() => undefined);
      queue.push({ item: next, staging });
    }
  };
  topUp();
  while (queue.length > 0) {
    const current = queue.shift() as { item: T; staging: Promise<S | undefined> };
    topUp();
    try {
      await finish(current.item, current.staging.then((staged) => staged ?? Promise.reject(new Error('a stage was skipped while the run went on'))));
    } catch (error) {
      stopped = true;
      for (const next of queue.splice(0)) await (await next.staging.catch(() => undefined))?.abandon();
      throw error;
    }
  }
}
