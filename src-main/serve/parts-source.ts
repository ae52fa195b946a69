import { createReadStream } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { FerryError, describeError } from '../base/errors.js';
import type { FileSource, SourceFile } from './file-source.js';

// Files stored as one or more plain files laid end to end: the shape of a bundle on a drive
// (product.md: `blobs/sha256/ab/<hex>`, or parts where a file exceeds the target's limit, such as
// FAT32's 4 GiB). A whole blob is a file of one part. The bundle reader will build the map from
// bundle.json; this module only serves it, so a Range may start in one part and end in another.

export interface FilePart {
  /** Absolute path of the stored part. */
  path: string;
  /** Bytes, as recorded; a part found with another size makes the file unservable. */
  size: number;
}

export interface PartedFile {
  /** In order; their sizes add up to the file's size. */
  parts: readonly FilePart[];
  /** Hex sha256 of the whole file: the entity tag, since the bytes are named by it. */
  sha256: string;
}

/** Read-ahead per part stream, as the tree source uses. */
const READ_CHUNK_BYTES = 1024 * 1024;

/**
 * A FileSource over `files` (mirror path → parts). `resolve` checks that every part is a regular
 * file (not a link) of its recorded size, and throws FerryError FERRY_IO naming the part when
 * one is missing or has another size: a damaged bundle is reported, never served short.
 */
export function createPartsSource(files: ReadonlyMap<string, PartedFile>): FileSource {
  return {
    async resolve(path) {
      const file = files.get(path);
      if (file === undefined) return undefined;
      let modified = 0;
      for (const [index, part] of file.parts.entries()) {
        const stats = await lstat(part.path).catch((error: unknown) => {
          throw damaged(path, part, index, file, `it cannot be read: ${describeError(error)}`, error);
        });
        if (!stats.isFile()) throw damaged(path, part, index, file, 'it is not a regular file');
        if (stats.size !== part.size) throw damaged(path, part, index, file, `it holds ${stats.size} bytes, not ${part.size}`);
        modified = Math.max(modified, stats.mtimeMs);
      }
      return partedFile(file, new Date(modified));
    },
  };
}

function partedFile(file: PartedFile, modified: Date): SourceFile {
  return {
    size: file.parts.reduce((total, part) => total + part.size, 0),
    modified,
    etag: `"sha256-${file.sha256}"`,
    createReadStream: (start, end) => Readable.from(readSpan(file.parts, start, end), { objectMode: false }),
    // Parts are opened only while their bytes are read.
    close: () => Promise.resolve(),
  };
}

/** The bytes start..end (inclusive) of the parts laid end to end, one part open at a time. */
async function* readSpan(parts: readonly FilePart[], start: number, end: number): AsyncGenerator<Buffer> {
  let partStart = 0;
  for (const part of parts) {
    const partEnd = partStart + part.size - 1;
    if (partEnd >= start && partStart <= end && part.size > 0) {
      const stream = createReadStream(part.path, {
        start: Math.max(start, partStart) - partStart,
        end: Math.min(end, partEnd) - partStart,
        highWaterMark: READ_CHUNK_BYTES,
      });
      // Leaving the loop early (the client went away) destroys the part's stream.
      for await (const chunk of stream as AsyncIterable<Buffer>) yield chunk;
    }
    if (partEnd >= end) return;
    partStart += part.size;
  }
}

function damaged(path: string, part: FilePart, index: number, file: PartedFile, problem: string, cause?: unknown): FerryError {
  return new FerryError('FERRY_IO', `Cannot serve ${path}: part ${index + 1} of ${file.parts.length} (${part.path}) is damaged: ${problem}.`, {
    path: part.path,
    expected: `${part.size} bytes`,
    cause,
    hint: 'Verify the bundle; copy the damaged part again from the export.',
  });
}
