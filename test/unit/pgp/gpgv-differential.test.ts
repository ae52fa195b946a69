// Our verdict on a clearsigned file must be gpgv's (GnuPG 2.2, what MAAS runs through simplestreams),
// on every variant below, except the refusals in STRICTER_THAN_GPGV, which docs/errors.md lists too.
// gpgv is a CI requirement (.ci/run installs it): when it is missing, every case fails, loudly.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createCleartextMessage,
  enums,
  generateKey,
  reformatKey,
  revokeKey,
  SecretKeyPacket,
  sign,
  type PrivateKey,
} from 'openpgp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError, type FerryErrorCode } from '../../../src-main/base/errors.js';
import { verifyClearsigned } from '../../../src-main/pgp/clearsigned.js';
import { loadKeyring } from '../../../src-main/pgp/keyring.js';
import { keyboxOf, makeGnupgHome, runGnupgTool } from '../../support/gnupg.js';

/** Each refusal we make where gpgv accepts, by case name, with the code we answer and why. */
const STRICTER_THAN_GPGV: Readonly<Record<string, { code: FerryErrorCode; why: string }>> = {
  'hash SHA-1': { code: 'FERRY_SIG_WEAK_HASH', why: 'SHA-1 has practical collisions' },
  'hash RIPEMD-160': { code: 'FERRY_SIG_WEAK_HASH', why: 'RIPEMD-160 is a 160-bit hash with near collisions' },
  'revoked key': { code: 'FERRY_SIG_KEY_REVOKED', why: 'a retired key signing metadata is what a replay looks like' },
  'revoked signing subkey': { code: 'FERRY_SIG_KEY_REVOKED', why: 'as a revoked key' },
  'signed after the key expired': { code: 'FERRY_SIG_KEY_EXPIRED', why: 'only a holder of the old secret key can sign past its expiry' },
  'signature dated a day ahead': { code: 'FERRY_SIG_FUTURE', why: 'a future date cannot be judged against the key history' },
  'text before the block': { code: 'FERRY_SIG_MISSING', why: 'simplestreams read_signed (MAAS) requires the header at byte 0' },
  'blank line before the block': { code: 'FERRY_SIG_MISSING', why: 'as text before the block' },
  'second signature block after the signature': { code: 'FERRY_SIG_MALFORMED', why: 'no armored block may follow the signature' },
  'empty PGP MESSAGE line after the signature': { code: 'FERRY_SIG_MALFORMED', why: 'as a second signature block' },
  'no END PGP SIGNATURE line': { code: 'FERRY_SIG_MALFORMED', why: 'a file cut short after the checksum is a truncated download' },
  'END PGP MESSAGE closes the signature': { code: 'FERRY_SIG_MALFORMED', why: 'the signature block must close as it opened' },
  'not dash-escaped (gpg --not-dash-escaped)': {
    code: 'FERRY_SIG_MALFORMED',
    why: 'without dash-escaping a body line can pass for armor; no SimpleStreams publisher signs this way',
  },
};

const DAY_MS = 24 * 60 * 60 * 1000;
const TEXT = [
  '{',
  ' "content_id": "com.ubuntu.maas:stable:v3:download",',
  ' "note": "trailing spaces follow",   ',
  '- "dashed": "a line that starts with a dash",',
  '-----BEGIN PGP SIGNATURE----- inside the text is escaped too',
  ' "tab":\t"end"\t',
  '}',
  '',
].join('\n');

interface Case {
  name: string;
  file: Uint8Array;
  /** Binary keys: gpgv reads these (and we do); `ours` overrides what we are given, for other formats. */
  keyring: Uint8Array;
  ours?: Uint8Array;
  /** gpgv's verdict, pinned so that a case cannot pass by both sides refusing everything. */
  gpgv: 'accept' | 'refuse';
  /** Our code when both refuse and the cause matters (a key problem, a mismatch and an unknown key differ). */
  code?: FerryErrorCode;
}

