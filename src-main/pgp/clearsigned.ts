import {
  config as openpgpDefaults,
  enums,
  readCleartextMessage,
  Subkey,
  type CleartextMessage,
  type Config,
  type KeyID,
  type PublicKey,
} from 'openpgp';
import { FerryError, describeError, type FerryErrorDetails } from '../engine/errors.js';
import type { Keyring } from './keyring.js';

export interface VerifiedText {
  /**
   * The signed text with dash-escaping undone, line ends as `\n`. Trailing spaces on a line are not
   * covered by a cleartext signature (RFC 4880 §7.1), so they are not part of the body either.
   */
  body: string;
  /** Key ID (16 uppercase hex digits) of the key that made the signature; a subkey's, if a subkey signed. */
  signerKeyId: string;
  /** Fingerprint of the keyring entry the signer belongs to, as listed in `Keyring.fingerprints`. */
  signerFingerprint: string;
  /** Display name, e.g. "SHA-512". */
  hashAlgorithm: string;
  signedAt?: Date;
}

const SIGNED_MESSAGE_HEADER = '-----BEGIN PGP SIGNED MESSAGE-----';

const HASH_NAMES: ReadonlyMap<enums.hash, string> = new Map([
  [enums.hash.md5, 'MD5'],
  [enums.hash.sha1, 'SHA-1'],
  [enums.hash.ripemd, 'RIPEMD-160'],
  [enums.hash.sha256, 'SHA-256'],
  [enums.hash.sha384, 'SHA-384'],
  [enums.hash.sha512, 'SHA-512'],
  [enums.hash.sha224, 'SHA-224'],
  [enums.hash.sha3_256, 'SHA3-256'],
  [enums.hash.sha3_512, 'SHA3-512'],
]);

/** The policy in docs/ARCHITECTURE.md: MD5, SHA-1 and RIPEMD-160 have practical or near collisions. */
const ACCEPTED_SIGNATURE_HASHES: ReadonlySet<enums.hash> = new Set([
  enums.hash.sha256,
  enums.hash.sha384,
  enums.hash.sha512,
  enums.hash.sha224,
  enums.hash.sha3_256,
  enums.hash.sha3_512,
]);

const ACCEPTED_HASH_LIST = [...ACCEPTED_SIGNATURE_HASHES].map(hashAlgorithmName).join(', ');

/**
 * Passed to every openpgp call instead of relying on its global defaults, which another module (or a
 * future openpgp release) could change. Message hashes: everything outside our accepted set is
 * refused, including algorithms openpgp may add later. Key self-signatures keep openpgp's default
 * refusal of MD5 and RIPEMD-160 only: both Ubuntu cloud image keys are self-signed with SHA-1.
 */
const VERIFICATION_CONFIG: Config = {
  ...openpgpDefaults,
  rejectMessageHashAlgorithms: new Set(allHashAlgorithms().filter((hash) => !ACCEPTED_SIGNATURE_HASHES.has(hash))),
  rejectHashAlgorithms: new Set([enums.hash.md5, enums.hash.ripemd]),
};

/**
 * A publisher whose clock runs a little ahead would otherwise produce signatures that are "in the
 * future" here and fail until our clock catches up; air-gapped hosts often keep loose time.
 */
const ALLOWED_CLOCK_SKEW_MS = 10 * 60 * 1000;

type VerificationResult = Awaited<ReturnType<CleartextMessage['verify']>>[number];

interface Signer {
  primaryKey: PublicKey;
  signingKey: PublicKey | Subkey;
}

interface CandidateSignature {
  result: VerificationResult;
  signer: Signer;
  hashAlgorithm: enums.hash | null;
  signedAt: Date | null;
}

type KeyProblem = { kind: 'revoked' } | { kind: 'expired'; expiredAt: Date };

