// Where a stream lives: a mirror base URL plus the path of the first metadata file to read,
// following the reference's path_from_mirror_url. This module only computes strings; the caller
// passes the working directory for relative local paths because streams/ performs no I/O.

import { FerryError, redactUrl } from '../base/errors.js';
import { assertSafeItemPath } from './paths.js';

export interface StreamSource {
  /** The mirror base; every metadata and item path is relative to it. Always ends with '/'. */
  readonly baseUrl: string;
  /** The first metadata file to read, relative to baseUrl, e.g. 'streams/v1/index.sjson'. */
  readonly entryPath: string;
  readonly entryUrl: string;
  /** Every metadata file must be clearsigned; decided by the entry path alone, as the reference does. */
  readonly signed: boolean;
  /** The entry's location for messages: credentials removed, local files as file system paths. */
  readonly display: string;
}

export interface ResolveSourceOptions {
  /** Overrides the entry path (sstream's path option): an index or a products file. */
  readonly path?: string | undefined;
  /** Absolute POSIX directory that relative local paths are resolved against. */
  readonly cwd?: string | undefined;
}

const SOURCE_PRESETS: Readonly<Record<string, string>> = {
  stable: 'https://images.maas.io/ephemeral-v3/stable/',
  candidate: 'https://images.maas.io/ephemeral-v3/candidate/',
};

/** The names resolveSource reads as images.maas.io's streams. */
export const SOURCE_PRESET_NAMES: readonly string[] = Object.keys(SOURCE_PRESETS);

