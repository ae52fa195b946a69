import {
  armor,
  createCleartextMessage,
  createMessage,
  enums,
  generateKey,
  readPrivateKey,
  readSignature,
  reformatKey,
  SecretKeyPacket,
  sign,
  type Message,
  type PrivateKey,
} from 'openpgp';
import { beforeAll, describe, expect, it } from 'vitest';
import { cliHint } from '../../../src-main/cli/hints.js';
import { readClearsignedBody, verifyClearsigned } from '../../../src-main/pgp/clearsigned.js';
import { loadKeyring, type Keyring } from '../../../src-main/pgp/keyring.js';
import { clearsign, createSigningKey, revokeSigningKey, type SigningKey } from '../../../src-main/pgp/sign.js';
import { expectFerryError } from '../../support/expect-ferry-error.js';

const WHERE = 'streams/v1/com.ubuntu.maas:stable:v3:download.sjson';
const PRODUCTS_JSON = `${JSON.stringify(
  {
    content_id: 'com.ubuntu.maas:stable:v3:download',
    format: 'products:1.0',
    products: { 'com.ubuntu.maas.stable:v3:boot:24.04:amd64:ga-24.04': { arch: 'amd64', label: 'stable' } },
  },
  null,
  1,
)}\n`;
const DAY_MS = 24 * 60 * 60 * 1000;

/** OpenPGP dates have whole seconds, so expected dates are made on a second boundary. */
function wholeSecondsAgo(ms: number): Date {
  return new Date(Math.floor((Date.now() - ms) / 1000) * 1000);
}

let publisher: SigningKey;
let stranger: SigningKey;
let publisherKeyring: Keyring;
let strangerKeyring: Keyring;
let signedProducts: string;

beforeAll(async () => {
  [publisher, stranger] = await Promise.all([
    createSigningKey({ name: 'Stream Publisher', email: 'publisher@example.test' }),
    createSigningKey({ name: 'Someone Else', email: 'stranger@example.test' }),
  ]);
  publisherKeyring = await loadKeyring([{ name: 'publisher.gpg', bytes: publisher.publicKeyBinary }]);
  strangerKeyring = await loadKeyring([
    { name: 'stranger.gpg', bytes: stranger.publicKeyBinary },
    { name: 'ubuntu-cloudimage-keyring.gpg', bytes: stranger.publicKeyBinary },
  ]);
  signedProducts = await clearsign(PRODUCTS_JSON, publisher.privateKeyArmored);
});

