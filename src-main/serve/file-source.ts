// What the server asks of whatever holds the files: a mirror tree on disk today, a bundle on a
// drive later (issue 9 §5: paths mapped to blobs, or to parts where a file exceeded the target's
// size limit). The HTTP semantics live once, in server.ts; a source only answers "which bytes".
import type { Readable } from 'node:stream';

/** One file as a source found it, held open (or pinned) from `resolve` until `close`. */
export interface SourceFile {
  /** Bytes. */
  readonly size: number;
  /** Sent as Last-Modified (second precision on the wire). */
  readonly modified: Date;
  /**
   * A strong entity tag, quoted (`"…"`), that changes whenever the bytes may have: If-Range and
   * ferry's own resumes (net/download.ts) accept only strong tags (RFC 9110 §13.1.5).
   */
  readonly etag: string;
  /**
   * The bytes from `start` to `end`, both inclusive (0 ≤ start ≤ end < size), as HTTP ranges
   * count. Called at most once; the stream releases what the file held when it ends or is
   * destroyed, so `close` is then not needed.
   */
  createReadStream(start: number, end: number): Readable;
  /** Releases the file when no stream was made (HEAD, 304, 412, 416). Safe to call twice. */
  close(): Promise<void>;
}

export interface FileSource {
  /**
   * The file at `path`, a relative path with '/' separators that the server has already checked
   * (streams/ assertSafeItemPath: no '..', no encoded traversal, not in `.ferry/`); undefined when
   * there is no regular file there that the source may serve (absent, a directory, a link leaving
   * the source). Throws FerryError FERRY_IO when the source is damaged (a part shorter than
   * recorded, an unreadable file), which the server answers with 500.
   */
  resolve(path: string): Promise<SourceFile | undefined>;
}
