import { enums } from 'openpgp';
import { FerryError, type FerryErrorDetails } from '../base/errors.js';

/** One cleartext-signed block, split as GnuPG 2.2 (`gpgv`) splits it. */
export interface CleartextBlock {
  /**
   * The bytes the signatures cover (RFC 4880 §7.1, RFC 9580 §7.2): dash-escaping undone, trailing
   * spaces, tabs and CRs of each line removed, lines joined with CRLF, no line end after the last.
   */
  signedBytes: Uint8Array;
  /** The same lines joined with `\n`, decoded as UTF-8 (invalid sequences become U+FFFD). */
  body: string;
  /** Hash algorithms the `Hash:` armor headers announce; MD5 alone when there is none (as gpgv assumes). */
  announcedHashes: ReadonlySet<enums.hash>;
  /** The signature packets, unarmored and checked against the armor checksum as gpgv does. */
  signaturePackets: Uint8Array;
}

export const SIGNED_MESSAGE_HEADER = '-----BEGIN PGP SIGNED MESSAGE-----';
const SIGNATURE_HEADER = '-----BEGIN PGP SIGNATURE-----';
const SIGNATURE_FOOTER = '-----END PGP SIGNATURE-----';
const ANY_ARMOR_HEADER = '-----BEGIN PGP ';

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;
const DASH = 0x2d;

/** The names GnuPG 2.2 accepts in a `Hash:` header (g10/armor.c); it knows no SHA-3. */
const HASH_HEADER_NAMES: ReadonlyMap<string, enums.hash> = new Map([
  ['MD5', enums.hash.md5],
  ['SHA1', enums.hash.sha1],
  ['RIPEMD160', enums.hash.ripemd],
  ['SHA224', enums.hash.sha224],
  ['SHA256', enums.hash.sha256],
  ['SHA384', enums.hash.sha384],
  ['SHA512', enums.hash.sha512],
]);

/** gpgv's `parse_hash_header`: longer lines are not hash headers. */
const MAX_HASH_HEADER_LENGTH = 60;
const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** Up to 4 base64 characters: gpgv reads the checksum until the first other character. */
const CHECKSUM_CHARACTERS = /[A-Za-z0-9+/]{0,4}/y;
const ARMOR_WHITESPACE = new Set([' ', '\t', '\r', '\n']);

/**
 * Splits a cleartext-signed file into its signed bytes and its signature, byte for byte, judging the
 * framing as gpgv 2.2 does (checked against it by test/unit/pgp/gpgv-differential.test.ts):
 * - the file must start with `-----BEGIN PGP SIGNED MESSAGE-----` (FERRY_SIG_MISSING otherwise). gpgv
 *   skips leading text, but simplestreams `read_signed`, which MAAS runs, refuses it;
 * - only `Hash: ` armor headers (gpgv: "invalid clearsig header"), with names it knows;
 * - in the signature block, armor headers of the form `Key: value` (gpgv: "invalid armor header"),
 *   base64 without foreign characters, and a checksum line (`=` and 4 characters, optional) that
 *   matches the CRC-24 of the packets (gpgv: "CRC error", "malformed CRC");
 * - a body line starting with `-` must be dash-escaped as `- ` (gpgv: "invalid dash escaped line");
 * - after the signature, text is ignored, but no line may open another armored block: a second
 *   signed message is what gpgv refuses as "multiple plaintexts". gpgv tolerates a second signature
 *   block or an empty `BEGIN PGP MESSAGE` line there; we refuse every armor line, which is stricter.
 * Lines end at LF; a CR before it is trailing whitespace like a space, so CRLF files read the same.
 * Throws FERRY_SIG_MISSING or FERRY_SIG_MALFORMED; `where` names the file in messages.
 */
