// Item and index paths come from metadata a server controls. They become file names inside the
// mirror and URLs under the mirror base, so anything that could point outside either is refused
// before it is used. The reference only rejects a leading '/' and '../' or '.../' segments; we are
// stricter because a mirror is later served to other machines over HTTP, where percent-encoding
// and backslashes are decoded again.

import { FerryError } from '../engine/errors.js';

const CONTROL_CHARACTER = /\p{Cc}/u;
const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const DRIVE_LETTER = /^[A-Za-z]:/;
const ASCII_PERCENT_ESCAPE = /%([0-7][0-9A-Fa-f])/g;
// Segments of common file-name characters, none made of dots only: safe without closer checks.
// Every MAAS path has this form, and catalogs hold tens of thousands of them.
const PLAIN_SEGMENT = String.raw`(?!\.+(?:/|$))[\w.+~=,:@-]+`;
const PLAIN_RELATIVE_PATH = new RegExp(`^${PLAIN_SEGMENT}(?:/${PLAIN_SEGMENT})*$`);

/**
 * Throws FERRY_UNSAFE_PATH unless `path` is a plain relative path that stays inside the mirror.
 * `where` says which metadata entry holds the path, for the message; a function is called only
 * when the path is refused, which spares building a description for every item of a catalog.
 */
export function assertSafeItemPath(path: string, where: string | (() => string)): void {
  const problem = findPathProblem(path);
  if (problem === undefined) return;
  const location = typeof where === 'string' ? where : where();
  throw new FerryError('FERRY_UNSAFE_PATH', `Refused the path ${JSON.stringify(path)} in ${location}: ${problem}.`, {
    hint: 'Paths in SimpleStreams metadata must be relative paths inside the mirror. The source may be damaged or malicious; report it to whoever publishes it.',
    actual: path,
  });
}

function findPathProblem(path: string): string | undefined {
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