interface Verdict {
  accepted: boolean;
  detail: string;
}

const encode = (text: string): Uint8Array => new TextEncoder().encode(text);
const wholeSecondsAgo = (ms: number): Date => new Date(Math.floor((Date.now() - ms) / 1000) * 1000);

async function edKey(name: string, options: { date?: Date; keyExpirationTime?: number; signingSubkey?: boolean } = {}) {
  return generateKey({
    type: 'ecc',
    curve: 'ed25519Legacy',
    userIDs: [{ name, email: `${name.toLowerCase().replace(/\W+/g, '.')}@example.test` }],
    subkeys: options.signingSubkey === true ? [{ sign: true }] : [],
    date: options.date,
    keyExpirationTime: options.keyExpirationTime,
    format: 'object',
  });
}

async function clearsignWith(keys: PrivateKey | PrivateKey[], options: { date?: Date; hash?: enums.hash } = {}): Promise<string> {
  const signed = await sign({
    message: await createCleartextMessage({ text: TEXT }),
    signingKeys: keys,
    date: options.date,
    config: {
      preferredHashAlgorithm: options.hash ?? enums.hash.sha512,
    },
  });
  // As GnuPG writes it: LF throughout (openpgp writes the text with CRLF and the armor with LF).
  return signed.replace(/\r\n/g, '\n');
}

