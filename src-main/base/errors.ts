// Every error Stream Ferry raises on purpose is a FerryError with a stable code. Code branches on
// `code`, never on message text; faces turn codes into exit statuses and titles. Below the faces an
// error states facts (what failed: file, URL, key, expected and actual, limit) and at most a remedy
// in the field's terms; a face's hint table (cli/hints.ts) words what to type or click. This file
// imports nothing of ours (it is part of base/, the ground floor), so every folder may use it.

export const ERROR_CODES = {
  FERRY_USAGE: 'The command line could not be understood',
  FERRY_SOURCE_INVALID: 'The source is not a usable SimpleStreams location',
  FERRY_FETCH_FAILED: 'A file could not be fetched',
  FERRY_HTTP_STATUS: 'The server answered with an error status',
  FERRY_TOO_LARGE: 'A metadata file is larger than allowed',
  FERRY_JSON_MALFORMED: 'A metadata file is not valid JSON',
  FERRY_FORMAT_UNSUPPORTED: 'A metadata file is not in a supported SimpleStreams format',
  FERRY_UNSAFE_PATH: 'A path in the metadata could escape the mirror',
  FERRY_FILTER_INVALID: 'A filter expression is invalid',
  FERRY_SETTING_INVALID: 'A setting of the job is out of range or malformed',
  FERRY_KEYRING_INVALID: 'A keyring file could not be read',
  FERRY_SIG_MISSING: 'A file that must be signed is not signed',
  FERRY_SIG_UNKNOWN_KEY: 'A file is signed by a key that is not in the keyring',
  FERRY_SIG_BAD: 'A signature does not match the signed content',
  FERRY_SIG_MALFORMED: 'A signed file is not exactly one well-formed PGP signed message',
  FERRY_SIG_FUTURE: 'A signature is dated in the future',
  FERRY_SIG_EXPIRED: 'A signature has passed the expiry date its signer gave it',
  FERRY_SIG_KEY_INVALID: 'A signing key cannot be used to check its signature',
  FERRY_SIG_KEY_EXPIRED: 'A file was signed after its key had expired',
  FERRY_SIG_KEY_REVOKED: 'A file is signed by a revoked key',
  FERRY_SIG_WEAK_HASH: 'A signature uses a hash algorithm that is not accepted',
  FERRY_NO_CHECKSUM: 'An item has no size or checksum to verify it with',
  FERRY_SIZE_MISMATCH: 'A file does not have the size the metadata lists',
  FERRY_HASH_MISMATCH: 'A file does not have the checksum the metadata lists',
  FERRY_DOWNLOAD_STALLED: 'A download stopped receiving data',
  FERRY_CONTENT_ENCODING: 'A file arrived compressed in a way that cannot be used',
  FERRY_ALIASES_TOO_LARGE: 'Expanding the _aliases of a metadata file would take too much work',
  FERRY_REDIRECT_INSECURE: 'A redirect would downgrade HTTPS to HTTP',
  FERRY_TOO_MANY_REDIRECTS: 'A download was redirected too many times',
  FERRY_RESUME_REJECTED: 'A partial download could not be resumed',
  FERRY_DISK_FULL: 'The disk is full',
  FERRY_NOT_ENOUGH_SPACE: 'There is not enough free space for the plan',
  FERRY_IO: 'A file operation failed',
  FERRY_LIBRARY_BUSY: 'Another Stream Ferry job is using the library or mirror tree',
  FERRY_PATH_BLOCKED: 'A link or a non-regular file is where a mirror file goes, or on the way to it',
  FERRY_TARGET_NOT_DIRECTORY: 'A folder to write into (a mirror target or a library) is a file, not a directory',
  FERRY_CATALOG_TOO_NEW: 'The catalog was written by a newer Stream Ferry',
  FERRY_CATALOG_CORRUPT: 'The catalog database is damaged',
  FERRY_CATALOG_LOST: 'The catalog is missing or empty while the library holds files',
  FERRY_PROFILE_UNKNOWN: 'No saved selection has that name',
  FERRY_DRIVE_TOOL_FAILED: 'The tool that lists drives could not be run or failed',
  FERRY_DRIVE_OUTPUT_INVALID: 'The tool that lists drives printed something that cannot be read',
  FERRY_DRIVES_UNSUPPORTED: 'Listing drives is not supported on this platform',
  FERRY_SERVE_ROOT_INVALID: 'The folder to serve is missing, not a directory, or not a mirror tree or bundle',
  FERRY_LISTEN_FAILED: 'The server could not listen on the address asked for',
  FERRY_BUNDLE_INVALID: 'A bundle is damaged or not a Stream Ferry bundle',
  FERRY_BUNDLE_NOT_FOUND: 'No bundle, or more than one, is at the path given',
  FERRY_BUNDLE_INCOMPLETE: 'Files of a bundle are missing: a volume not given, or a blob neither in the bundle nor at the site',
  FERRY_BUNDLE_KEY_UNTRUSTED: "A bundle's metadata is signed by a key only the bundle's own keyring holds",
  FERRY_BUNDLE_TOO_NEW: 'A bundle or receipt was written by a newer Stream Ferry',
  FERRY_BUNDLE_OLDER: "A bundle's metadata is older than what the import target publishes",
  FERRY_RECEIPT_INVALID: 'A receipt is damaged or not a Stream Ferry receipt',
  FERRY_TARGET_MISSING: 'The export target folder does not exist',
  FERRY_TARGET_UNFIT: 'The export target cannot hold the files as they would be written',
  FERRY_EXPORT_UNAVAILABLE: 'The library or mirror tree does not hold what the export asks for',
  FERRY_INPUT_INVALID: 'A job or call was given an input it cannot use',
  FERRY_CANCELLED: 'The operation was cancelled',
} as const;

