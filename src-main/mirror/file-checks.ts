import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { withFileErrors } from '../base/files.js';
import type { ItemChecksum, WantedFile } from './plan.js';

// What both file stores need to recognise a wanted file's bytes: its hashes and a stable key.

const HASH_READ_CHUNK_BYTES = 1024 * 1024;

/**
 * A 64-hex name for the bytes a wanted file must have: its sha256 when the metadata lists one,
 * otherwise a digest of the checksum it does list. Partial downloads are filed under it, so a
 * resumed partial can only ever continue the same bytes.
 */
export function contentKey(file: Pick<WantedFile, 'sha256' | 'checksum'>): string {
  return file.sha256 ?? createHash('sha256').update(`${file.checksum.algorithm}:${file.checksum.hex}`).digest('hex');
}

/** sha256 of a file plus the metadata's listed algorithm, in one read. */
export async function hashFile(path: string, listed: ItemChecksum['algorithm']): Promise<{ sha256: string; listed: string }> {
  const sha256 = createHash('sha256');
  const other = listed === 'sha256' ? undefined : createHash(listed);
  await withFileErrors(path, 'read', async () => {
    for await (const chunk of createReadStream(path, { highWaterMark: HASH_READ_CHUNK_BYTES }) as AsyncIterable<Buffer>) {
      sha256.update(chunk);
      other?.update(chunk);
    }
  });
  const sha256Hex = sha256.digest('hex');
  return { sha256: sha256Hex, listed: other === undefined ? sha256Hex : other.digest('hex') };
}