describe('verifyClearsigned', () => {
  it('returns the signed text and who signed it', async () => {
    const verified = await verifyClearsigned(signedProducts, publisherKeyring, WHERE);
    expect(verified.body).toBe(PRODUCTS_JSON);
    expect(JSON.parse(verified.body)).toMatchObject({ format: 'products:1.0' });
    expect(verified.signerFingerprint).toBe(publisher.fingerprint);
    expect(verified.signerKeyId).toBe(publisher.fingerprint.slice(-16));
    expect(verified.hashAlgorithm).toBe('SHA-512');
    expect(Math.abs(verified.signedAt.getTime() - Date.now())).toBeLessThan(60_000);
  });

  it('undoes dash-escaping of lines that start with "-"', async () => {
    const text = '-----BEGIN not really-----\n- item\n--\nplain\n';
    const signed = await clearsign(text, publisher.privateKeyArmored);
    expect(signed).toContain('- -----BEGIN not really-----');
    const verified = await verifyClearsigned(signed, publisherKeyring, WHERE);
    expect(verified.body).toBe(text);
  });

  it('refuses a file whose content changed after signing, naming the file', async () => {
    const tampered = signedProducts.replace('"arch": "amd64"', '"arch": "arm64"');
    expect(tampered).not.toBe(signedProducts);
    const error = await expectFerryError(verifyClearsigned(tampered, publisherKeyring, WHERE), 'FERRY_SIG_BAD');
    expect(error.message).toContain(WHERE);
    expect(error.path).toBe(WHERE);
  });

  it('refuses a signature by a key outside the keyring, naming the key id and the keyrings tried', async () => {
    const error = await expectFerryError(verifyClearsigned(signedProducts, strangerKeyring, WHERE), 'FERRY_SIG_UNKNOWN_KEY');
    const issuerKeyId = publisher.fingerprint.slice(-16);
    expect(issuerKeyId).toMatch(/^[0-9A-F]{16}$/);
    expect(error.message).toContain(issuerKeyId);
    expect(error.message).toContain(WHERE);
    expect(error.message).toContain('stranger.gpg, ubuntu-cloudimage-keyring.gpg');
    expect(error.keyId).toBe(issuerKeyId);
    // Like with like: openpgp.js signatures carry the issuer's fingerprint, so both sides are fingerprints.
    expect(error.actual).toBe(publisher.fingerprint);
    expect(error.expected).toMatch(/^[0-9A-F]{40}(, [0-9A-F]{40})*$/);
    expect(error.message).toContain(`fingerprint ${publisher.fingerprint}`);
    expect(cliHint(error)).toContain('--keyring');
  });

  it('refuses an unsigned file', async () => {
    const error = await expectFerryError(verifyClearsigned(PRODUCTS_JSON, publisherKeyring, WHERE), 'FERRY_SIG_MISSING');
    expect(error.message).toContain(WHERE);
  });

  it('puts a URL into the error as a URL, without credentials', async () => {
    const where = 'https://user:secret@mirror.example.test/streams/v1/index.sjson';
    const error = await expectFerryError(verifyClearsigned(PRODUCTS_JSON, publisherKeyring, where), 'FERRY_SIG_MISSING');
    expect(error.url).toBe('https://user:***@mirror.example.test/streams/v1/index.sjson');
    expect(error.path).toBeUndefined();
  });

  it('refuses a signed-message framing whose signature block is damaged', async () => {
    const truncated = signedProducts.slice(0, signedProducts.indexOf('-----END PGP SIGNATURE-----'));
    const error = await expectFerryError(verifyClearsigned(truncated, publisherKeyring, WHERE), 'FERRY_SIG_MALFORMED');
    expect(error.message).toContain(WHERE);
  });

  it('refuses a signature block whose only signature is in a format it cannot read', async () => {
    const signatureStart = signedProducts.indexOf('-----BEGIN PGP SIGNATURE-----');
    const signaturePackets = (await readSignature({ armoredSignature: signedProducts.slice(signatureStart) })).packets.write();
    const unknownVersion = Uint8Array.from(signaturePackets);
    // A one-octet-length new-format packet: tag, length, then the signature version.
    unknownVersion[2] = 9;
    const altered = signedProducts.slice(0, signatureStart) + armor(enums.armor.signature, unknownVersion);
    const error = await expectFerryError(verifyClearsigned(altered, publisherKeyring, WHERE), 'FERRY_SIG_MALFORMED');
    expect(error.message).toContain('no readable signature');
  });

  it('accepts a signature made while its key was valid after the key expired, and says when it expired', async () => {
    const createdAt = wholeSecondsAgo(3 * DAY_MS);
    const expiring = await createSigningKey({
      name: 'Short Lived',
      email: 'short@example.test',
      createdAt,
      expiresAfterSeconds: 24 * 60 * 60,
    });
    const signed = await clearsign(PRODUCTS_JSON, expiring.privateKeyArmored, { signedAt: new Date(createdAt.getTime() + 60 * 60 * 1000) });
    const keyring = await loadKeyring([{ name: 'short.gpg', bytes: expiring.publicKeyBinary }]);
    const verified = await verifyClearsigned(signed, keyring, WHERE);
    expect(verified.body).toBe(PRODUCTS_JSON);
    expect(verified.keyExpiredAt?.toISOString()).toBe(new Date(createdAt.getTime() + DAY_MS).toISOString());
  });

  it('refuses a signature made after its key expired (gpgv would accept it)', async () => {
    const createdAt = wholeSecondsAgo(3 * DAY_MS);
    const expiring = await createSigningKey({ name: 'Short Lived', email: 'short@example.test', createdAt, expiresAfterSeconds: 24 * 60 * 60 });
    // The same key material with no expiry, as a forger holding the old secret key would use it.
    const unbounded = await reformatKey({
      privateKey: await readPrivateKey({ armoredKey: expiring.privateKeyArmored }),
      userIDs: [{ name: 'Short Lived', email: 'short@example.test' }],
      date: createdAt,
      format: 'object',
    });
    const signed = await sign({
      message: await createCleartextMessage({ text: PRODUCTS_JSON }),
      signingKeys: unbounded.privateKey,
      date: new Date(createdAt.getTime() + 2 * DAY_MS),
    });
    const keyring = await loadKeyring([{ name: 'short.gpg', bytes: expiring.publicKeyBinary }]);
    const error = await expectFerryError(verifyClearsigned(signed, keyring, WHERE), 'FERRY_SIG_KEY_EXPIRED');
    expect(error.message).toContain(expiring.fingerprint);
    expect(error.message).toContain(new Date(createdAt.getTime() + DAY_MS).toISOString());
  });

  it('accepts a signature checked against a key whose self-signature was refreshed after it (expiry extended)', async () => {
    const createdAt = wholeSecondsAgo(3 * DAY_MS);
    const original = await createSigningKey({ name: 'Renewing', email: 'renew@example.test', createdAt, expiresAfterSeconds: 30 * 24 * 60 * 60 });
    const signed = await clearsign(PRODUCTS_JSON, original.privateKeyArmored, { signedAt: new Date(createdAt.getTime() + DAY_MS) });
    const refreshed = await reformatKey({
      privateKey: await readPrivateKey({ armoredKey: original.privateKeyArmored }),
      userIDs: [{ name: 'Renewing', email: 'renew@example.test' }],
      keyExpirationTime: 365 * 24 * 60 * 60,
      format: 'object',
    });
    const keyring = await loadKeyring([{ name: 'renewed.gpg', bytes: refreshed.publicKey.write() }]);
    const verified = await verifyClearsigned(signed, keyring, WHERE);
    expect(verified.signerFingerprint).toBe(original.fingerprint);
    expect(verified.keyExpiredAt).toBeUndefined();
  });

  it('accepts a key that expires, while it has not yet expired', async () => {
    const expiring = await createSigningKey({ name: 'Yearly', email: 'yearly@example.test', expiresAfterSeconds: 365 * 24 * 60 * 60 });
    const keyring = await loadKeyring([{ name: 'yearly.gpg', bytes: expiring.publicKeyBinary }]);
    const verified = await verifyClearsigned(await clearsign(PRODUCTS_JSON, expiring.privateKeyArmored), keyring, WHERE);
    expect(verified.signerFingerprint).toBe(expiring.fingerprint);
  });

  it('refuses a key that has been revoked', async () => {
    const retiring = await createSigningKey({ name: 'Retired', email: 'retired@example.test' });
    const signedBeforeRevocation = await clearsign(PRODUCTS_JSON, retiring.privateKeyArmored);
    const revoked = await revokeSigningKey(retiring.privateKeyArmored);
    const keyring = await loadKeyring([{ name: 'retired.gpg', bytes: revoked.publicKeyBinary }]);
    const error = await expectFerryError(verifyClearsigned(signedBeforeRevocation, keyring, WHERE), 'FERRY_SIG_KEY_REVOKED');
    expect(error.message).toContain(retiring.fingerprint);
    expect(error.message).toContain(WHERE);
  });

  it('refuses a SHA-1 signature with our own error, naming the algorithm', async () => {
    // openpgp cannot make SHA-1 signatures with ed25519 keys, nor with its default random salt
    // notation (defined only for SHA-2/SHA-3); an RSA key whose preferences list SHA-1 can.
    const sha1Config = { preferredHashAlgorithm: enums.hash.sha1, nonDeterministicSignaturesViaNotation: false };
    const { privateKey, publicKey } = await generateKey({
      type: 'rsa',
      rsaBits: 2048,
      userIDs: [{ name: 'Legacy Publisher', email: 'legacy@example.test' }],
      format: 'object',
      config: sha1Config,
    });
    const signed = await sign({ message: await createCleartextMessage({ text: PRODUCTS_JSON }), signingKeys: privateKey, config: sha1Config });
    expect(signed).toContain('Hash: SHA1');
    const keyring = await loadKeyring([{ name: 'legacy.gpg', bytes: publicKey.write() }]);
    const error = await expectFerryError(verifyClearsigned(signed, keyring, WHERE), 'FERRY_SIG_WEAK_HASH');
    expect(error.message).toContain('SHA-1');
    expect(error.message).toContain(WHERE);
    expect(error.actual).toBe('SHA-1');
  });

  it('accepts a file signed by a signing subkey and reports the subkey and its primary key', async () => {
    const { privateKey, publicKey } = await generateKey({
      type: 'ecc',
      curve: 'ed25519Legacy',
      userIDs: [{ name: 'Subkey Signer', email: 'subkey@example.test' }],
      subkeys: [{ sign: true }],
      format: 'object',
    });
    const signed = await sign({ message: await createCleartextMessage({ text: PRODUCTS_JSON }), signingKeys: privateKey });
    const keyring = await loadKeyring([{ name: 'subkey.gpg', bytes: publicKey.write() }]);
    const verified = await verifyClearsigned(signed, keyring, WHERE);
    const [subkey] = publicKey.subkeys;
    expect(verified.signerKeyId).toBe(subkey?.getKeyID().toHex().toUpperCase());
    expect(verified.signerFingerprint).toBe(publicKey.getFingerprint().toUpperCase());
  });

  it('refuses a file signed by a subkey that has since been revoked', async () => {
    const { privateKey } = await generateKey({
      type: 'ecc',
      curve: 'ed25519Legacy',
      userIDs: [{ name: 'Subkey Signer', email: 'subkey@example.test' }],
      subkeys: [{ sign: true }],
      format: 'object',
    });
    const signed = await sign({ message: await createCleartextMessage({ text: PRODUCTS_JSON }), signingKeys: privateKey });
    await revokeFirstSubkey(privateKey);
    const keyring = await loadKeyring([{ name: 'subkey.gpg', bytes: privateKey.toPublic().write() }]);
    await expectFerryError(verifyClearsigned(signed, keyring, WHERE), 'FERRY_SIG_KEY_REVOKED');
  });

  it('refuses a file co-signed by a key outside the keyring, as gpgv does', async () => {
    const signingKeys = await Promise.all([readPrivateKey({ armoredKey: stranger.privateKeyArmored }), readPrivateKey({ armoredKey: publisher.privateKeyArmored })]);
    const signed = await sign({ message: await createCleartextMessage({ text: PRODUCTS_JSON }), signingKeys });
    const error = await expectFerryError(verifyClearsigned(signed, publisherKeyring, WHERE), 'FERRY_SIG_UNKNOWN_KEY');
    expect(error.actual).toBe(stranger.fingerprint);
    expect(error.keyId).toBe(stranger.fingerprint.slice(-16));
  });

  it('refuses a forged second signed message appended after a valid one (gpgv: multiple plaintexts)', async () => {
    const forged = signedProducts.replace(PRODUCTS_JSON.trimEnd(), PRODUCTS_JSON.trimEnd().replace('stable', 'forged'));
    const error = await expectFerryError(verifyClearsigned(`${signedProducts}${forged}`, publisherKeyring, WHERE), 'FERRY_SIG_MALFORMED');
    expect(error.message).toContain('a second signed message');
    expect(() => readClearsignedBody(`${signedProducts}${forged}`, WHERE)).toThrow(/second signed message/);
  });

  it('verifies the exact bytes of a text that is not UTF-8', async () => {
    const latin1 = Buffer.from('{"label": "caf\xe9"}\n', 'latin1');
    // The cleartext signature covers the text with CRLF line ends and no final line end (RFC 4880 §7.1).
    const canonical = Buffer.from('{"label": "caf\xe9"}\r\n', 'latin1');
    const message: Message<Uint8Array> = await createMessage({ binary: new Uint8Array(canonical), format: 'binary' });
    // openpgp types a binary message's signature through a stream package it does not ship types for.
    const signature: unknown = await sign({
      message,
      signingKeys: await readPrivateKey({ armoredKey: publisher.privateKeyArmored }),
      detached: true,
      config: { preferredHashAlgorithm: enums.hash.sha512 },
    });
    // The line end before the signature block belongs to the framing, hence the blank line.
    const file = Buffer.concat([Buffer.from('-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n'), latin1, Buffer.from('\n'), Buffer.from(String(signature))]);
    const verified = await verifyClearsigned(file, publisherKeyring, WHERE);
    expect(verified.body).toBe('{"label": "caf\uFFFD"}\n');
  });

  it('tolerates a publisher clock a few minutes ahead, but not a signature an hour in the future', async () => {
    const slightlyAhead = await clearsign(PRODUCTS_JSON, publisher.privateKeyArmored, { signedAt: new Date(Date.now() + 2 * 60 * 1000) });
    await expect(verifyClearsigned(slightlyAhead, publisherKeyring, WHERE)).resolves.toMatchObject({ body: PRODUCTS_JSON });
    const farAhead = await clearsign(PRODUCTS_JSON, publisher.privateKeyArmored, { signedAt: new Date(Date.now() + 60 * 60 * 1000) });
    await expectFerryError(verifyClearsigned(farAhead, publisherKeyring, WHERE), 'FERRY_SIG_FUTURE');
  });

  it('verifies a large products file quickly with a keyring parsed once', async () => {
    const products = Object.fromEntries(
      Array.from({ length: 2000 }, (_, index) => [`com.ubuntu.maas.stable:v3:boot:24.04:amd64:product-${index}`, { arch: 'amd64', index }]),
    );
    const largeText = `${JSON.stringify({ products }, null, 1)}\n`;
    const signed = await clearsign(largeText, publisher.privateKeyArmored);
    const started = performance.now();
    for (let round = 0; round < 3; round += 1) {
      expect((await verifyClearsigned(signed, publisherKeyring, WHERE)).body).toBe(largeText);
    }
    expect((performance.now() - started) / 3).toBeLessThan(1000);
  });
});

describe('readClearsignedBody', () => {
  it('returns the signed text without checking who signed it', () => {
    expect(readClearsignedBody(signedProducts, WHERE)).toBe(PRODUCTS_JSON);
  });

  it('still requires the PGP framing, as the reference does with --no-verify', async () => {
    const error = await expectFerryError(Promise.resolve().then(() => readClearsignedBody(PRODUCTS_JSON, WHERE)), 'FERRY_SIG_MISSING');
    expect(error.message).toContain(WHERE);
  });
});

async function revokeFirstSubkey(privateKey: PrivateKey): Promise<void> {
  const [subkey] = privateKey.subkeys;
  const primaryPacket = privateKey.keyPacket;
  if (subkey === undefined || !(primaryPacket instanceof SecretKeyPacket)) throw new Error('test key has no signing subkey');
  await subkey.update(await subkey.revoke(primaryPacket));
}