export type FerryErrorCode = keyof typeof ERROR_CODES;

export interface FerryErrorDetails {
  /** What the operator can do about it. */
  hint?: string;
  cause?: unknown;
  url?: string;
  path?: string;
  expected?: string;
  actual?: string;
  /** HTTP status, when the failure is an HTTP answer. */
  status?: number;
  /** The code of the failed call: a system error (ENOENT, ENOTFOUND, ECONNREFUSED) or undici's (UND_ERR_SOCKET). */
  errno?: string;
  /** OpenPGP key id (16 uppercase hex digits) or fingerprint of the key concerned. */
  keyId?: string;
  /**
   * The bound that was exceeded: bytes (FERRY_TOO_LARGE), redirects (FERRY_TOO_MANY_REDIRECTS),
   * milliseconds (FERRY_DOWNLOAD_STALLED), properties (FERRY_ALIASES_TOO_LARGE), indexes deep
   * (FERRY_FORMAT_UNSUPPORTED for an index chain).
   */
  limit?: number;
  /**
   * Which job setting is out of range, by its name in the domain's input (`max`, `keep`, `proxy`,
   * `connectionsPerHost`, `stallTimeoutMs`, `maxAttempts`, `concurrency`): faces map it to their
   * own words (an option, a field).
   */
  setting?: string;
  /** The input field that was refused (FERRY_INPUT_INVALID), so a face can point at it. */
  field?: string;
}

/**
 * The plain-data form of a FerryError, for crossing a process or IPC boundary: the facts of
 * FerryErrorDetails without the cause (which may hold anything, and need not survive a boundary).
 */
export type SerializedFerryError = { name: 'FerryError'; code: FerryErrorCode; message: string } & Omit<FerryErrorDetails, 'cause'>;

export class FerryError extends Error {
  override readonly name = 'FerryError';
  readonly code: FerryErrorCode;
  readonly hint: string | undefined;
  readonly url: string | undefined;
  readonly path: string | undefined;
  readonly expected: string | undefined;
  readonly actual: string | undefined;
  readonly status: number | undefined;
  readonly errno: string | undefined;
  readonly keyId: string | undefined;
  readonly limit: number | undefined;
  readonly setting: string | undefined;
  readonly field: string | undefined;

  constructor(code: FerryErrorCode, message: string, details: FerryErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.hint = details.hint;
    this.url = details.url === undefined ? undefined : redactUrl(details.url);
    this.path = details.path;
    this.expected = details.expected;
    this.actual = details.actual;
    this.status = details.status;
    this.errno = details.errno;
    this.keyId = details.keyId;
    this.limit = details.limit;
    this.setting = details.setting;
    this.field = details.field;
  }

  toJSON(): SerializedFerryError {
    const plain: SerializedFerryError = { name: 'FerryError', code: this.code, message: this.message };
    if (this.hint !== undefined) plain.hint = this.hint;
    if (this.url !== undefined) plain.url = this.url;
    if (this.path !== undefined) plain.path = this.path;
    if (this.expected !== undefined) plain.expected = this.expected;
    if (this.actual !== undefined) plain.actual = this.actual;
    if (this.status !== undefined) plain.status = this.status;
    if (this.errno !== undefined) plain.errno = this.errno;
    if (this.keyId !== undefined) plain.keyId = this.keyId;
    if (this.limit !== undefined) plain.limit = this.limit;
    if (this.setting !== undefined) plain.setting = this.setting;
    if (this.field !== undefined) plain.field = this.field;
    return plain;
  }

  static fromJSON(plain: SerializedFerryError): FerryError {
    return new FerryError(plain.code, plain.message, plain);
  }
}

/** The hint and facts of `error`, to build another error about the same failure (e.g. after retries). */
export function factsOf(error: FerryError): FerryErrorDetails {
  const { hint, url, path, expected, actual, status, errno, keyId, limit, setting, field } = error;
  return { hint, url, path, expected, actual, status, errno, keyId, limit, setting, field };
}

export function isFerryError(error: unknown, code?: FerryErrorCode): error is FerryError {
  return error instanceof FerryError && (code === undefined || error.code === code);
}

/** Removes user:password from a URL so it never reaches a message, a log or the catalog. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username === '' && parsed.password === '') return url;
    parsed.username = parsed.password === '' ? '***' : parsed.username;
    parsed.password = parsed.password === '' ? '' : '***';
    return parsed.toString();
  } catch {
    return url;
  }
}

/**
 * OpenSSL's verification codes (as Node names them, X509_V_ERR_* without the prefix) that mean a
 * server's certificate does not chain to a CA this process trusts: a private CA, most often. Here
 * so that net/ words the error and a face words the remedy from the same list (`errno`).
 */
export const UNTRUSTED_CERTIFICATE_CODES: ReadonlySet<string> = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

/** The `code` of a thrown error (ENOENT, ENOSPC, ENOTFOUND, UND_ERR_SOCKET...), if it carries one. */
export function errnoCode(error: unknown): string | undefined {
  if (error instanceof Error && 'code' in error && typeof error.code === 'string') return error.code;
  return undefined;
}

/** The message of any thrown value, for wrapping foreign errors as a cause. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === undefined ? error.message : `${error.message} (${code})`;
  }
  return String(error);
}
