import { constants, type Stats } from 'node:fs';
import { open, readlink, realpath, stat, type FileHandle } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import etag from 'etag';
import { FerryError, describeError } from '../base/errors.js';
import type { FileSource, SourceFile } from './file-source.js';
import { isServablePath } from './request-path.js';

// A mirror tree on disk (made by `ferry mirror`, `ferry import` or sstream-mirror) as a FileSource.
// Links inside the tree that stay inside it are followed (some mirrors link shared files); a link
// whose target leaves the tree, or lands in `.ferry/`, is treated as absent.

/** Read-ahead per response: large enough that a 4-client transfer is not bound by syscalls. */
const READ_CHUNK_BYTES = 1024 * 1024;
// Windows has no O_NOFOLLOW (its constant is absent there).
const O_NOFOLLOW = (constants as { O_NOFOLLOW?: number }).O_NOFOLLOW ?? 0;
/** Errors that mean "nothing servable at this path", not a damaged tree. */
const ABSENT_CODES = new Set(['ENOENT', 'ENOTDIR', 'ELOOP', 'ENAMETOOLONG', 'EISDIR']);

/**
 * A FileSource over the directory `root` (resolved once with realpath). Throws FerryError
 * FERRY_SERVE_ROOT_INVALID when `root` is missing or not a directory.
 */
export async function openTreeSource(root: string): Promise<FileSource> {
  const realRoot = await realpath(root).catch((error: unknown) => {
    throw rootError(root, `it cannot be opened: ${describeError(error)}`, error);
  });
  const rootStats = await stat(realRoot);
  if (!rootStats.isDirectory()) throw rootError(root, 'it is not a directory');
  const inside = (path: string): boolean => {
    if (!path.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep)) return false;
    return isServablePath(relative(realRoot, path).split(sep).join('/'));
  };
  return {
    async resolve(path) {
      const real = await realpath(join(realRoot, ...path.split('/'))).catch(absentOr(path));
      if (real === undefined || !inside(real)) return undefined;
      // O_NOFOLLOW: the last component cannot have become a link since realpath looked at it.
      const handle = await open(real, constants.O_RDONLY | O_NOFOLLOW).catch(absentOr(path));
      if (handle === undefined) return undefined;
      try {
        const stats = await handle.stat();
        // A directory swapped for a link between realpath and open would escape; on Linux the
        // descriptor's own path says where the bytes really are (elsewhere the window stays open
        // to whoever can write in the tree).
        const opened = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => real);
        if (!stats.isFile() || !inside(opened)) {
          await handle.close();
          return undefined;
        }
        return treeFile(handle, stats);
      } catch (error) {
        await handle.close();
        throw error;
      }
    },
  };
}

function treeFile(handle: FileHandle, stats: Stats): SourceFile {
  let closed = false;
  return {
    size: stats.size,
    modified: stats.mtime,
    // The etag package's size-mtime tag, as `send` makes it, but strong: mirror files are
    // immutable by SimpleStreams' rules, and ferry resumes only against strong tags.
    etag: etag(stats, { weak: false }),
    createReadStream(start: number, end: number): Readable {
      closed = true;
      return handle.createReadStream({ start, end, highWaterMark: READ_CHUNK_BYTES, autoClose: true });
    },
    async close() {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}

function absentOr(path: string): (error: unknown) => undefined {
  return (error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== undefined && ABSENT_CODES.has(code)) return undefined;
    throw new FerryError('FERRY_IO', `Could not open ${path} to serve it: ${describeError(error)}`, { path, cause: error });
  };
}

function rootError(root: string, problem: string, cause?: unknown): FerryError {
  return new FerryError('FERRY_SERVE_ROOT_INVALID', `Cannot serve ${root}: ${problem}.`, {
    path: root,
    cause,
    hint: 'Give the directory of a mirror tree (the one holding streams/v1/).',
  });
}
