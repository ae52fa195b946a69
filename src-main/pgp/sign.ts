import { createCleartextMessage, enums, generateKey, readPrivateKey, revokeKey, sign, type PrivateKey } from 'openpgp';

export interface SigningKeyOptions {
  name: string;
  email: string;
  /** Seconds from creation until the key expires; without it the key never expires. */
  expiresAfterSeconds?: number;
  /** Creation time. Tests back-date a key to make one that has already expired. */
  createdAt?: Date;
}

export interface SigningKey {
  /** Unprotected: the caller decides where it is stored and how it is protected. */
  privateKeyArmored: string;
  publicKeyArmored: string;
  /** The public key as a binary keyring, the form `gpgv --keyring` and MAAS `keyring_data` take. */
  publicKeyBinary: Uint8Array;
  /** Uppercase hex. */
  fingerprint: string;
}

export interface ClearsignOptions {
  /** Signature creation time; tests sign "in the past" while a since-expired key was still valid. */
  signedAt?: Date;
}

/**
 * A v4 EdDSA key on the legacy ed25519 curve, which GnuPG 2.2 (the gpgv that MAAS runs on Ubuntu LTS)
 * reads. openpgp's 'curve25519' type uses the RFC 9580 Ed25519 algorithm, which GnuPG 2.2 does not know.
 * No encryption subkey: the key only ever signs metadata. Throws openpgp's own errors, no FERRY_*
 * code: it serves site keys and test fixtures, not operator input.
 */
export async function createSigningKey(options: SigningKeyOptions): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKey({
    type: 'ecc',
    curve: 'ed25519Legacy',
    userIDs: [{ name: options.name, email: options.email }],
    subkeys: [],
    format: 'object',
    keyExpirationTime: options.expiresAfterSeconds,
    date: options.createdAt,
  });
  return {
    privateKeyArmored: privateKey.armor(),
    publicKeyArmored: publicKey.armor(),
    publicKeyBinary: publicKey.write(),
    fingerprint: publicKey.getFingerprint().toUpperCase(),
  };
}

/**
 * An RFC 4880 cleartext-signed message, hashed with SHA-512. Named explicitly because openpgp uses
 * nothing weaker than SHA-512 with an ed25519 key, and left to the key's preferences it may pick
 * SHA3-512, which GnuPG 2.2 cannot verify. Throws openpgp's own errors (a key that cannot sign),
 * no FERRY_* code.
 */
export async function clearsign(text: string, privateKeyArmored: string, options: ClearsignOptions = {}): Promise<string> {
  const signingKey = await readPrivateKey({ armoredKey: privateKeyArmored });
  const armored = await sign({
    message: await createCleartextMessage({ text }),
    signingKeys: signingKey,
    config: { preferredHashAlgorithm: enums.hash.sha512 },
    date: options.signedAt,
  });
  // openpgp writes the signed text with its canonical CRLF line ends but the armor with LF. Verifiers
  // canonicalise line ends before hashing, so LF throughout is the same signature, and it is what
  // GnuPG (and so images.maas.io) writes: the .sjson then holds the .json bytes exactly.
  return armored.replace(/\r\n/g, '\n');
}

/**
 * The same key with a revocation signature added, as its owner would publish it after retiring it
 * (RFC 4880 §5.2.1, 0x20). Throws openpgp's own errors, no FERRY_* code.
 */
export async function revokeSigningKey(privateKeyArmored: string): Promise<SigningKey> {
  const privateKey: PrivateKey = await readPrivateKey({ armoredKey: privateKeyArmored });
  const revoked = await revokeKey({ key: privateKey, format: 'object' });
  return {
    privateKeyArmored: revoked.privateKey.armor(),
    publicKeyArmored: revoked.publicKey.armor(),
    publicKeyBinary: revoked.publicKey.write(),
    fingerprint: revoked.publicKey.getFingerprint().toUpperCase(),
  };
}
