import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { cliHint } from '../../../src-main/cli/hints.js';
import { loadKeyring } from '../../../src-main/pgp/keyring.js';
import { createSigningKey, revokeSigningKey, type SigningKey } from '../../../src-main/pgp/sign.js';
import { expectFerryError } from '../../support/expect-ferry-error.js';
import { keyboxOf } from '../../support/gnupg.js';

const BUNDLED_KEYRING = new URL('../../../resources/keyrings/ubuntu-cloudimage-keyring.gpg', import.meta.url);
const encode = (text: string): Uint8Array => new TextEncoder().encode(text);

let alice: SigningKey;
let bob: SigningKey;

beforeAll(async () => {
  [alice, bob] = await Promise.all([
    createSigningKey({ name: 'Alice Publisher', email: 'alice@example.test' }),
    createSigningKey({ name: 'Bob Publisher', email: 'bob@example.test' }),
  ]);
});

describe('loadKeyring', () => {
  it('reads the bundled Ubuntu cloud image keyring with both of its keys', async () => {
    const bytes = new Uint8Array(await readFile(BUNDLED_KEYRING));
    const keyring = await loadKeyring([{ name: 'ubuntu-cloudimage-keyring.gpg', bytes }]);
    expect([...keyring.fingerprints].sort()).toEqual([
      '4A3CE3CD565D7EB5C810E2B97FF3F408476CF100',
      'D2EB44626FDDC30B513D5BB71A5D6C4C7DB87C81',
    ]);
    expect(keyring.keys).toHaveLength(2);
    expect(keyring.sourceNames).toEqual(['ubuntu-cloudimage-keyring.gpg']);
  });

  it('combines a binary keyring and an armored key file, remembering both file names in order', async () => {
    const keyring = await loadKeyring([
      { name: 'site.gpg', bytes: alice.publicKeyBinary },
      { name: 'bob.asc', bytes: encode(bob.publicKeyArmored) },
    ]);
    expect(keyring.fingerprints).toEqual([alice.fingerprint, bob.fingerprint]);
    expect(keyring.sourceNames).toEqual(['site.gpg', 'bob.asc']);
  });

  it('reads every key of a binary keyring made of concatenated keys', async () => {
    const concatenated = new Uint8Array([...alice.publicKeyBinary, ...bob.publicKeyBinary]);
    const keyring = await loadKeyring([{ name: 'two.gpg', bytes: concatenated }]);
    expect(keyring.fingerprints).toEqual([alice.fingerprint, bob.fingerprint]);
  });

  it('reads every block of an armored file made of several exported keys', async () => {
    const text = `Keys of our publishers\n\n${alice.publicKeyArmored}\n${bob.publicKeyArmored}`;
    const keyring = await loadKeyring([{ name: 'publishers.asc', bytes: encode(text) }]);
    expect(keyring.fingerprints).toEqual([alice.fingerprint, bob.fingerprint]);
  });

  it('merges copies of one key, keeping a revocation that only one copy carries', async () => {
    const revoked = await revokeSigningKey(alice.privateKeyArmored);
    const keyring = await loadKeyring([
      { name: 'old.gpg', bytes: alice.publicKeyBinary },
      { name: 'revocation.asc', bytes: encode(revoked.publicKeyArmored) },
    ]);
    expect(keyring.fingerprints).toEqual([alice.fingerprint]);
    const [key] = keyring.keys;
    expect(await key?.isRevoked()).toBe(true);
  });

  it('refuses bytes that are not OpenPGP, naming the file', async () => {
    const error = await expectFerryError(
      loadKeyring([{ name: '/etc/ferry/keys/broken.gpg', bytes: encode('this is not a key') }]),
      'FERRY_KEYRING_INVALID',
    );
    expect(error.message).toContain('/etc/ferry/keys/broken.gpg');
    expect(error.path).toBe('/etc/ferry/keys/broken.gpg');
  });

  it('refuses an empty file', async () => {
    const error = await expectFerryError(loadKeyring([{ name: 'empty.gpg', bytes: new Uint8Array() }]), 'FERRY_KEYRING_INVALID');
    expect(error.message).toContain('empty.gpg');
    expect(error.message).toContain('empty');
  });

  it('reads a GnuPG keybox (pubring.kbx) written by gpg --import, as gpgv does', async () => {
    const keybox = await keyboxOf([alice.publicKeyBinary, bob.publicKeyBinary]);
    expect(new TextDecoder('latin1').decode(keybox.subarray(8, 12))).toBe('KBXf');
    const keyring = await loadKeyring([{ name: 'pubring.kbx', bytes: keybox }]);
    expect([...keyring.fingerprints].sort()).toEqual([alice.fingerprint, bob.fingerprint].sort());
  });

  it('refuses a damaged keybox, naming where it breaks', async () => {
    const keybox = Uint8Array.from(await keyboxOf([alice.publicKeyBinary]));
    // The second blob's length field now runs past the end of the file.
    new DataView(keybox.buffer).setUint32(32, keybox.length);
    const error = await expectFerryError(loadKeyring([{ name: 'pubring.kbx', bytes: keybox }]), 'FERRY_KEYRING_INVALID');
    expect(error.message).toContain('keybox blob at byte 32');
  });

  it('refuses a private key, so a secret never becomes part of a trust root', async () => {
    const error = await expectFerryError(
      loadKeyring([{ name: 'secret.asc', bytes: encode(alice.privateKeyArmored) }]),
      'FERRY_KEYRING_INVALID',
    );
    expect(error.message).toContain('PRIVATE KEY BLOCK');
    expect(error.message).toContain('secret.asc');
  });

  it('refuses a damaged armored key, naming the file', async () => {
    const damaged = alice.publicKeyArmored.replace(/\n[A-Za-z0-9+/]{20}/, '\n!!!!!!!!!!!!!!!!!!!!');
    const error = await expectFerryError(loadKeyring([{ name: 'damaged.asc', bytes: encode(damaged) }]), 'FERRY_KEYRING_INVALID');
    expect(error.message).toContain('damaged.asc');
  });

  it('refuses to build a keyring from no files at all', async () => {
    const error = await expectFerryError(loadKeyring([]), 'FERRY_KEYRING_INVALID');
    expect(cliHint(error)).toContain('--keyring');
  });
});
