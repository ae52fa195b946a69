import {
  config as openpgpDefaults,
  createMessage,
  enums,
  LiteralDataPacket,
  readSignature,
  Subkey,
  type Config,
  type KeyID,
  type PublicKey,
  SignaturePacket,
} from 'openpgp';
import { FerryError, describeError } from '../base/errors.js';
import { locationDetails, malformed, splitCleartext } from './cleartext-framing.js';
import type { Keyring } from './keyring.js';

export interface VerifiedText {
  /**
   * The signed text with dash-escaping undone, line ends as `\n`, decoded as UTF-8. Trailing spaces
   * on a line are not covered by a cleartext signature (RFC 4880 §7.1), so they are not part of it.
   */
  body: string;
  /** Key ID (16 uppercase hex digits) of the key that made the first signature; a subkey's, if a subkey signed. */
  signerKeyId: string;
  /** Fingerprint of the keyring entry the first signer belongs to, as listed in `Keyring.fingerprints`. */
  signerFingerprint: string;
  /** Display name, e.g. "SHA-512". */
  hashAlgorithm: string;
  /** Creation time of the first signature (its signature packet's, RFC 4880 §5.2.3.4): how old upstream's signature is. */
  signedAt: Date;
  /**
   * Set when a signing key has expired since it made its signature: the signature is still good (gpgv
   * accepts it too), but the publisher must renew the key. The earliest such expiry, if several.
   */
  keyExpiredAt?: Date;
}

const HASH_NAMES: ReadonlyMap<enums.hash, string> = new Map([
  [enums.hash.md5, 'MD5'],
  [enums.hash.sha1, 'SHA-1'],
  [enums.hash.ripemd, 'RIPEMD-160'],
  [enums.hash.sha256, 'SHA-256'],
  [enums.hash.sha384, 'SHA-384'],
  [enums.hash.sha512, 'SHA-512'],
  [enums.hash.sha224, 'SHA-224'],
]);

/**
 * The policy in docs/ARCHITECTURE.md: MD5, SHA-1 and RIPEMD-160 have practical or near collisions.
 * SHA-3 is not here: gpgv 2.2 knows no SHA-3 `Hash:` header, so `splitCleartext` refuses it first.
 */
const ACCEPTED_SIGNATURE_HASHES: ReadonlySet<enums.hash> = new Set([enums.hash.sha256, enums.hash.sha384, enums.hash.sha512, enums.hash.sha224]);

const ACCEPTED_HASH_LIST = [...ACCEPTED_SIGNATURE_HASHES].map(hashAlgorithmName).join(', ');

/**
 * Passed to every openpgp call instead of relying on its global defaults, which another module (or a
 * future openpgp release) could change. Message hashes: everything outside our accepted set is
 * refused, including algorithms openpgp may add later. Key self-signatures keep openpgp's default
 * refusal of MD5 and RIPEMD-160 only: both Ubuntu cloud image keys are self-signed with SHA-1.
 */
export const VERIFICATION_CONFIG: Config = {
  ...openpgpDefaults,
  rejectMessageHashAlgorithms: new Set(allHashAlgorithms().filter((hash) => !ACCEPTED_SIGNATURE_HASHES.has(hash))),
  rejectHashAlgorithms: new Set([enums.hash.md5, enums.hash.ripemd]),
};

/**
 * A publisher whose clock runs a little ahead would otherwise produce signatures that are "in the
 * future" here and fail until our clock catches up; air-gapped hosts often keep loose time.
 */
const ALLOWED_CLOCK_SKEW_MS = 10 * 60 * 1000;

/**
 * openpgp treats a null date as "judge without time" in its signature and expiry checks, which we
 * need because we judge time ourselves, as gpgv does; its typings only admit a Date there.
 */
const AT_NO_DATE = null as unknown as Date;

interface Signer {
  primaryKey: PublicKey;
  signingKey: PublicKey | Subkey;
}

interface GoodSignature {
  signerKeyId: string;
  signerFingerprint: string;
  hashAlgorithm: string;
  signedAt: Date;
  keyExpiredAt?: Date;
}