export function splitCleartext(bytes: Uint8Array, where: string): CleartextBlock {
  if (!startsWithAscii(bytes, 0, SIGNED_MESSAGE_HEADER)) {
    throw new FerryError('FERRY_SIG_MISSING', `${where} is not signed: it does not start with "${SIGNED_MESSAGE_HEADER}"`, {
      ...locationDetails(where),
      hint: 'A stream read from index.sjson must be clearsigned throughout. Start from index.json only if unverified metadata is acceptable.',
    });
  }
  const lines = new LineReader(bytes);
  if (lines.nextTrimmedText() !== SIGNED_MESSAGE_HEADER) throw malformed(where, `its first line is not exactly "${SIGNED_MESSAGE_HEADER}"`);

  const announcedHashes = readHashHeaders(lines, where);

  const bodyLines: Uint8Array[] = [];
  for (;;) {
    const line = lines.next();
    if (line === undefined) throw malformed(where, `the signed text is not followed by "${SIGNATURE_HEADER}"`);
    const text = trimEnd(line);
    if (equalsAscii(text, SIGNATURE_HEADER)) break;
    if (text[0] === DASH) {
      if (text[1] !== SPACE) throw malformed(where, `line ${lines.lineNumber} starts with "-" but is not dash-escaped as "- "`);
      bodyLines.push(trimEnd(text.subarray(2)));
    } else {
      bodyLines.push(text);
    }
  }

  const signatureLines: string[] = [];
  for (;;) {
    const line = lines.nextText();
    // Stricter than gpgv, which stops reading at the checksum: a file cut short there is a truncated download.
    if (line === undefined) throw malformed(where, `the signature has no "${SIGNATURE_FOOTER}" line`);
    if (trimArmorEnd(line) === SIGNATURE_FOOTER) break;
    signatureLines.push(line);
  }

  for (let line = lines.next(); line !== undefined; line = lines.next()) {
    if (!startsWithAscii(line, 0, ANY_ARMOR_HEADER)) continue;
    const what = startsWithAscii(line, 0, SIGNED_MESSAGE_HEADER) ? 'a second signed message' : 'another armored block';
    throw malformed(where, `${what} follows the signature at line ${lines.lineNumber} (gpgv refuses several signed texts in one file)`);
  }

  return {
    signedBytes: joinLines(bodyLines, [CR, LF]),
    body: new TextDecoder('utf-8').decode(joinLines(bodyLines, [LF])),
    announcedHashes,
    signaturePackets: unarmorSignature(signatureLines, where),
  };
}

/**
 * The signature block's lines between its BEGIN and END lines, decoded as gpgv 2.2 reads them
 * (g10/armor.c `parse_header_line`, `radix64_read`): armor headers up to a blank line, each with a
 * colon followed by a space or the line end; then base64, where spaces, tabs and line ends are
 * skipped and any other foreign character is an error; `=` ends the data (padding), and the first
 * characters after it (and after further `=` and whitespace) are the checksum: none is allowed, 1 to 3
 * are "malformed CRC", 4 must equal the CRC-24 of the data (RFC 4880 §6.1), the rest is ignored.
 */
function unarmorSignature(lines: readonly string[], where: string): Uint8Array {
  let index = 0;
  for (; index < lines.length; index += 1) {
    const line = lines[index] ?? '';
    if (trimArmorEnd(line) === '') break;
    const colon = line.indexOf(':');
    const afterColon = line[colon + 1];
    if (colon === -1 || !(afterColon === undefined || afterColon === ' ' || afterColon === '\r')) {
      throw malformed(where, `the signature's armor header "${trimArmorEnd(line)}" is not "Key: value" (gpgv: invalid armor header)`);
    }
  }
  // Lines end at LF, which the line reader removed; put it back so a checksum stops at its line's end.
  const text = lines.slice(index + 1).map((line) => `${line}\n`).join('');
  let data = '';
  let position = 0;
  for (; position < text.length; position += 1) {
    const char = text[position] ?? '';
    if (char === '=') break;
    if (ARMOR_WHITESPACE.has(char)) continue;
    if (!BASE64_ALPHABET.includes(char)) {
      throw malformed(where, `its signature block holds "${char}", which is not base64 (gpgv: invalid radix64 character)`);
    }
    data += char;
  }
  const packets = new Uint8Array(Buffer.from(data, 'base64'));
  while (position < text.length && (text[position] === '=' || ARMOR_WHITESPACE.has(text[position] ?? ''))) position += 1;
  CHECKSUM_CHARACTERS.lastIndex = position;
  const checksum = CHECKSUM_CHARACTERS.exec(text)?.[0] ?? '';
  if (checksum.length === 0) return packets;
  if (checksum.length < 4) throw malformed(where, `its armor checksum "=${checksum}" is not 4 characters long (gpgv: malformed CRC)`);
  const [first = 0, second = 0, third = 0] = Buffer.from(checksum, 'base64');
  const listed = (first << 16) | (second << 8) | third;
  const actual = crc24(packets);
  if (listed !== actual) {
    throw malformed(where, `its armor checksum is ${hex24(listed)} but the signature data sums to ${hex24(actual)}: the signature was damaged (gpgv: CRC error)`);
  }
  return packets;
}

/** RFC 4880 §6.1, the armor checksum. */
function crc24(bytes: Uint8Array): number {
  let crc = 0xb704ce;
  for (const byte of bytes) {
    crc ^= byte << 16;
    for (let bit = 0; bit < 8; bit += 1) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1864cfb;
    }
  }
  return crc & 0xffffff;
}

function hex24(value: number): string {
  return value.toString(16).toUpperCase().padStart(6, '0');
}