/**
 * Checks an RFC 4880 cleartext-signed file against the keyring and returns the signed text.
 * The file is accepted when at least one of its signatures was made by a key in the keyring, with an
 * accepted hash, by a key that is neither revoked nor expired now, and matches the text. Signatures
 * by keys outside the keyring are ignored, so a co-signature by an unknown party does no harm.
 * `where` (a path or URL) names the file in every error.
 */
export async function verifyClearsigned(text: string, keyring: Keyring, where: string): Promise<VerifiedText> {
  const message = await parseClearsigned(text, where);
  const now = new Date();
  const results = await message.verify([...keyring.keys], new Date(now.getTime() + ALLOWED_CLOCK_SKEW_MS), VERIFICATION_CONFIG);
  if (results.length === 0) {
    // openpgp skips signature packets it cannot parse (an unknown version, say) instead of failing.
    throw new FerryError('FERRY_SIG_BAD', `${where} has a PGP signed-message framing but no readable signature in it`, locationDetails(where));
  }

  const body = message.getText();
  const unknownIssuers: string[] = [];
  let firstFailure: FerryError | undefined;
  for (const result of results) {
    const signer = findSigner(keyring, result.keyID);
    if (signer === undefined) {
      unknownIssuers.push(keyIdHex(result.keyID));
      continue;
    }
    const [packet] = (await result.signature).packets;
    const candidate = { result, signer, hashAlgorithm: packet?.hashAlgorithm ?? null, signedAt: packet?.created ?? null };
    const outcome = await judgeSignature(candidate, body, now, where);
    if (!(outcome instanceof FerryError)) return outcome;
    firstFailure ??= outcome;
  }
  throw firstFailure ?? unknownKeyError(where, unknownIssuers, keyring);
}

/**
 * For --no-verify: returns the signed text without checking anything. The PGP framing is still
 * required, as the reference implementation requires it, so an unsigned file is still an error.
 */
export async function readClearsignedBody(text: string, where: string): Promise<string> {
  const message = await parseClearsigned(text, where);
  return message.getText();
}

async function parseClearsigned(text: string, where: string): Promise<CleartextMessage> {
  // The reference (simplestreams read_signed) also demands the header at the very start.
  if (!text.startsWith(SIGNED_MESSAGE_HEADER)) {
    throw new FerryError('FERRY_SIG_MISSING', `${where} is not signed: it does not start with "${SIGNED_MESSAGE_HEADER}"`, {
      ...locationDetails(where),
      hint: 'A stream read from index.sjson must be clearsigned throughout. Start from index.json only if unverified metadata is acceptable.',
    });
  }
  try {
    return await readCleartextMessage({ cleartextMessage: text, config: VERIFICATION_CONFIG });
  } catch (error) {
    throw new FerryError('FERRY_SIG_BAD', `${where} has a damaged PGP signed-message framing: ${describeError(error)}`, {
      ...locationDetails(where),
      cause: error,
    });
  }
}

