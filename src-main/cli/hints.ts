// The CLI's words for what to do about an error. Below the faces an error carries facts (file, URL,
// key id, setting, errno) and at most a remedy in the field's terms, never an option name; this
// table says it as options and commands, as pnpm's reportError does for its codes. It is data
// keyed by code, so the app can keep its own table (buttons) of the same shape.

import { UNTRUSTED_CERTIFICATE_CODES, type FerryErrorCode, type SerializedFerryError } from '../base/errors.js';
import { LARGER_DRIVE_EXPECTED, SAME_DRIVE_EXPECTED, TREE_HOLDS_SELECTION } from '../engine/index.js';

/** The facts a rule may look at: an error as it crosses a process boundary. */
export type ErrorFacts = Omit<SerializedFerryError, 'name' | 'message' | 'hint'>;

/** A hint in the CLI's words, or a rule that words it from the facts (undefined: keep the error's own hint). */
export type HintRule = string | ((facts: ErrorFacts) => string | undefined);

/** How each job setting is given on the command line (see FerryErrorDetails.setting). */
const settingHints: Readonly<Record<string, string>> = {
  keep: '--keep needs --max: add --max N, or drop --keep.',
  max: 'For example --max 1 keeps only the newest version of each product.',
  stallTimeoutMs: '--stall-timeout takes a number of seconds, at least 1.',
  maxAttempts: '--retries takes a number of retries, 0 or more.',
  connectionsPerHost: '--connections takes a whole number, 1 or more.',
  concurrency: '--concurrency takes a whole number, 1 or more.',
  caCertFiles: '--ca-cert takes a PEM file holding the certificate of the CA that signed the server\'s certificate.',
  bind: '--bind takes an IP address: 127.0.0.1 (the default), an address of this computer, or 0.0.0.0 for every interface.',
};

const isHttp = (url: string | undefined): boolean => url !== undefined && /^https?:/i.test(url);

/** The http:// mirror base of an https:// metadata URL: `https://h:8099/streams/v1/index.sjson` → `http://h:8099/`. */
const httpBase = (url: string): string => url.replace(/^https:/i, 'http:').replace(/streams\/v1\/[^/]*$/, '');