/** RFC 4880 §7: a missing `Hash:` header means MD5, and gpgv 2.2 still applies that rule. */
function readHashHeaders(lines: LineReader, where: string): Set<enums.hash> {
  const announced = new Set<enums.hash>();
  let sawHeader = false;
  for (;;) {
    const line = lines.nextTrimmedText();
    if (line === undefined) throw malformed(where, 'the armor headers are not followed by a blank line');
    if (line === '') break;
    if (!line.startsWith('Hash: ') || line.length > MAX_HASH_HEADER_LENGTH) {
      throw malformed(where, `the armor header "${line}" is not a "Hash: " header of at most ${MAX_HASH_HEADER_LENGTH} characters (gpgv: invalid armor header, invalid clearsig header)`);
    }
    sawHeader = true;
    for (const hash of hashHeaderNames(line.slice('Hash: '.length), where)) announced.add(hash);
  }
  if (!sawHeader) announced.add(enums.hash.md5);
  return announced;
}

/**
 * gpgv's `parse_hash_header`: names separated by commas, with spaces or tabs around them, a comma
 * allowed at the end; each name is matched as a prefix, in gpgv's order (`SHA` is SHA1).
 */
function hashHeaderNames(list: string, where: string): enums.hash[] {
  const names = list.split(',').map((name) => name.replace(/^[ \t]+|[ \t]+$/g, ''));
  if (names.length > 1 && names.at(-1) === '') names.pop();
  return names.map((name) => {
    const known = name === '' || /[ \t]/.test(name) ? undefined : [...HASH_HEADER_NAMES].find(([known]) => known.startsWith(name));
    if (known === undefined) throw malformed(where, `the "Hash:" header names "${name}", which gpgv does not know`);
    return known[1];
  });
}

class LineReader {
  private offset = 0;
  lineNumber = 0;

  constructor(private readonly bytes: Uint8Array) {}

  /** The next line without its LF, or undefined at the end (a final LF does not start an empty line). */
  next(): Uint8Array | undefined {
    if (this.offset >= this.bytes.length) return undefined;
    const end = this.bytes.indexOf(LF, this.offset);
    const stop = end === -1 ? this.bytes.length : end;
    const line = this.bytes.subarray(this.offset, stop);
    this.offset = stop + 1;
    this.lineNumber += 1;
    return line;
  }

  /** Armor lines are ASCII; latin1 keeps any other byte visible in messages instead of failing. */
  nextText(): string | undefined {
    const line = this.next();
    return line === undefined ? undefined : new TextDecoder('latin1').decode(line);
  }

  nextTrimmedText(): string | undefined {
    const line = this.nextText();
    return line === undefined ? undefined : trimArmorEnd(line);
  }
}

/** GnuPG strips spaces, tabs and CRs at the end of every cleartext and armor line before hashing. */
function trimEnd(line: Uint8Array): Uint8Array {
  let end = line.length;
  while (end > 0 && (line[end - 1] === SPACE || line[end - 1] === TAB || line[end - 1] === CR)) end -= 1;
  return line.subarray(0, end);
}

function trimArmorEnd(line: string): string {
  return line.replace(/[ \t\r]+$/, '');
}

function joinLines(lines: readonly Uint8Array[], separator: readonly number[]): Uint8Array {
  const total = lines.reduce((sum, line) => sum + line.length, 0) + Math.max(0, lines.length - 1) * separator.length;
  const joined = new Uint8Array(total);
  let offset = 0;
  lines.forEach((line, index) => {
    if (index > 0) {
      joined.set(separator, offset);
      offset += separator.length;
    }
    joined.set(line, offset);
    offset += line.length;
  });
  return joined;
}

function startsWithAscii(bytes: Uint8Array, offset: number, text: string): boolean {
  if (bytes.length - offset < text.length) return false;
  for (let index = 0; index < text.length; index += 1) {
    if (bytes[offset + index] !== text.charCodeAt(index)) return false;
  }
  return true;
}

function equalsAscii(bytes: Uint8Array, text: string): boolean {
  return bytes.length === text.length && startsWithAscii(bytes, 0, text);
}

/** FERRY_SIG_MALFORMED: the file is not exactly one signed message as gpgv reads it. */
export function malformed(where: string, reason: string, cause?: unknown): FerryError {
  return new FerryError('FERRY_SIG_MALFORMED', `${where} is not one well-formed PGP signed message: ${reason}`, {
    ...locationDetails(where),
    cause,
    hint: 'gpgv (and so MAAS) would refuse this file too. Fetch it again; if it persists, report it to the publisher.',
  });
}

/** Errors name a URL as `url` and anything else as `path`. */
export function locationDetails(where: string): FerryErrorDetails {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(where) ? { url: where } : { path: where };
}
