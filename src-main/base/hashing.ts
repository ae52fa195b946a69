// The checksums SimpleStreams lists, and the one loop that hashes a file's bytes from disk: blobs,
// tree files and partial downloads (before a resume) are all read through hashOpenFile. Part of
// base/, the ground floor.

import { createHash, type Hash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { throwIfCancelled } from './cancel.js';
import { withFileErrors } from './files.js';

/** The item checksums Stream Ferry can check, as SimpleStreams names them (products:1.0 item fields). */
export type ChecksumAlgorithm = 'sha512' | 'sha256' | 'md5';

/** A checksum the metadata lists for an item's file: lowercase hex of `algorithm`. */
export interface Checksum {
  algorithm: ChecksumAlgorithm;
  hex: string;
}

/** Hex digits of each algorithm's digest. */
export const CHECKSUM_HEX_LENGTHS: Readonly<Record<ChecksumAlgorithm, number>> = { sha512: 128, sha256: 64, md5: 32 };

/** Large enough that syscalls do not dominate, small enough to stay in cache while hashed. */
const HASH_READ_CHUNK_BYTES = 1024 * 1024;

/**
 * Feeds the first `length` bytes of an open file (all of it when undefined) to every hash in
 * `hashes`, reading from offset 0 in 1 MiB chunks through one reused buffer (Hash.update copies
 * what it needs before returning). Stops early at end of file; answers the bytes read. Throws
 * FERRY_CANCELLED between chunks once `signal` aborts; read errors are Node's, for the caller to
 * word (it knows the path and what the file is for).
 */
export async function hashOpenFile(
  handle: FileHandle,
  hashes: readonly Hash[],
  options: { length?: number; signal?: AbortSignal } = {},
): Promise<number> {
  const length = options.length ?? (await handle.stat()).size;
  const buffer = Buffer.allocUnsafe(Math.min(HASH_READ_CHUNK_BYTES, Math.max(length, 1)));
  let position = 0;
  while (position < length) {
    if (options.signal !== undefined) throwIfCancelled(options.signal);
    const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, length - position), position);
    if (bytesRead === 0) break;
    const chunk = buffer.subarray(0, bytesRead);
    for (const hash of hashes) hash.update(chunk);
    position += bytesRead;
  }
  return position;
}

/**
 * sha256 of the file at `path` plus the digest of `listed` (the metadata's algorithm), in one
 * read; both hex. Throws FERRY_IO (naming the path) when the file cannot be read.
 */
export async function hashFile(path: string, listed: ChecksumAlgorithm): Promise<{ sha256: string; listed: string }> {
  const sha256 = createHash('sha256');
  const other = listed === 'sha256' ? undefined : createHash(listed);
  await withFileErrors(path, 'read', async () => {
    const handle = await open(path, fsConstants.O_RDONLY);
    try {
      await hashOpenFile(handle, other === undefined ? [sha256] : [sha256, other]);
    } finally {
      await handle.close();
    }
  });
  const sha256Hex = sha256.digest('hex');
  return { sha256: sha256Hex, listed: other === undefined ? sha256Hex : other.digest('hex') };
}
