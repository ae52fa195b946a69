import { readKeys, type Key, type PublicKey } from 'openpgp';
import { FerryError, describeError } from '../base/errors.js';

/** One keyring file as the caller read it; pgp/ does no file I/O of its own. */
export interface KeyringSource {
  /** How to name the file in messages: its path, or a label such as "bundled Ubuntu keyring". */
  name: string;
  bytes: Uint8Array;
}

export interface Keyring {
  /**
   * Parsed once and reused for every verification: openpgp remembers which self-signatures it has
   * already checked on these objects, so re-parsing per file would redo that work.
   */
  readonly keys: readonly PublicKey[];
  /** Every file the keys came from, in the order given, for "not in keyring a.gpg, b.asc" messages. */
  readonly sourceNames: readonly string[];
  /** Primary key fingerprints, uppercase hex, one per key, for display and for bundle.json. */
  readonly fingerprints: readonly string[];
}

/**
 * The primary fingerprint (uppercase hex) of the key in `keyring` that holds `keyId`, a primary or
 * subkey id (16 hex digits, as a signature's issuer names it) or fingerprint (40 hex); undefined
 * when none does. Case-insensitive.
 */
export function fingerprintHolding(keyring: Keyring, keyId: string): string | undefined {
  const wanted = keyId.toUpperCase();
  for (const key of keyring.keys) {
    for (const part of key.getKeys()) {
      if (part.getKeyID().toHex().toUpperCase() === wanted || part.getFingerprint().toUpperCase() === wanted) return key.getFingerprint().toUpperCase();
    }
  }
  return undefined;
}

const PUBLIC_KEY_BLOCK = /-----BEGIN PGP PUBLIC KEY BLOCK-----[\s\S]*?-----END PGP PUBLIC KEY BLOCK-----/g;
const ANY_ARMOR_HEADER = /-----BEGIN PGP ([A-Z ,/0-9]+)-----/;
const KEYBOX_MAGIC = 'KBXf';
/** Blob types of a GnuPG keybox (gnupg kbx/keybox-blob.c): 0 empty, 1 the header, 2 OpenPGP, 3 X.509. */
const KEYBOX_BLOB_OPENPGP = 2;
/** Length (4), type (1), version (1), flags (2), keyblock offset (4) and length (4). */
const KEYBOX_OPENPGP_PREFIX = 16;

/**
 * Reads binary keyrings (concatenated transferable public keys, what `gpg --export` and
 * `/usr/share/keyrings/*.gpg` hold), ASCII-armored key files and GnuPG keyboxes (`pubring.kbx`,
 * which gpgv also takes), any number of each. Throws FERRY_KEYRING_INVALID. A key that
 * appears in several files is merged, so a revocation carried by one copy is not lost.
 */
export async function loadKeyring(sources: ReadonlyArray<KeyringSource>): Promise<Keyring> {
  if (sources.length === 0) {
    throw new FerryError('FERRY_KEYRING_INVALID', 'No keyring file was given', {
      hint: 'Give at least one keyring file, or use the bundled Ubuntu cloud image keyring.',
    });
  }
  const keysByFingerprint = new Map<string, PublicKey>();
  for (const source of sources) {
    for (const key of await readSourceKeys(source)) {
      const fingerprint = key.getFingerprint().toUpperCase();
      const known = keysByFingerprint.get(fingerprint);
      keysByFingerprint.set(fingerprint, known === undefined ? key : await known.update(key));
    }
  }
  return {
    keys: [...keysByFingerprint.values()],
    sourceNames: sources.map((source) => source.name),
    fingerprints: [...keysByFingerprint.keys()],
  };
}

async function readSourceKeys(source: KeyringSource): Promise<PublicKey[]> {
  const { name, bytes } = source;
  if (bytes.length === 0) throw invalidKeyring(name, 'the file is empty');
  const keys = isGnupgKeybox(bytes)
    ? await readBinaryKeys(name, keyboxKeyblocks(name, bytes))
    : looksArmored(bytes)
      ? await readArmoredKeys(name, bytes)
      : await readBinaryKeys(name, bytes);
  if (keys.length === 0) throw invalidKeyring(name, 'it holds no public key');
  return keys.map((key) => onlyPublicKey(name, key));
}

