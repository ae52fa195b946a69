import { readKeys, type Key, type PublicKey } from 'openpgp';
import { FerryError, describeError } from '../engine/errors.js';

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

const PUBLIC_KEY_BLOCK = /-----BEGIN PGP PUBLIC KEY BLOCK-----[\s\S]*?-----END PGP PUBLIC KEY BLOCK-----/g;
const ANY_ARMOR_HEADER = /-----BEGIN PGP ([A-Z ,/0-9]+)-----/;
const KEYBOX_MAGIC = 'KBXf';

/**
 * Reads binary keyrings (concatenated transferable public keys, what `gpg --export` and
 * `/usr/share/keyrings/*.gpg` hold) and ASCII-armored key files, any number of each. A key that
 * appears in several files is merged, so a revocation carried by one copy is not lost.
 */
export async function loadKeyring(sources: ReadonlyArray<KeyringSource>): Promise<Keyring> {
  if (sources.length === 0) {
    throw new FerryError('FERRY_KEYRING_INVALID', 'No keyring file was given', {
      hint: 'Pass a keyring with --keyring, or leave it out to use the bundled Ubuntu cloud image keyring.',
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
  if (isGnupgKeybox(bytes)) {
    throw invalidKeyring(name, 'it is a GnuPG keybox (pubring.kbx), not an OpenPGP keyring', {
      hint: 'Export the keys in OpenPGP format, e.g. `gpg --export KEYID > keyring.gpg`, and pass that file.',
    });
  }
  const keys = looksArmored(bytes) ? await readArmoredKeys(name, bytes) : await readBinaryKeys(name, bytes);
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
