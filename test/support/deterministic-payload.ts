import { createCipheriv, createHash } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

// Payload bytes are a function of (seed, path, size) only, so a regenerated tree has the same
// checksums. Drawing fresh pseudo-random bytes for every file would make hundreds of megabytes cost
// seconds of CPU; instead one block of AES-CTR keystream is made once, and every 1 MiB chunk of a
// file is a 32-byte header (a digest of seed and path, plus the chunk number) followed by a slice
// of that block at an offset that depends on the file and the chunk. Every file and every chunk
// differs, nothing compresses, and producing a chunk copies nothing.

const PATTERN_BLOCK_BYTES = 8 * 1024 * 1024;
const CHUNK_BYTES = 1024 * 1024;
const CHUNK_HEADER_BYTES = 32;
const FILE_DIGEST_BYTES_IN_HEADER = 24;
const SLICE_STRIDE = 65_537;
const CHUNKS_PER_YIELD = 32;

let patternBlock: Buffer | undefined;

function sharedPatternBlock(): Buffer {
  patternBlock ??= createCipheriv('aes-256-ctr', Buffer.alloc(32, 0x5f), Buffer.alloc(16)).update(Buffer.alloc(PATTERN_BLOCK_BYTES));
  return patternBlock;
}

/** The pieces of every chunk of the file, in order; slices of the shared block, not copies. */
function* payloadChunks(seed: string, relativePath: string, size: number): Generator<Buffer[]> {
  const block = sharedPatternBlock();
  const fileDigest = createHash('sha256').update(`${seed}\0${relativePath}`).digest();
  const fileOffset = fileDigest.readUInt32BE(FILE_DIGEST_BYTES_IN_HEADER);
  const sliceRange = PATTERN_BLOCK_BYTES - CHUNK_BYTES;
  for (let chunkIndex = 0, position = 0; position < size; chunkIndex += 1, position += CHUNK_BYTES) {
    const chunkLength = Math.min(CHUNK_BYTES, size - position);
    const header = Buffer.allocUnsafe(CHUNK_HEADER_BYTES);
    fileDigest.copy(header, 0, 0, FILE_DIGEST_BYTES_IN_HEADER);
    header.writeBigUInt64BE(BigInt(chunkIndex), FILE_DIGEST_BYTES_IN_HEADER);
    if (chunkLength <= CHUNK_HEADER_BYTES) {
      yield [header.subarray(0, chunkLength)];
      continue;
    }
    const sliceStart = (fileOffset + chunkIndex * SLICE_STRIDE) % sliceRange;
    yield [header, block.subarray(sliceStart, sliceStart + chunkLength - CHUNK_HEADER_BYTES)];
  }
}

/**
 * sha256 (hex) of the payload, without writing it: for files already on disk from an earlier run.
 * Yields to the event loop now and then, so a fixture server in the same process keeps serving.
 */
export async function deterministicPayloadSha256(seed: string, relativePath: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  let chunksSinceYield = 0;
  for (const pieces of payloadChunks(seed, relativePath, size)) {
    for (const piece of pieces) hash.update(piece);
    chunksSinceYield += 1;
    if (chunksSinceYield === CHUNKS_PER_YIELD) {
      chunksSinceYield = 0;
      await yieldToEventLoop();
    }
  }
  return hash.digest('hex');
}

/**
 * Writes the payload to `filePath` through a temporary name, hashing in the same pass, and returns
 * its sha256 (hex). Hashing runs on this thread while the previous write is in the thread pool.
 */
export async function writeDeterministicPayload(filePath: string, seed: string, relativePath: string, size: number): Promise<string> {
  const temporaryPath = `${filePath}.partial-${process.pid}`;
  const hash = createHash('sha256');
  const handle = await open(temporaryPath, 'w');
  try {
    for (const pieces of payloadChunks(seed, relativePath, size)) {
      const written = handle.writev(pieces);
      let chunkLength = 0;
      for (const piece of pieces) {
        hash.update(piece);
        chunkLength += piece.length;
      }
      const { bytesWritten } = await written;
      if (bytesWritten !== chunkLength) throw new Error(`short write to ${temporaryPath}: ${bytesWritten} of ${chunkLength} bytes`);
    }
  } catch (error) {
    await handle.close();
    await rm(temporaryPath, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temporaryPath, filePath);
  return hash.digest('hex');
}