const cases: Case[] = [];
let home: { dir: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  home = await makeGnupgHome();
  const [ed, rsa, stranger, withSubkey] = await Promise.all([
    edKey('Ed Publisher'),
    generateKey({ type: 'rsa', rsaBits: 2048, userIDs: [{ name: 'RSA Publisher', email: 'rsa@example.test' }], format: 'object' }),
    edKey('Stranger'),
    edKey('Subkey Publisher', { signingSubkey: true }),
  ]);
  const edRing = ed.publicKey.write();
  const rsaRing = rsa.publicKey.write();
  const base = await clearsignWith(ed.privateKey);
  const add = (name: string, file: string | Uint8Array, keyring: Uint8Array, gpgv: Case['gpgv'], ours?: Uint8Array, code?: FerryErrorCode): void => {
    cases.push({ name, file: typeof file === 'string' ? encode(file) : file, keyring, gpgv, ...(ours === undefined ? {} : { ours }), ...(code === undefined ? {} : { code }) });
  };
  const signatureStart = base.indexOf('-----BEGIN PGP SIGNATURE-----');

  // Framing: what surrounds the one signed message, and how its text is written.
  add('plain', base, edRing, 'accept');
  add('CRLF line ends throughout', base.replace(/\n/g, '\r\n'), edRing, 'accept');
  add('trailing whitespace added and removed', base.replace('follows",   \n', 'follows",\n').replace('"end"\t\n', '"end"\t  \r\n'), edRing, 'accept');
  add('no line end after the signature', base.trimEnd(), edRing, 'accept');
  add('text after the block', `${base}Published by the stream team.\n`, edRing, 'accept');
  add('blank lines and whitespace after the block', `${base}\n  \t\n\n`, edRing, 'accept');
  add('text before the block', `Signed metadata follows.\n${base}`, edRing, 'accept');
  add('blank line before the block', `\n${base}`, edRing, 'accept');
  const forged = `${base.slice(0, signatureStart).replace('stable', 'forged')}${base.slice(signatureStart)}`;
  add('second signed message appended', `${base}${forged}`, edRing, 'refuse');
  add('second signed message after a blank line', `${base}\n${forged}`, edRing, 'refuse');
  add('second signature block after the signature', `${base}${base.slice(signatureStart)}`, edRing, 'accept');
  add('empty PGP MESSAGE line after the signature', `${base}-----BEGIN PGP MESSAGE-----\n`, edRing, 'accept');
  add('text changed', base.replace('com.ubuntu.maas', 'com.ubuntu.evil'), edRing, 'refuse', undefined, 'FERRY_SIG_BAD');
  add('dash-escape removed', base.replace('- - "dashed"', '- "dashed"'), edRing, 'refuse');
  add('needless dash-escape added', base.replace(' "content_id"', '-  "content_id"'), edRing, 'accept');
  add('line starting with a dash not escaped', base.replace('- - "dashed"', '-- "dashed"'), edRing, 'refuse');
  add('Comment armor header', base.replace('Hash: SHA512\n', 'Hash: SHA512\nComment: hello\n'), edRing, 'refuse');
  add('no Hash armor header', base.replace('Hash: SHA512\n', ''), edRing, 'refuse');
  add('Hash header names another algorithm', base.replace('Hash: SHA512\n', 'Hash: SHA256\n'), edRing, 'refuse');
  add('Hash header names two algorithms', base.replace('Hash: SHA512\n', 'Hash: SHA256,SHA512\n'), edRing, 'accept');
  const latin1 = Buffer.from('{"label": "caf\xe9 cr\xe8me"}\n', 'latin1');
  add('text that is not UTF-8 (clearsigned by gpg)', await gpgClearsign(ed.privateKey, latin1, 'SHA512'), edRing, 'accept');

  // Armor, as gpgv reads it (g10/armor.c): GnuPG writes the CRC-24 checksum line openpgp leaves out.
  const armored = new TextDecoder().decode(await gpgClearsign(ed.privateKey, encode(TEXT), 'SHA512'));
  const checksum = /\n(=[A-Za-z0-9+/]{4})\n-----END PGP SIGNATURE-----/.exec(armored)?.[1];
  if (checksum === undefined) throw new Error(`gpg wrote no armor checksum:\n${armored}`);
  const withChecksum = (line: string): string => armored.replace(`\n${checksum}\n`, line === '' ? '\n' : `\n${line}\n`);
  const damaged = `=${checksum[1] === 'A' ? 'B' : 'A'}${checksum.slice(2)}`;
  add('armor checksum (gpg)', armored, edRing, 'accept');
  add('armor checksum damaged', withChecksum(damaged), edRing, 'refuse', undefined, 'FERRY_SIG_MALFORMED');
  add('armor checksum of 3 characters', withChecksum(checksum.slice(0, 4)), edRing, 'refuse', undefined, 'FERRY_SIG_MALFORMED');
  add('armor checksum missing', withChecksum(''), edRing, 'accept');
  add('armor checksum followed by more characters', withChecksum(`${checksum}AAAA`), edRing, 'accept');
  add('armor checksum line with trailing whitespace', withChecksum(`${checksum} \t`), edRing, 'accept');
  add('whitespace after every armor line', armored.replace(/\n/g, '  \n'), edRing, 'accept');
  add('foreign character in the signature base64', armored.replace(/(-----BEGIN PGP SIGNATURE-----\n\n.{10})/, '$1!'), edRing, 'refuse', undefined, 'FERRY_SIG_MALFORMED');
  add('no blank line after BEGIN PGP SIGNATURE', armored.replace('-----BEGIN PGP SIGNATURE-----\n\n', '-----BEGIN PGP SIGNATURE-----\n'), edRing, 'refuse');
  add('Comment armor header in the signature', armored.replace('-----BEGIN PGP SIGNATURE-----\n', '-----BEGIN PGP SIGNATURE-----\nComment: hello\n'), edRing, 'accept');
  add('signature armor header without a space (Comment:hello)', armored.replace('-----BEGIN PGP SIGNATURE-----\n', '-----BEGIN PGP SIGNATURE-----\nComment:hello\n'), edRing, 'refuse');
  // gpgv's parse_hash_header: "Hash: " with the space, names split at commas, each matched as a prefix.
  const hashHeaders: Array<[string, string, Case['gpgv']]> = [
    ['Hash header without a space (Hash:SHA512)', 'Hash:SHA512', 'refuse'],
    ['Hash header with trailing spaces', 'Hash: SHA512  ', 'accept'],
    ['Hash header ending in a comma', 'Hash: SHA256, SHA512,', 'accept'],
    ['Hash header name abbreviated (SHA51)', 'Hash: SHA51', 'accept'],
  ];
  for (const [name, header, verdict] of hashHeaders) {
    add(name, armored.replace('Hash: SHA512\n', `${header}\n`), edRing, verdict, undefined, verdict === 'refuse' ? 'FERRY_SIG_MALFORMED' : undefined);
  }
  add('no END PGP SIGNATURE line', armored.replace('-----END PGP SIGNATURE-----\n', ''), edRing, 'accept');
  add('END PGP MESSAGE closes the signature', armored.replace('-----END PGP SIGNATURE-----', '-----END PGP MESSAGE-----'), edRing, 'accept');

  // Signers and keys.
  add('RSA key', await clearsignWith(rsa.privateKey), rsaRing, 'accept');
  add('signing subkey', await clearsignWith(withSubkey.privateKey), withSubkey.publicKey.write(), 'accept');
  add('unknown key', base, stranger.publicKey.write(), 'refuse', undefined, 'FERRY_SIG_UNKNOWN_KEY');
  const cosigned = await clearsignWith([ed.privateKey, stranger.privateKey]);
  add('two signatures, both keys known', cosigned, Buffer.concat([edRing, stranger.publicKey.write()]), 'accept');
  add('two signatures, one key known', cosigned, edRing, 'refuse');

  const createdAt = wholeSecondsAgo(3 * DAY_MS);
  const expiring = await edKey('Expiring Publisher', { date: createdAt, keyExpirationTime: DAY_MS / 1000 });
  add('key expired after signing', await clearsignWith(expiring.privateKey, { date: new Date(createdAt.getTime() + 3_600_000) }), expiring.publicKey.write(), 'accept');
  const unbounded = await reformatKey({ privateKey: expiring.privateKey, userIDs: [{ name: 'Expiring Publisher' }], date: createdAt, format: 'object' });
  add('signed after the key expired', await clearsignWith(unbounded.privateKey, { date: new Date(createdAt.getTime() + 2 * DAY_MS) }), expiring.publicKey.write(), 'accept');
  const renewing = await edKey('Renewing Publisher', { date: createdAt, keyExpirationTime: 30 * DAY_MS / 1000 });
  const signedBeforeRenewal = await clearsignWith(renewing.privateKey, { date: new Date(createdAt.getTime() + 3_600_000) });
  const renewed = await reformatKey({ privateKey: renewing.privateKey, userIDs: [{ name: 'Renewing Publisher' }], keyExpirationTime: 365 * DAY_MS / 1000, format: 'object' });
  add('key refreshed after signing (expiry extended, re-exported)', signedBeforeRenewal, renewed.publicKey.write(), 'accept');
  // The signature's own lifetime (expiration subpacket), which openpgp's signing API cannot set.
  const twoDaysAgo = String(Math.floor((Date.now() - 2 * DAY_MS) / 1000));
  const renewingRing = renewing.publicKey.write();
  add('signature expired (its own expiry time passed)', await gpgClearsign(renewing.privateKey, encode(TEXT), 'SHA512', ['--faked-system-time', twoDaysAgo, '--default-sig-expire', '1d']), renewingRing, 'refuse', undefined, 'FERRY_SIG_EXPIRED');
  add('signature expiring in a day', await gpgClearsign(renewing.privateKey, encode(TEXT), 'SHA512', ['--default-sig-expire', '1d']), renewingRing, 'accept');
  add('unknown critical notation', await gpgClearsign(ed.privateKey, encode(TEXT), 'SHA512', ['--sig-notation', '!policy@example.test=1']), edRing, 'refuse', undefined, 'FERRY_SIG_MALFORMED');
  add('not dash-escaped (gpg --not-dash-escaped)', await gpgClearsign(ed.privateKey, encode('{\n "format": "products:1.0"\n}\n'), 'SHA512', ['--not-dash-escaped']), edRing, 'accept');
  add('non-critical notation', await gpgClearsign(ed.privateKey, encode(TEXT), 'SHA512', ['--sig-notation', 'note@example.test=1']), edRing, 'accept');
  add('signature dated a day ahead', await clearsignWith(ed.privateKey, { date: new Date(Date.now() + DAY_MS) }), edRing, 'accept');
  const retiring = await edKey('Retiring Publisher');
  const signedBeforeRevocation = await clearsignWith(retiring.privateKey);
  const revoked = await revokeKey({ key: retiring.privateKey, format: 'object' });
  add('revoked key', signedBeforeRevocation, revoked.publicKey.write(), 'accept');
  const subkeySigned = await clearsignWith(withSubkey.privateKey);
  const [signingSubkey] = withSubkey.privateKey.subkeys;
  const primaryPacket = withSubkey.privateKey.keyPacket;
  if (signingSubkey === undefined || !(primaryPacket instanceof SecretKeyPacket)) throw new Error('generateKey made no signing subkey');
  // The 'signing subkey' case above already holds the unrevoked key's bytes.
  await signingSubkey.update(await signingSubkey.revoke(primaryPacket));
  add('revoked signing subkey', subkeySigned, withSubkey.privateKey.toPublic().write(), 'accept');

  // Hash algorithms, with the RSA key: gpg signs with every digest it knows (openpgp only uses one the
  // key's preferences list); openpgp makes the SHA-3 signatures GnuPG 2.2 cannot.
  // gpgv 2.2 refuses the MD5 signature gpg 2.2 makes ("signature digest conflict in message").
  const gpgHashes: Array<[string, string, Case['gpgv']]> = [
    ['MD5', 'MD5', 'refuse'],
    ['SHA-1', 'SHA1', 'accept'],
    ['RIPEMD-160', 'RIPEMD160', 'accept'],
    ['SHA-224', 'SHA224', 'accept'],
    ['SHA-256', 'SHA256', 'accept'],
    ['SHA-384', 'SHA384', 'accept'],
    ['SHA-512', 'SHA512', 'accept'],
  ];
  const announcing = (file: string | Uint8Array, header: string): string | Uint8Array => {
    // Guards against a signer quietly choosing another digest than the case is named for.
    expect(new TextDecoder().decode(typeof file === 'string' ? encode(file) : file)).toContain(`\nHash: ${header}\n`);
    return file;
  };
  for (const [name, gpgName, verdict] of gpgHashes) {
    add(`hash ${name}`, announcing(await gpgClearsign(rsa.privateKey, encode(TEXT), gpgName), gpgName), rsaRing, verdict);
  }
  // openpgp names them SHA3_256 and SHA3_512; GnuPG 2.2 knows neither name nor algorithm.
  for (const [name, hash] of [['SHA3-256', enums.hash.sha3_256], ['SHA3-512', enums.hash.sha3_512]] as const) {
    add(`hash ${name}`, announcing(await clearsignWith(rsa.privateKey, { hash }), name.replace('-', '_')), rsaRing, 'refuse');
  }

  // Keyring formats: gpgv reads binary keyrings and keyboxes; given armor, it gets the binary form.
  add('keybox keyring (pubring.kbx from gpg --import)', base, edRing, 'accept', await keyboxOf([edRing]));
  add('armored keyring', base, edRing, 'accept', encode(ed.publicKey.armor()));
  add('binary keyring of several keys', base, Buffer.concat([rsaRing, edRing]), 'accept');
}, 60_000);

