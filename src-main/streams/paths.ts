// Item and index paths come from metadata a server controls. They become file names inside the
// mirror and URLs under the mirror base, so anything that could point outside either is refused
// before it is used. The reference only rejects a leading '/' and '../' or '.../' segments; we are
// stricter because a mirror is later served to other machines over HTTP, where percent-encoding
// and backslashes are decoded again. The top folder `.ferry/` of a mirror tree holds Stream
// Ferry's own state (catalog, lock, partial downloads), so no item may be written there either.

import { FerryError } from '../base/errors.js';

const CONTROL_CHARACTER = /\p{Cc}/u;
const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const DRIVE_LETTER = /^[A-Za-z]:/;
const ASCII_PERCENT_ESCAPE = /%([0-7][0-9A-Fa-f])/g;
// Segments of common file-name characters, none made of dots only: safe without closer checks.
// Every MAAS path has this form, and catalogs hold tens of thousands of them.
const PLAIN_SEGMENT = String.raw`(?!\.+(?:/|$))[\w.+~=,:@-]+`;
const PLAIN_RELATIVE_PATH = new RegExp(`^${PLAIN_SEGMENT}(?:/${PLAIN_SEGMENT})*$`);

/**
 * The folder at the top of a mirror tree that holds Stream Ferry's state; library/ names it
 * TREE_STATE_FOLDER (streams/ imports nothing, so both spell it; a unit test keeps them equal).
 */
export const STATE_FOLDER = '.ferry';
/** Where simplestreams keeps the index and the products files (simplestreams §1.1). */
const METADATA_FOLDER = 'streams/v1';
// How file systems may fold a first segment onto `.ferry`: FAT, exFAT, NTFS and macOS ignore
// case; Windows drops trailing dots and spaces; VFAT and NTFS also answer to an 8.3 short name,
// which for `.ferry` is FERRY~1 (FERRY~2... when that is taken). NFKC also folds look-alike
// letters (fullwidth ｆ), stricter than any file system, since no real path starts with them.
const TRAILING_DOTS_AND_SPACES = /[. ]+$/;
const STATE_FOLDER_SHORT_NAME = /^ferry~\d+$/;

/**
 * Throws FERRY_UNSAFE_PATH unless `path` is a plain relative path that stays inside the mirror
 * and out of its state folder (`.ferry/`, in any spelling a file system folds onto it). Called when
 * metadata is parsed and again by the tree writer before each write. `where` says which metadata entry holds the path, for the message; a function is called only
 * when the path is refused, which spares building a description for every item of a catalog.
 */
export function assertSafeItemPath(path: string, where: string | (() => string)): void {
  const problem = findPathProblem(path);
  if (problem !== undefined) refuse(path, where, problem);
}

function refuse(path: string, where: string | (() => string), problem: string): never {
  const location = typeof where === 'string' ? where : where();
  throw new FerryError('FERRY_UNSAFE_PATH', `Refused the path ${JSON.stringify(path)} in ${location}: ${problem}.`, {
    hint: 'Paths in SimpleStreams metadata must be relative paths inside the mirror. The source may be damaged or malicious; report it to whoever publishes it.',
    actual: path,
  });
}

/**
 * assertSafeItemPath for the path of an item (a file the mirror downloads), which must also stay
 * out of `streams/v1/` in any case or spelling a file system folds onto it: simplestreams keeps the
 * index and products files there, so an item there could be written over the metadata, or be
 * published as an item whose file is the index; nor be `streams` itself, a file where that folder's
 * parent must be. Throws FERRY_UNSAFE_PATH naming `where`.
 */
export function assertSafeItemFilePath(path: string, where: string | (() => string)): void {
  assertSafeItemPath(path, where);
  // `streams/v1` itself too, and `streams`: a file there would stand where a folder of the metadata
  // must be, and block every later metadata write.
  const [first = '', second] = path.split('/', 2);
  if (foldSegment(first) !== 'streams') return;
  if (second === undefined) refuse(path, where, `it is the folder holding ${METADATA_FOLDER}/, where the stream's index and products files live`);
  if (foldSegment(second) !== 'v1') return;
  refuse(path, where, `it is inside ${METADATA_FOLDER}/, where the stream's index and products files live`);
}

function findPathProblem(path: string): string | undefined {
  const problem = findEscapeProblem(path);
  if (problem !== undefined) return problem;
  const slash = path.indexOf('/');
  if (namesStateFolder(slash === -1 ? path : path.slice(0, slash))) {
    return `it is inside ${STATE_FOLDER}/, where Stream Ferry keeps its own state`;
  }
  return undefined;
}

function findEscapeProblem(path: string): string | undefined {
  if (PLAIN_RELATIVE_PATH.test(path) && !DRIVE_LETTER.test(path)) return undefined;
  if (path === '') return 'it is empty';
  if (path.startsWith('/')) return 'it is absolute';
  if (DRIVE_LETTER.test(path)) return 'it starts with a drive letter';
  if (path.includes('\\')) return 'it contains a backslash';
  const control = CONTROL_CHARACTER.exec(path);
  if (control !== null) return `it contains the control character ${codePointLabel(control[0])}`;
  if (UNPAIRED_SURROGATE.test(path)) return 'it contains an unpaired UTF-16 surrogate';
  for (const segment of path.split('/')) {
    if (segment === '') return "it has an empty segment ('//' or a trailing '/')";
    const decoded = decodeAsciiEscapes(segment);
    const encodedNote = decoded === segment ? '' : ' (percent-encoded)';
    if (/^\.+$/.test(decoded)) return `it has a '${decoded}' segment${encodedNote}`;
    if (decoded.includes('/')) return "it contains a percent-encoded '/'";
    if (decoded.includes('\\')) return 'it contains a percent-encoded backslash';
    const encodedControl = CONTROL_CHARACTER.exec(decoded);
    if (encodedControl !== null) return `it contains the percent-encoded control character ${codePointLabel(encodedControl[0])}`;
  }
  return undefined;
}

/** Whether a top-level segment is, or some file system would take it for, the state folder. */
function namesStateFolder(segment: string): boolean {
  return foldSegment(segment) === STATE_FOLDER || STATE_FOLDER_SHORT_NAME.test(decodeAsciiEscapes(segment).normalize('NFKC').toLowerCase());
}

/** A segment as case-folding file systems (and trailing-dot-dropping Windows) see it. */
function foldSegment(segment: string): string {
  return decodeAsciiEscapes(segment).normalize('NFKC').toLowerCase().replace(TRAILING_DOTS_AND_SPACES, '');
}

// Decodes %XX escapes of ASCII characters until nothing changes, so double encodings such as
// %252e%252e are seen for what a chain of decoders would make of them.
function decodeAsciiEscapes(segment: string): string {
  let current = segment;
  for (;;) {
    const decoded = current.replace(ASCII_PERCENT_ESCAPE, (_escape, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
    if (decoded === current) return current;
    current = decoded;
  }
}

function codePointLabel(character: string): string {
  return `U+${(character.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}