const DEFAULT_ENTRY_PATH = 'streams/v1/index.sjson';
// A location that stops at the metadata folder (…/streams/v1/) names the mirror above it: people
// copy it from a browser's directory listing. The reference would look for streams/v1/streams/v1/.
const METADATA_FOLDER_AT_END = /(?:^|\/)streams\/v1\/?$/;
// host.domain[:port]/… without a scheme: a DNS name with at least one dot and a letter-led top
// label, or an IPv4 address; or a one-label name with a port (`localhost:8099/`), which URL parsing
// would otherwise take for the scheme 'localhost:'.
const HOST_NAME_START =
  /^(?:(?:(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]|\d{1,3}(?:\.\d{1,3}){3})(?::\d{1,5})?|[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?:\d{1,5})(?:\/|$)/;

// The reference's rule (util.path_from_mirror_url): a location naming a metadata file under
// streams/v1/ is split there into mirror base and entry path. Python's '.' stops only at '\n'.
const ENTRY_IN_LOCATION = /streams\/v1\/[^\n]*[.](?:sjson|json)$/;
const URL_SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;
// RFC 3986 pchar minus pct-encoded: these stay literal in a path segment, everything else is escaped.
const NEEDS_PERCENT_ENCODING = /[^A-Za-z0-9\-._~!$&'()*+,;=:@]+/gu;

const SOURCE_FORMS_HINT =
  "Give 'stable', 'candidate', an http(s):// or file:// URL, or a local directory, optionally ending in streams/v1/<file>.json or .sjson.";

/**
 * Where `input` (a preset, an http(s) or file URL, or a local path) and `options.path` put the
 * mirror base and the entry file, as the reference's util.path_from_mirror_url splits them.
 * Throws FERRY_SOURCE_INVALID for an input that is none of those forms (or names an entry file
 * and a path too), FERRY_UNSAFE_PATH for an entry path that could leave the mirror.
 */
export function resolveSource(input: string, options: ResolveSourceOptions = {}): StreamSource {
  if (input === '') throw invalidSource('The source is empty.');
  const preset = Object.hasOwn(SOURCE_PRESETS, input) ? SOURCE_PRESETS[input] : undefined;
  if (preset !== undefined) {
    return buildSource(preset, checkedOptionPath(options.path) ?? DEFAULT_ENTRY_PATH, (url) => url);
  }
  const scheme = URL_SCHEME.exec(input)?.[1]?.toLowerCase();
  if (scheme === undefined) return resolveLocalPath(input, options);
  if (scheme.length === 1 && /^[A-Za-z]:[\\/]/.test(input)) {
    throw invalidSource(`The source ${JSON.stringify(input)} looks like a Windows path.`, 'Give it as a file:/// URL, e.g. file:///C:/mirror/.');
  }
  if (scheme === 'http' || scheme === 'https' || scheme === 'file') return resolveUrl(input, scheme, options);
  throw invalidSource(
    `The source ${JSON.stringify(redactUrl(input))} uses the unsupported scheme '${scheme}:'.`,
    `${SOURCE_FORMS_HINT} A local directory whose name contains ':' can be given as ./name.`,
  );
}

/**
 * The URL of a file in the mirror. Each path segment is percent-encoded, so ':' stays literal and
 * spaces, '%', '?' and '#' are escaped: a metadata path always names exactly one file (RFC 3986
 * pchar). Throws FERRY_UNSAFE_PATH for a path that could leave the mirror.
 */
export function joinMirrorUrl(baseUrl: string, relativePath: string): string {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  assertSafeItemPath(relativePath, `a path joined to ${redactUrl(base)}`);
  return base + relativePath.split('/').map(encodePathSegment).join('/');
}

function resolveUrl(input: string, scheme: string, options: ResolveSourceOptions): StreamSource {
  let url: URL;
  try {
    url = new URL(input);
  } catch (error) {
    throw invalidSource(`The source ${JSON.stringify(redactUrl(input))} is not a valid URL.`, SOURCE_FORMS_HINT, error);
  }
  // Paths are appended to the base as text, so a query or fragment would end up in the middle.
  if (/[?#]/.test(url.href)) {
    throw invalidSource(
      `The source ${redactUrl(url.href)} has a query string or fragment, which cannot be part of a mirror base URL.`,
      'Remove everything from the ? or # on.',
    );
  }
  if (scheme === 'file' && url.host !== '') {
    throw invalidSource(`The source ${url.href} names the host '${url.host}'; file URLs must be local.`, 'Mount the share and give its local path.');
  }
  const { base, entryPath } = splitLocation(url.href, options, (encodedEntry) => decodeEntryPath(encodedEntry, url.href));
  const display = scheme === 'file' ? (fileUrl: string) => decodeFileUrlPath(fileUrl) : (httpUrl: string) => redactUrl(httpUrl);
  return buildSource(base, entryPath, display);
}

function resolveLocalPath(input: string, options: ResolveSourceOptions): StreamSource {
  let absolute = input;
  if (!input.startsWith('/')) {
    if (options.cwd === undefined || !options.cwd.startsWith('/')) {
      throw invalidSource(`The local source ${JSON.stringify(input)} is relative and no working directory was given.`, 'Give an absolute path.');
    }
    absolute = `${options.cwd}/${input}`;
  }
  const { base, entryPath } = splitLocation(normalizePosixPath(absolute), options, (entry) => entry);
  const encodedBase = base.split('/').map(encodePathSegment).join('/');
  return buildSource(`file://${encodedBase}`, entryPath, decodeFileUrlPath);
}

/**
 * The https URL a scheme-less source such as `images.maas.io/ephemeral-v3/stable` most likely
 * means, when it starts with a host name (labels with a dot, or an IPv4 address; optionally :port); undefined for
 * anything else (presets, URLs, ./relative or /absolute paths). Whether a local directory of that
 * name exists decides between the two readings, and that is for the caller to look at (no I/O
 * here). Throws nothing.
 */
export function hostNameReading(input: string): string | undefined {
  // Tested before any scheme: `mirror.lan:8080/…` also reads as the scheme 'mirror.lan:'.
  if (Object.hasOwn(SOURCE_PRESETS, input) || !HOST_NAME_START.test(input)) return undefined;
  return `https://${input}`;
}

function splitLocation(
  location: string,
  options: ResolveSourceOptions,
  toEntryPath: (entryText: string) => string,
): { base: string; entryPath: string } {
  const optionPath = checkedOptionPath(options.path);
  const folder = METADATA_FOLDER_AT_END.exec(location);
  if (folder !== null) return { base: withTrailingSlash(location.slice(0, folder.index + (folder[0].startsWith('/') ? 1 : 0))), entryPath: optionPath ?? DEFAULT_ENTRY_PATH };
  const match = ENTRY_IN_LOCATION.exec(location);
  if (match === null) return { base: withTrailingSlash(location), entryPath: optionPath ?? DEFAULT_ENTRY_PATH };
  if (optionPath !== undefined) {
    // The reference would append the path to the file's own URL and fetch nonsense.
    throw invalidSource(
      `The source already names the metadata file ${match[0]}, and a path (${optionPath}) was given too.`,
      'Give the mirror base with the path, or the metadata file URL alone.',
    );
  }
  const entryText = location.slice(match.index);
  assertSafeItemPath(entryText, 'the source location');
  return { base: withTrailingSlash(location.slice(0, match.index)), entryPath: toEntryPath(entryText) };
}

function checkedOptionPath(path: string | undefined): string | undefined {
  if (path !== undefined) assertSafeItemPath(path, 'the entry path');
  return path;
}

function buildSource(baseUrl: string, entryPath: string, display: (entryUrl: string) => string): StreamSource {
  const entryUrl = joinMirrorUrl(baseUrl, entryPath);
  // The reference tests endswith('sjson'), without the dot.
  return { baseUrl, entryPath, entryUrl, signed: entryPath.endsWith('sjson'), display: display(entryUrl) };
}

function normalizePosixPath(path: string): string {
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  return `/${segments.join('/')}`;
}

function withTrailingSlash(location: string): string {
  return location.endsWith('/') ? location : `${location}/`;
}

function encodePathSegment(segment: string): string {
  return segment.replace(NEEDS_PERCENT_ENCODING, (run) => encodeURIComponent(run));
}

function decodeEntryPath(encodedEntry: string, href: string): string {
  try {
    return encodedEntry.split('/').map(decodeURIComponent).join('/');
  } catch (error) {
    throw invalidSource(`The source ${redactUrl(href)} contains a percent-escape that is not UTF-8.`, SOURCE_FORMS_HINT, error);
  }
}

function decodeFileUrlPath(fileUrl: string): string {
  try {
    return decodeURIComponent(new URL(fileUrl).pathname);
  } catch (error) {
    throw invalidSource(`The source ${fileUrl} contains a percent-escape that is not UTF-8.`, SOURCE_FORMS_HINT, error);
  }
}

function invalidSource(message: string, hint: string = SOURCE_FORMS_HINT, cause?: unknown): FerryError {
  return new FerryError('FERRY_SOURCE_INVALID', message, { hint, cause });
}
