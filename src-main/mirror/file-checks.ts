import { createHash } from 'node:crypto';
import type { WantedFile } from './plan.js';

// What both file stores need to recognise a wanted file's bytes: a stable key (their hashes come
// from base/hashing.ts).

/**
 * A 64-hex name for the bytes a wanted file must have: its sha256 when the metadata lists one,
 * otherwise a digest of the checksum it does list. Partial downloads are filed under it, so a
 * resumed partial can only ever continue the same bytes.
 */
export function contentKey(file: Pick<WantedFile, 'sha256' | 'checksum'>): string {
  return file.sha256 ?? createHash('sha256').update(`${file.checksum.algorithm}:${file.checksum.hex}`).digest('hex');
}
