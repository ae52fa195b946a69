import { isFerryError } from '../base/errors.js';
import { assertSafeItemPath } from '../streams/index.js';

// Turns the request-target of an HTTP request into a path inside the served tree, refusing
// everything that could name something else. The same guard as metadata paths (streams/
// paths.ts: '..', backslashes, NUL and control characters, encoded and double-encoded traversal,
// `.ferry/` in any spelling) is applied to the raw target and again after percent-decoding, so
// no decoder downstream (ours, a proxy's) can see a different path than the one checked.

export type RequestPath =
  | { kind: 'file'; path: string }
  /** The root or a path ending in '/': a directory, which is never listed. */
  | { kind: 'directory' }
  /** Not origin-form, or percent-encoding that is not UTF-8. */
  | { kind: 'malformed' }
  /** Traversal, control characters, `.ferry/`. */
  | { kind: 'unsafe' };

/**
 * `/streams/v1/com.ubuntu.maas%3Astable%3Av3%3Adownload.sjson?x` → the file path
 * `streams/v1/com.ubuntu.maas:stable:v3:download.sjson`. The query is ignored (RFC 9110 §4.2.3
 * gives a static server no meaning for it); ':' is legal both raw and encoded (RFC 3986 pchar).
 */
export function parseRequestPath(target: string): RequestPath {
  if (!target.startsWith('/')) return { kind: 'malformed' };
  const end = target.search(/[?#]/);
  const raw = (end === -1 ? target : target.slice(0, end)).slice(1);
  if (raw === '' || raw.endsWith('/')) return { kind: 'directory' };
  if (!isServablePath(raw)) return { kind: 'unsafe' };
  let decoded: string;
  try {
    decoded = raw.split('/').map(decodeURIComponent).join('/');
  } catch {
    return { kind: 'malformed' };
  }
  return isServablePath(decoded) ? { kind: 'file', path: decoded } : { kind: 'unsafe' };
}

/** Whether a relative '/'-separated path stays inside the tree and out of `.ferry/`. */
export function isServablePath(path: string): boolean {
  try {
    assertSafeItemPath(path, 'a request');
    return true;
  } catch (error) {
    if (isFerryError(error, 'FERRY_UNSAFE_PATH')) return false;
    throw error;
  }
}