/**
 * Checks an RFC 4880 cleartext-signed file (its exact bytes; a string is taken as UTF-8) against the
 * keyring and returns the signed text. The verdict is gpgv's (GnuPG 2.2, what MAAS runs through
 * simplestreams): the file holds exactly one signed message (see `splitCleartext`) and every one of
 * its signatures must be good, so a co-signature by a key outside the keyring fails as it does in
 * gpgv. A key that expired after signing is accepted with `keyExpiredAt` set, as gpgv accepts it.
 * Stricter than gpgv, on purpose (docs/errors.md lists each): weak hashes (FERRY_SIG_WEAK_HASH),
 * revoked keys (FERRY_SIG_KEY_REVOKED), signatures made after the key expired (FERRY_SIG_KEY_EXPIRED),
 * signatures dated more than 10 minutes ahead of our clock (FERRY_SIG_FUTURE), leading text
 * (FERRY_SIG_MISSING) and armored blocks after the signature (FERRY_SIG_MALFORMED).
 * Other errors: FERRY_SIG_BAD (content does not match), FERRY_SIG_UNKNOWN_KEY, FERRY_SIG_EXPIRED (the
 * signature's own expiry time has passed, as gpgv judges it), FERRY_SIG_MALFORMED (also: damaged
 * armor checksum, an unknown critical notation or subpacket), FERRY_SIG_KEY_INVALID
 * (the key itself is unusable for signing: no valid self-signature or binding, newer than the signature).
 * `where` (a path or URL) names the file in every error.
 */
export async function verifyClearsigned(file: Uint8Array | string, keyring: Keyring, where: string): Promise<VerifiedText> {
  const block = splitCleartext(asBytes(file), where);
  const signatures = await readSignaturePackets(block.signaturePackets, where);
  const literal = await literalDataOf(block.signedBytes);
  const now = new Date();

  const good: GoodSignature[] = [];
  for (const packet of signatures) {
    if (packet.hashAlgorithm === null || !block.announcedHashes.has(packet.hashAlgorithm)) {
      throw malformed(where, `a signature uses ${hashAlgorithmName(packet.hashAlgorithm)}, which its "Hash:" header does not announce (gpgv: signature digest conflict)`);
    }
    const signer = findSigner(keyring, packet.issuerKeyID);
    if (signer === undefined) throw unknownKeyError(where, keyIdHex(packet.issuerKeyID), packet.issuerFingerprint, keyring);
    good.push(await judgeSignature(packet, signer, literal, now, where));
  }
  const [first] = good;
  if (first === undefined) {
    throw malformed(where, 'its signature block holds no readable signature');
  }
  const verified: VerifiedText = {
    body: block.body,
    signerKeyId: first.signerKeyId,
    signerFingerprint: first.signerFingerprint,
    hashAlgorithm: first.hashAlgorithm,
    signedAt: first.signedAt,
  };
  const expiries = good.flatMap((signature) => (signature.keyExpiredAt === undefined ? [] : [signature.keyExpiredAt]));
  if (expiries.length > 0) verified.keyExpiredAt = new Date(Math.min(...expiries.map((date) => date.getTime())));
  return verified;
}

/**
 * For --no-verify: returns the signed text without checking any signature. The framing is still
 * required and judged as in `verifyClearsigned`, as the reference implementation requires it, so an
 * unsigned or doubly signed file is still an error (FERRY_SIG_MISSING, FERRY_SIG_MALFORMED).
 */
export function readClearsignedBody(file: Uint8Array | string, where: string): string {
  return splitCleartext(asBytes(file), where).body;
}

async function readSignaturePackets(packets: Uint8Array, where: string): Promise<SignaturePacket[]> {
  try {
    const signature = await readSignature({ binarySignature: packets, config: VERIFICATION_CONFIG });
    // openpgp keeps packets it cannot parse (an unknown signature version, say) as placeholders.
    return signature.packets.filter((packet): packet is SignaturePacket => packet instanceof SignaturePacket);
  } catch (error) {
    throw malformed(where, `its signature block cannot be read (${describeError(error)})`, error);
  }
}

/** Wraps the signed bytes as openpgp's signature check wants them; already canonical, so hashed as they are. */
async function literalDataOf(signedBytes: Uint8Array): Promise<LiteralDataPacket> {
  const message = await createMessage({ binary: signedBytes, format: 'binary' });
  const packet = message.packets.findPacket(enums.packet.literalData);
  if (!(packet instanceof LiteralDataPacket)) throw new Error('openpgp createMessage returned no literal data packet');
  return packet;
}