export const cliHints: Readonly<Partial<Record<FerryErrorCode, HintRule>>> = {
  FERRY_SETTING_INVALID: ({ setting }) => (setting === undefined ? undefined : settingHints[setting]),
  // No file at all: the operator gave none where one was needed. A file that cannot be read (errno)
  // is named again as an option; a file read but unusable keeps the domain's advice on how to
  // export one.
  FERRY_KEYRING_INVALID: ({ path, errno }) =>
    path === undefined
      ? 'Pass a keyring with --keyring, or leave it out to use the bundled Ubuntu cloud image keyring.'
      : errno === undefined
        ? undefined
        : 'Pass an existing OpenPGP keyring file with --keyring (binary .gpg or armored .asc).',
  FERRY_SIG_UNKNOWN_KEY:
    'If you trust this publisher, pass its public key with --keyring FILE (binary, ASCII-armored or a GnuPG keybox). Every signature must be checkable, as gpgv requires.',
  FERRY_SIG_KEY_EXPIRED: 'If the publisher has extended the key, load its refreshed public key with --keyring.',
  FERRY_DOWNLOAD_STALLED:
    'The server or the network stopped delivering. It is retried; if it persists, check the source and any proxy, or raise --stall-timeout on a very slow link.',
  FERRY_FETCH_FAILED: ({ url, errno, expected }) => {
    if (errno !== undefined && UNTRUSTED_CERTIFICATE_CODES.has(errno)) {
      return "If the server uses a private certificate authority, pass that CA's certificate (PEM) with --ca-cert FILE, or set NODE_EXTRA_CA_CERTS=FILE; never turn verification off.";
    }
    if (isHttp(url) && (errno === 'ENOTFOUND' || errno === 'EAI_AGAIN')) {
      return 'The host name does not resolve. On a machine without internet, use a local mirror or file:// source; behind a proxy, set --proxy or HTTPS_PROXY.';
    }
    // `127.0.0.1:8099/` without a scheme is read as https; a local mirror or ferry serve speaks http.
    if (url !== undefined && /^https:/i.test(url) && errno === 'ERR_SSL_WRONG_VERSION_NUMBER') {
      return `The server speaks plain HTTP: give ${httpBase(url)} as the source.`;
    }
    if (isHttp(url) && errno !== undefined && errno !== 'ECONNREFUSED') {
      // Only a download resumes; a query or a plan fetched nothing to resume from.
      return 'Check the network and any proxy (--proxy, HTTPS_PROXY, NO_PROXY), then run the command again; downloads resume where they stopped.';
    }
    // A local mirror lacks a file its metadata lists (its size is the expected fact).
    if (url?.startsWith('file:') === true && errno === 'ENOENT' && expected !== undefined) {
      return 'A mirror made with filters or --max still lists every upstream item: select only what it holds (e.g. --max 1), or mirror from the original source.';
    }
    return undefined;
  },
  // Only the index-depth refusal carries a limit; other format refusals keep their own words.
  FERRY_FORMAT_UNSUPPORTED: ({ limit }) =>
    limit === undefined ? undefined : 'Start from a products file with --path, or fix the index chain on the server.',
  FERRY_TARGET_MISSING: 'Create the folder, or check the drive is mounted there: ferry drives lists the drives and their mount points.',
  // Drives counted (facts "N drives"): the export goes drive after drive, with a drive for each volume.
  FERRY_NOT_ENOUGH_SPACE: ({ expected }) =>
    expected !== undefined && /^\d+ drives\b/.test(expected)
      ? 'Give --to once for each drive (--to /media/a --to /media/b), or run ferry export on a terminal to insert each next drive when asked.'
      : 'Free some space, choose another target, or narrow the selection (filters, --max).',
  // Two targets on one drive: which option to repeat; a blob larger than a drive: the engine's hint says what to do.
  FERRY_TARGET_UNFIT: ({ actual, expected }) =>
    expected === SAME_DRIVE_EXPECTED
      ? 'Give each --to on a drive of its own (ferry drives lists the drives and their mount points).'
      : expected?.startsWith(LARGER_DRIVE_EXPECTED) === true
      ? undefined
      : actual === undefined || /^\d+$/.test(actual)
        ? 'Give a larger --volume-size.'
        : 'Export with --layout bundle (the default) to FAT32, exFAT or NTFS drives: it names files by sha256 and splits large ones.',
  // From a tree the engine's hint names the filters the tree holds; from the library, sync first.
  FERRY_EXPORT_UNAVAILABLE: ({ expected }) => (expected === TREE_HOLDS_SELECTION ? undefined : 'Run ferry sync with the same SOURCE and filters (or --profile NAME) first.'),
  // The saved selections are the error's `expected` fact; the CLI says how to save one.
  FERRY_PROFILE_UNKNOWN: ({ expected, actual }) =>
    actual === undefined
      ? undefined
      : expected === undefined
        ? `Save one first: ferry sync --profile ${actual} SOURCE [filters...]`
        : `Saved selections: ${expected}. Or save this one: ferry sync --profile ${actual} SOURCE [filters...]`,
  // serve/ names the address and errno; the options that change them are the CLI's.
  FERRY_LISTEN_FAILED: ({ errno }) =>
    errno === 'EADDRINUSE'
      ? 'Another program uses that port: pick another with --port, or --port 0 for any free one.'
      : errno === 'EACCES'
        ? 'Ports below 1024 need privileges: use --port 1024 or more.'
        : errno === 'EADDRNOTAVAIL'
          ? "Give an address of one of this computer's interfaces with --bind (0.0.0.0 for all)."
          : undefined,
  // serve/ says the folder is a library; the commands that make something servable of it are the CLI's.
  FERRY_SERVE_ROOT_INVALID: ({ actual }) =>
    actual === 'library'
      ? 'Serve a mirror tree or a bundle. To serve what the library holds, export it first (`ferry export --to DIR SOURCE [filters]`, or `--profile NAME`) and serve DIR: serve reads the bundle.'
      : undefined,
  FERRY_BUNDLE_NOT_FOUND: 'Give the bundle directory (FERRY/<bundle id>) or the drive holding it; with several, name one.',
  // The engine names the key and the bundle's keyring file; the CLI says which option trusts it.
  FERRY_BUNDLE_KEY_UNTRUSTED: ({ keyId, path }) =>
    `Compare the fingerprint ${keyId ?? ''} with the publisher's, learned out of band (on the online side: gpg --show-keys on the keyring the mirror was verified with), never from this drive. Only if they match, run again with --keyring ${path ?? 'BUNDLE/keyrings/NAME.gpg'} (or --trust-bundle-keyrings to trust every keyring the bundle carries).`,
  FERRY_BUNDLE_INCOMPLETE: 'Give every volume of the bundle (in any order); for an incremental bundle, import the base bundle into the same folder first.',
  FERRY_BUNDLE_OLDER: 'Import a newer bundle. Only to roll the metadata back on purpose, run again with --allow-older (and without --prune, unless the newer files should go).',
  FERRY_CATALOG_LOST:
    'Nothing was deleted. Run `ferry sync` for each source of this library: it hashes the stored files and records them again; then run the command again.',
};

/** The hint the CLI prints for `error`: its table's wording where it has one, else the error's own remedy. */
export function cliHint(error: ErrorFacts & { hint?: string | undefined }): string | undefined {
  const rule = cliHints[error.code];
  const worded = typeof rule === 'function' ? rule(error) : rule;
  return worded ?? error.hint;
}