async function judgeSignature(candidate: CandidateSignature, body: string, now: Date, where: string): Promise<VerifiedText | FerryError> {
  const { result, signer, signedAt } = candidate;
  const signerFingerprint = signer.primaryKey.getFingerprint().toUpperCase();
  const signerKeyId = keyIdHex(signer.signingKey.getKeyID());
  const hashAlgorithm = hashAlgorithmName(candidate.hashAlgorithm);

  if (candidate.hashAlgorithm === null || !ACCEPTED_SIGNATURE_HASHES.has(candidate.hashAlgorithm)) {
    return new FerryError('FERRY_SIG_WEAK_HASH', `${where} is signed with ${hashAlgorithm}, which is not accepted (accepted: ${ACCEPTED_HASH_LIST})`, {
      ...locationDetails(where),
      expected: ACCEPTED_HASH_LIST,
      actual: hashAlgorithm,
      hint: 'Ask the publisher to re-sign with SHA-256 or stronger.',
    });
  }

  const problem = await keyProblemAt(signer, now);
  if (problem?.kind === 'revoked') {
    return new FerryError('FERRY_SIG_KEY_REVOKED', `${where} is signed by key ${signerFingerprint}, which has been revoked`, {
      ...locationDetails(where),
      actual: signerFingerprint,
      hint: "Get the publisher's current keyring; a revoked key must not be trusted for new metadata.",
    });
  }
  if (problem?.kind === 'expired') {
    return new FerryError(
      'FERRY_SIG_KEY_EXPIRED',
      `${where} is signed by key ${signerFingerprint}, which expired on ${problem.expiredAt.toISOString()}`,
      {
        ...locationDetails(where),
        actual: signerFingerprint,
        hint: 'If the publisher has extended the key, load its refreshed public key with --keyring; otherwise check the system clock.',
      },
    );
  }

  try {
    await result.verified;
  } catch (error) {
    return new FerryError('FERRY_SIG_BAD', `${where}: the signature by key ${signerKeyId} does not match the content (${describeError(error)})`, {
      ...locationDetails(where),
      actual: signerKeyId,
      cause: error,
      hint: 'The file was changed after it was signed, or damaged in transit. Fetch it again from the source.',
    });
  }

  const verified: VerifiedText = { body, signerKeyId, signerFingerprint, hashAlgorithm };
  if (signedAt !== null) verified.signedAt = signedAt;
  return verified;
}

/**
 * openpgp judges a key's validity at the moment the signature was made; we also refuse a key that is
 * revoked or expired now, because metadata signed by a retired key is exactly what a replay looks like.
 */
async function keyProblemAt(signer: Signer, date: Date): Promise<KeyProblem | undefined> {
  const { primaryKey, signingKey } = signer;
  if (await primaryKey.isRevoked(undefined, undefined, date, VERIFICATION_CONFIG)) return { kind: 'revoked' };
  if (signingKey instanceof Subkey && (await isSubkeyRevoked(signingKey, primaryKey, date))) return { kind: 'revoked' };

  const expirations = [await primaryKey.getExpirationTime(undefined, VERIFICATION_CONFIG)];
  if (signingKey instanceof Subkey) expirations.push(await signingKey.getExpirationTime(date, VERIFICATION_CONFIG));
  for (const expiration of expirations) {
    if (expiration instanceof Date && expiration <= date) return { kind: 'expired', expiredAt: expiration };
  }
  return undefined;
}

async function isSubkeyRevoked(subkey: Subkey, primaryKey: PublicKey, date: Date): Promise<boolean> {
  // A subkey revocation is issued by the primary key, like every binding signature, so any binding
  // signature identifies the revocations that apply.
  for (const binding of subkey.bindingSignatures) {
    if (await subkey.isRevoked(binding, primaryKey.keyPacket, date, VERIFICATION_CONFIG)) return true;
  }
  return false;
}

function findSigner(keyring: Keyring, keyId: KeyID): Signer | undefined {
  for (const primaryKey of keyring.keys) {
    const [signingKey] = primaryKey.getKeys(keyId);
    if (signingKey !== undefined) return { primaryKey, signingKey };
  }
  return undefined;
}

function unknownKeyError(where: string, issuerKeyIds: readonly string[], keyring: Keyring): FerryError {
  const issuers = issuerKeyIds.join(', ');
  const tried = keyring.sourceNames.join(', ');
  return new FerryError('FERRY_SIG_UNKNOWN_KEY', `${where} is signed by key ${issuers}, which is not in the keyring (tried: ${tried})`, {
    ...locationDetails(where),
    actual: issuers,
    expected: keyring.fingerprints.join(', '),
    hint: `If you trust this publisher, pass its public key with --keyring FILE (binary or ASCII-armored). Keyrings tried: ${tried}.`,
  });
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

function locationDetails(where: string): FerryErrorDetails {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(where) ? { url: where } : { path: where };
}