async function judgeSignature(packet: SignaturePacket, signer: Signer, literal: LiteralDataPacket, now: Date, where: string): Promise<GoodSignature> {
  const { primaryKey, signingKey } = signer;
  const signerFingerprint = primaryKey.getFingerprint().toUpperCase();
  const signerKeyId = keyIdHex(signingKey.getKeyID());
  const hashAlgorithm = hashAlgorithmName(packet.hashAlgorithm);
  const details = { ...locationDetails(where), actual: signerFingerprint, keyId: signerFingerprint };

  if (packet.hashAlgorithm === null || !ACCEPTED_SIGNATURE_HASHES.has(packet.hashAlgorithm)) {
    throw new FerryError('FERRY_SIG_WEAK_HASH', `${where} is signed with ${hashAlgorithm}, which is not accepted (accepted: ${ACCEPTED_HASH_LIST})`, {
      ...details,
      expected: ACCEPTED_HASH_LIST,
      actual: hashAlgorithm,
      hint: 'Ask the publisher to re-sign with SHA-256 or stronger.',
    });
  }
  const signedAt = packet.created;
  if (signedAt === null) throw malformed(where, `the signature by key ${signerKeyId} has no creation time`);
  if (signedAt.getTime() > now.getTime() + ALLOWED_CLOCK_SKEW_MS) {
    throw new FerryError('FERRY_SIG_FUTURE', `${where} was signed by key ${signerKeyId} at ${signedAt.toISOString()}, which is in the future here`, {
      ...details,
      actual: signedAt.toISOString(),
      hint: 'Check this computer\'s clock; a signature from the future cannot be judged against the key\'s history.',
    });
  }
  // Judged here because the signature check below runs without a date (see there), which also skips
  // openpgp's own test of the signature's expiry subpacket; gpgv refuses it too ("Expired signature").
  const signatureExpiresAt = packet.getExpirationTime();
  if (signatureExpiresAt instanceof Date && signatureExpiresAt <= now) {
    throw new FerryError('FERRY_SIG_EXPIRED', `${where}: the signature by key ${signerKeyId} expired on ${signatureExpiresAt.toISOString()} (its signer gave it that lifetime)`, {
      ...details,
      expected: `before ${signatureExpiresAt.toISOString()}`,
      actual: now.toISOString(),
      hint: 'The publisher signed this file to be trusted only until then. Fetch a freshly signed copy; if it persists, check this computer\'s clock.',
    });
  }
  const unknownCritical = unknownCriticalParts(packet);
  if (unknownCritical !== undefined) {
    throw malformed(where, `the signature by key ${signerKeyId} carries ${unknownCritical}, which its signer marked critical: a verifier that does not know it must refuse the signature (RFC 4880 §5.2.3.1; gpgv refuses it too)`);
  }
  // gpgv refuses this too ("public key is newer than the signature"): no key can sign before it exists.
  if (signingKey.getCreationTime() > signedAt) {
    throw keyInvalid(where, signerFingerprint, `the key ${signerKeyId} was created after the signature's date, ${signedAt.toISOString()}`);
  }
  if (await isRevoked(signer, now)) {
    throw new FerryError('FERRY_SIG_KEY_REVOKED', `${where} is signed by key ${signerFingerprint}, which has been revoked`, {
      ...details,
      hint: "Get the publisher's current keyring; a revoked key must not be trusted for new metadata.",
    });
  }
  // Judged without a date, so that the newest self-signature counts even when it is newer than the
  // signature (an expiry extended and the key re-exported), as in gpgv; expiry is judged below.
  try {
    await primaryKey.getSigningKey(signingKey.getKeyID(), null, undefined, VERIFICATION_CONFIG);
  } catch (error) {
    throw keyInvalid(where, signerFingerprint, describeError(error), error);
  }
  const expiredAt = await expirationOf(signer);
  if (expiredAt !== undefined && expiredAt <= signedAt) {
    throw new FerryError(
      'FERRY_SIG_KEY_EXPIRED',
      `${where} was signed by key ${signerFingerprint} on ${signedAt.toISOString()}, after the key expired on ${expiredAt.toISOString()}`,
      { ...details, hint: 'If the publisher has extended the key, verify with its refreshed public key.' },
    );
  }

  try {
    // No date: validity in time was judged above, and openpgp would judge the key at the signature's date.
    await packet.verify(signingKey.keyPacket, packet.signatureType ?? enums.signature.text, literal, AT_NO_DATE, true, VERIFICATION_CONFIG);
  } catch (error) {
    throw new FerryError('FERRY_SIG_BAD', `${where}: the signature by key ${signerKeyId} does not match the content (${describeError(error)})`, {
      ...locationDetails(where),
      actual: signerKeyId,
      keyId: signerKeyId,
      cause: error,
      hint: 'The file was changed after it was signed, or damaged in transit. Fetch it again from the source.',
    });
  }
  const result: GoodSignature = { signerKeyId, signerFingerprint, hashAlgorithm, signedAt };
  if (expiredAt !== undefined && expiredAt <= now) result.keyExpiredAt = expiredAt;
  return result;
}

/**
 * What of the signature's hashed subpackets is marked critical but unknown to openpgp (our
 * `VERIFICATION_CONFIG.knownNotations` is empty, as gpgv knows no notation), named for a message;
 * undefined when there is none. Checked before the signature itself so that this is not reported as
 * a content mismatch, which is how openpgp's `verify` reports it.
 */