/**
 * GnuPG clearsigns what openpgp cannot: bytes that are not UTF-8, every digest, an armor checksum,
 * signature expiry and notations (`extra` gpg options), with the same keys.
 */
async function gpgClearsign(privateKey: PrivateKey, text: Uint8Array, digest: string, extra: readonly string[] = []): Promise<Uint8Array> {
  const secretFile = join(home.dir, 'signer.asc');
  const textFile = join(home.dir, 'latin1.txt');
  await writeFile(secretFile, privateKey.armor());
  await writeFile(textFile, text);
  const imported = await runGnupgTool('gpg', ['--quiet', '--import', secretFile], home.dir);
  if (imported.status !== 0) throw new Error(`gpg --import: ${imported.stderr}`);
  const signed = await runGnupgTool('gpg', ['--quiet', '--yes', ...extra, '--digest-algo', digest, '--local-user', privateKey.getFingerprint(), '--clearsign', textFile], home.dir);
  if (signed.status !== 0) throw new Error(`gpg --clearsign: ${signed.stderr}`);
  return readFile(`${textFile}.asc`);
}

afterAll(async () => {
  await home.cleanup();
});

async function gpgvVerdict(testCase: Case, index: number): Promise<Verdict> {
  const keyringFile = join(home.dir, `keyring-${index}.gpg`);
  const signedFile = join(home.dir, `signed-${index}.asc`);
  await writeFile(keyringFile, testCase.keyring);
  await writeFile(signedFile, testCase.file);
  const run = await runGnupgTool('gpgv', ['--keyring', keyringFile, signedFile], home.dir);
  return { accepted: run.status === 0, detail: `exit ${run.status}: ${run.stderr.trim().split('\n').slice(-2).join(' | ')}` };
}

