import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clearsign, createSigningKey, keyExpiries, loadKeyring, verifyClearsigned, type SigningKey } from '../../../src-main/pgp/index.js';
import { makeGnupgHome, runGnupgTool } from '../../support/gnupg.js';

// keyExpiries against keys made here with expiries near now, and gpg as the judge of each key's
// expiry date; the signature creation time verification reports, against gpgv's verdict.

const execFileAsync = promisify(execFile);
const DAY_MS = 24 * 60 * 60 * 1000;
const DAY_S = 24 * 60 * 60;
const now = new Date();

let home: { dir: string; cleanup: () => Promise<void> };
const keys: Record<'never' | 'soon' | 'later' | 'expired', SigningKey> = {} as Record<'never' | 'soon' | 'later' | 'expired', SigningKey>;
let keyringFile: string;

beforeAll(async () => {
  home = await makeGnupgHome();
  const make = (name: string, createdDaysAgo: number, lifetimeDays?: number): Promise<SigningKey> =>
    createSigningKey({
      name,
      email: `${name}@test.invalid`,
      createdAt: new Date(now.getTime() - createdDaysAgo * DAY_MS),
      ...(lifetimeDays === undefined ? {} : { expiresAfterSeconds: lifetimeDays * DAY_S }),
    });
  keys.never = await make('never', 1);
  keys.soon = await make('soon', 10, 40);
  keys.later = await make('later', 10, 210);
  keys.expired = await make('expired', 400, 200);
  keyringFile = join(home.dir, 'keyring.gpg');
  await writeFile(keyringFile, Buffer.concat(Object.values(keys).map((key) => key.publicKeyBinary)));
});

afterAll(async () => {
  await home.cleanup();
});

/** Primary key fingerprint → expiry (seconds since the epoch, or null), as `gpg --show-keys --with-colons` prints it. */
async function gpgExpiries(file: string): Promise<Map<string, number | null>> {
  // runGnupgTool keeps only stderr; the listing is on stdout.
  const { stdout } = await execFileAsync('gpg', ['--homedir', home.dir, '--batch', '--no-tty', '--with-colons', '--show-keys', file], { env: { ...process.env, LC_ALL: 'C' } });
  const lines = stdout.split('\n').map((line) => line.split(':'));
  const expiries = new Map<string, number | null>();
  lines.forEach((fields, index) => {
    if (fields[0] !== 'pub') return;
    const fingerprint = lines[index + 1]?.[9] ?? '';
    expiries.set(fingerprint, fields[6] === '' || fields[6] === undefined ? null : Number(fields[6]));
  });
  return expiries;
}

describe('keyExpiries', () => {
  it('gives each key its expiry as gpg reads it, and flags expired and within-90-days keys', async () => {
    const keyring = await loadKeyring([{ name: 'keyring.gpg', bytes: await readFile(keyringFile) }]);
    const expiries = await keyExpiries(keyring, now);
    const judge = await gpgExpiries(keyringFile);
    expect(expiries.map((entry) => entry.fingerprint)).toEqual(Object.values(keys).map((key) => key.fingerprint));
    for (const entry of expiries) {
      expect(entry.expiresAt === null ? null : Math.floor(entry.expiresAt.getTime() / 1000), entry.fingerprint).toBe(judge.get(entry.fingerprint));
    }
    const flags = Object.fromEntries(
      Object.entries(keys).map(([name, key]) => {
        const entry = expiries.find((candidate) => candidate.fingerprint === key.fingerprint);
        return [name, { expired: entry?.expired, expiresSoon: entry?.expiresSoon }];
      }),
    );
    expect(flags).toEqual({
      never: { expired: false, expiresSoon: false },
      soon: { expired: false, expiresSoon: true },
      later: { expired: false, expiresSoon: false },
      expired: { expired: true, expiresSoon: false },
    });
    // The window is a parameter: at 365 days the later key is soon too.
    expect((await keyExpiries(keyring, now, 365)).filter((entry) => entry.expiresSoon)).toHaveLength(2);
  });

  it("reports the signature's creation time, also for a key that has expired since it signed (gpgv accepts that too)", async () => {
    const signedAt = new Date(now.getTime() - 300 * DAY_MS);
    signedAt.setMilliseconds(0);
    const signed = await clearsign('index\n', keys.expired.privateKeyArmored, { signedAt });
    const keyring = await loadKeyring([{ name: 'keyring.gpg', bytes: keys.expired.publicKeyBinary }]);
    const verified = await verifyClearsigned(signed, keyring, 'index.sjson');
    expect(verified.signedAt.toISOString()).toBe(signedAt.toISOString());
    expect(verified.keyExpiredAt).toBeInstanceOf(Date);

    const file = join(home.dir, 'index.sjson');
    await writeFile(file, signed);
    const expiredRing = join(home.dir, 'expired.gpg');
    await writeFile(expiredRing, keys.expired.publicKeyBinary);
    expect((await runGnupgTool('gpgv', ['--keyring', expiredRing, file], home.dir)).status).toBe(0);
  });
});