function unknownCriticalParts(packet: SignaturePacket): string | undefined {
  const notation = packet.rawNotations.find(({ name, critical }) => critical && !VERIFICATION_CONFIG.knownNotations.includes(name));
  if (notation !== undefined) return `the critical notation "${notation.name}"`;
  const subpacket = packet.unknownSubpackets.find(({ critical }) => critical);
  if (subpacket !== undefined) return `a critical subpacket of unknown type ${subpacket.type}`;
  return undefined;
}

/** A revocation counts whenever it was made: metadata signed by a retired key is what a replay looks like. */
async function isRevoked({ primaryKey, signingKey }: Signer, now: Date): Promise<boolean> {
  if (await primaryKey.isRevoked(undefined, undefined, now, VERIFICATION_CONFIG)) return true;
  if (!(signingKey instanceof Subkey)) return false;
  // A subkey revocation is issued by the primary key, like every binding signature, so any binding
  // signature identifies the revocations that apply.
  for (const binding of signingKey.bindingSignatures) {
    if (await signingKey.isRevoked(binding, primaryKey.keyPacket, now, VERIFICATION_CONFIG)) return true;
  }
  return false;
}

/** The earliest of the primary key's and the signing subkey's expiry, by their newest self-signatures (as gpgv). */
async function expirationOf({ primaryKey, signingKey }: Signer): Promise<Date | undefined> {
  const expirations = [await primaryKey.getExpirationTime(undefined, VERIFICATION_CONFIG)];
  if (signingKey instanceof Subkey) expirations.push(await signingKey.getExpirationTime(AT_NO_DATE, VERIFICATION_CONFIG));
  const dates = expirations.filter((expiration): expiration is Date => expiration instanceof Date);
  return dates.length === 0 ? undefined : new Date(Math.min(...dates.map((date) => date.getTime())));
}

function findSigner(keyring: Keyring, keyId: KeyID): Signer | undefined {
  for (const primaryKey of keyring.keys) {
    const [signingKey] = primaryKey.getKeys(keyId);
    if (signingKey !== undefined) return { primaryKey, signingKey };
  }
  return undefined;
}

/**
 * The signer compared with the keyring like with like: its fingerprint against the keyring's
 * fingerprints when the signature carries one (Issuer Fingerprint subpacket, RFC 9580 5.2.3.35),
 * else its key ID, said as such, against the keyring's key IDs (primary keys and subkeys).
 */
function unknownKeyError(where: string, issuer: string, issuerFingerprint: Uint8Array | null, keyring: Keyring): FerryError {
  const tried = keyring.sourceNames.join(', ');
  const fingerprint = issuerFingerprint === null ? undefined : Buffer.from(issuerFingerprint).toString('hex').toUpperCase();
  const signer = fingerprint === undefined ? `key ID ${issuer}` : `the key with fingerprint ${fingerprint} (key ID ${issuer})`;
  const keyIds = keyring.keys.flatMap((key) => key.getKeyIDs().map((keyId) => keyId.toHex().toUpperCase()));
  return new FerryError('FERRY_SIG_UNKNOWN_KEY', `${where} is signed by ${signer}, which is not in the keyring (tried: ${tried})`, {
    ...locationDetails(where),
    actual: fingerprint ?? `key ID ${issuer}`,
    expected: fingerprint === undefined ? `key IDs ${keyIds.join(', ')}` : keyring.fingerprints.join(', '),
    keyId: issuer,
    hint: `If you trust this publisher, add its public key to the keyrings verified with (binary, ASCII-armored or a GnuPG keybox). Every signature must be checkable, as gpgv requires. Keyrings tried: ${tried}.`,
  });
}

function keyInvalid(where: string, fingerprint: string, reason: string, cause?: unknown): FerryError {
  return new FerryError('FERRY_SIG_KEY_INVALID', `${where} is signed by key ${fingerprint}, which cannot be used to check it: ${reason}`, {
    ...locationDetails(where),
    actual: fingerprint,
    keyId: fingerprint,
    cause,
    hint: "Get the publisher's current public key; this copy of it is damaged, incomplete or not allowed to sign.",
  });
}

function asBytes(file: Uint8Array | string): Uint8Array {
  return typeof file === 'string' ? new TextEncoder().encode(file) : file;
}

function hashAlgorithmName(hash: enums.hash | null): string {
  if (hash === null) return 'an unknown hash algorithm';
  return HASH_NAMES.get(hash) ?? `hash algorithm #${hash}`;
}

function allHashAlgorithms(): enums.hash[] {
  return Object.values(enums.hash).filter((value): value is enums.hash => typeof value === 'number');
}

function keyIdHex(keyId: KeyID): string {
  return keyId.toHex().toUpperCase();
}
