import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readKey } from 'openpgp';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { verifyClearsigned } from '../../../src-main/pgp/clearsigned.js';
import { loadKeyring } from '../../../src-main/pgp/keyring.js';
import { clearsign, createSigningKey, type SigningKey } from '../../../src-main/pgp/sign.js';

const GPGV = '/usr/bin/gpgv';
const runFile = promisify(execFile);
const INDEX_JSON = `${JSON.stringify({ format: 'index:1.0', index: {}, updated: 'Thu, 24 Jul 2025 08:01:49 +0000' }, null, 1)}\n`;

let siteKey: SigningKey;

beforeAll(async () => {
  siteKey = await createSigningKey({ name: 'Stream Ferry site key', email: 'ferry@site.example.test' });
});

describe('createSigningKey', () => {
  it('makes a v4 EdDSA key on the legacy ed25519 curve, which GnuPG 2.2 reads', async () => {
    const key = await readKey({ armoredKey: siteKey.publicKeyArmored });
    expect(key.getAlgorithmInfo()).toEqual({ algorithm: 'eddsaLegacy', curve: 'ed25519Legacy' });
    expect(key.keyPacket.version).toBe(4);
    expect(key.subkeys).toHaveLength(0);
    expect(key.getUserIDs()).toEqual(['Stream Ferry site key <ferry@site.example.test>']);
    expect(siteKey.fingerprint).toMatch(/^[0-9A-F]{40}$/);
    expect(key.getFingerprint().toUpperCase()).toBe(siteKey.fingerprint);
  });

  it('gives the same key in binary and armored form', async () => {
    const keyring = await loadKeyring([
      { name: 'binary', bytes: siteKey.publicKeyBinary },
      { name: 'armored', bytes: new TextEncoder().encode(siteKey.publicKeyArmored) },
    ]);
    expect(keyring.fingerprints).toEqual([siteKey.fingerprint]);
  });

  it('makes a key that expires when asked to', async () => {
    const createdAt = new Date('2030-01-01T00:00:00Z');
    const expiring = await createSigningKey({ name: 'Expiring', email: 'e@example.test', createdAt, expiresAfterSeconds: 3600 });
    const key = await readKey({ armoredKey: expiring.publicKeyArmored });
    expect(await key.getExpirationTime()).toEqual(new Date('2030-01-01T01:00:00Z'));
  });
});

describe('clearsign', () => {
  it('writes an RFC 4880 cleartext-signed message hashed with SHA-512 that our verifier accepts', async () => {
    const signed = await clearsign(INDEX_JSON, siteKey.privateKeyArmored);
    expect(signed.startsWith(`-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n${INDEX_JSON}\n-----BEGIN PGP SIGNATURE-----\n`)).toBe(true);
    expect(signed.trimEnd().endsWith('-----END PGP SIGNATURE-----')).toBe(true);
    expect(signed).not.toContain('\r');
    const keyring = await loadKeyring([{ name: 'site.gpg', bytes: siteKey.publicKeyBinary }]);
    const verified = await verifyClearsigned(signed, keyring, 'index.sjson');
    expect(verified.body).toBe(INDEX_JSON);
    expect(verified.hashAlgorithm).toBe('SHA-512');
  });
});

describe.skipIf(!existsSync(GPGV))('interoperability with gpgv, which MAAS runs', () => {
  let workDir: string;

  beforeEach(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'ferry-gpgv-'));
  });

  afterEach(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  async function gpgvExitCode(signedText: string): Promise<{ exitCode: number; output: string }> {
    const keyringFile = join(workDir, 'site-keyring.gpg');
    const signedFile = join(workDir, 'index.sjson');
    await writeFile(keyringFile, siteKey.publicKeyBinary);
    await writeFile(signedFile, signedText);
    // An empty GNUPGHOME keeps the test independent of whoever runs it.
    const env = { ...process.env, GNUPGHOME: workDir };
    return runFile(GPGV, ['--keyring', keyringFile, signedFile], { env }).then(
      ({ stderr }) => ({ exitCode: 0, output: stderr }),
      (error: unknown) => {
        const failure = error as { code?: unknown; stderr?: unknown };
        return { exitCode: typeof failure.code === 'number' ? failure.code : -1, output: String(failure.stderr) };
      },
    );
  }

  it('accepts a file clearsigned by sign.ts, with the binary public key as keyring', async () => {
    const result = await gpgvExitCode(await clearsign(INDEX_JSON, siteKey.privateKeyArmored));
    expect(result.output).toContain('Good signature');
    expect(result.exitCode).toBe(0);
  });

  it('rejects the same file once its content is changed', async () => {
    const signed = await clearsign(INDEX_JSON, siteKey.privateKeyArmored);
    const result = await gpgvExitCode(signed.replace('index:1.0', 'index:2.0'));
    expect(result.exitCode).not.toBe(0);
    expect(result.output).toContain('BAD signature');
  });
});