async function ourVerdict(testCase: Case): Promise<Verdict & { code?: FerryErrorCode }> {
  const keyring = await loadKeyring([{ name: 'keyring', bytes: testCase.ours ?? testCase.keyring }]);
  try {
    const verified = await verifyClearsigned(testCase.file, keyring, 'signed.asc');
    return { accepted: true, detail: `signed by ${verified.signerFingerprint}` };
  } catch (error) {
    if (!(error instanceof FerryError)) throw error;
    return { accepted: false, detail: error.message, code: error.code };
  }
}

describe('our verdict equals gpgv on every signed-file variant', () => {
  it('covers the whole corpus, and every stricter refusal is a case of it', () => {
    expect(cases.length).toBeGreaterThanOrEqual(60);
    const names = new Set(cases.map((testCase) => testCase.name));
    expect(Object.keys(STRICTER_THAN_GPGV).filter((name) => !names.has(name))).toEqual([]);
  });

  it('judges each variant as gpgv does, or refuses it with the listed stricter code', async () => {
    const table: string[] = [];
    const disagreements: string[] = [];
    for (const [index, testCase] of cases.entries()) {
      const [theirs, ours] = [await gpgvVerdict(testCase, index), await ourVerdict(testCase)];
      const stricter = STRICTER_THAN_GPGV[testCase.name];
      table.push(`${testCase.name.padEnd(60)} gpgv ${theirs.accepted ? 'accept' : 'refuse'}  ferry ${ours.accepted ? 'accept' : `refuse ${ours.code ?? ''}`}`);
      if (theirs.accepted !== (testCase.gpgv === 'accept')) disagreements.push(`${testCase.name}: gpgv now says ${theirs.detail}`);
      const expected = stricter === undefined ? theirs.accepted : false;
      const expectedCode = stricter?.code ?? testCase.code;
      if (ours.accepted !== expected || (expectedCode !== undefined && ours.code !== expectedCode)) {
        disagreements.push(`${testCase.name}: gpgv ${theirs.detail}; ferry ${ours.accepted ? 'accepted' : `refused (${ours.code ?? ''}: ${ours.detail})`}`);
      }
    }
    process.stdout.write(`gpgv differential corpus, ${cases.length} cases:\n${table.join('\n')}\n`);
    expect(disagreements).toEqual([]);
  }, 120_000);
});