async function readBinaryKeys(name: string, bytes: Uint8Array): Promise<Key[]> {
  try {
    return await readKeys({ binaryKeys: bytes });
  } catch (error) {
    throw invalidKeyring(name, describeError(error), { cause: error });
  }
}

async function readArmoredKeys(name: string, bytes: Uint8Array): Promise<Key[]> {
  const text = new TextDecoder('utf-8').decode(bytes);
  // openpgp reads one armor block per call, and exported key files are often several concatenated.
  const blocks = text.match(PUBLIC_KEY_BLOCK) ?? [];
  if (blocks.length === 0) {
    const armorType = ANY_ARMOR_HEADER.exec(text)?.[1];
    throw invalidKeyring(
      name,
      armorType === undefined ? 'it holds no PGP PUBLIC KEY BLOCK' : `it holds a PGP ${armorType}, not a PGP PUBLIC KEY BLOCK`,
      { hint: 'Export the public key, e.g. `gpg --export --armor KEYID > key.asc`.' },
    );
  }
  const keys: Key[] = [];
  for (const block of blocks) {
    try {
      keys.push(...(await readKeys({ armoredKeys: block })));
    } catch (error) {
      throw invalidKeyring(name, describeError(error), { cause: error });
    }
  }
  return keys;
}

function onlyPublicKey(name: string, key: Key): PublicKey {
  // A private key in a trust root is almost always a mistake that spreads a secret into configuration.
  if (key.isPrivate()) {
    throw invalidKeyring(name, `it holds the private key ${key.getFingerprint().toUpperCase()}`, {
      hint: 'A keyring needs public keys only: export with `gpg --export KEYID > keyring.gpg`.',
    });
  }
  return key.toPublic();
}

function looksArmored(bytes: Uint8Array): boolean {
  const head = new TextDecoder('latin1').decode(bytes.subarray(0, 4096));
  return head.includes('-----BEGIN PGP ');
}

/**
 * The OpenPGP keyblocks of a GnuPG keybox, concatenated as a binary keyring. A keybox is a sequence of
 * blobs, each starting with its big-endian length and type; an OpenPGP blob points at its keyblock
 * (the key's packets exactly as exported) by offset and length. X.509 and empty blobs are skipped.
 */
function keyboxKeyblocks(name: string, bytes: Uint8Array): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const keyblocks: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length; ) {
    const blobLength = offset + 6 <= bytes.length ? view.getUint32(offset) : 0;
    if (blobLength < 6 || offset + blobLength > bytes.length) throw invalidKeyring(name, `the keybox blob at byte ${offset} is damaged`);
    if (view.getUint8(offset + 4) === KEYBOX_BLOB_OPENPGP) {
      const start = blobLength >= KEYBOX_OPENPGP_PREFIX ? view.getUint32(offset + 8) : 0;
      const length = blobLength >= KEYBOX_OPENPGP_PREFIX ? view.getUint32(offset + 12) : 0;
      if (start < KEYBOX_OPENPGP_PREFIX || start + length > blobLength) throw invalidKeyring(name, `the keybox blob at byte ${offset} points outside itself`);
      keyblocks.push(bytes.subarray(offset + start, offset + start + length));
    }
    offset += blobLength;
  }
  return Buffer.concat(keyblocks);
}

function isGnupgKeybox(bytes: Uint8Array): boolean {
  return new TextDecoder('latin1').decode(bytes.subarray(8, 12)) === KEYBOX_MAGIC;
}

function invalidKeyring(name: string, reason: string, details: { hint?: string; cause?: unknown } = {}): FerryError {
  return new FerryError('FERRY_KEYRING_INVALID', `Keyring ${name} could not be read: ${reason}`, {
    path: name,
    hint: details.hint ?? 'Use a binary keyring (gpg --export) or an ASCII-armored public key (gpg --export --armor).',
    cause: details.cause,
  });
}
