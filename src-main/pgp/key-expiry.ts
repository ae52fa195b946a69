import { VERIFICATION_CONFIG } from './clearsigned.js';
import type { Keyring } from './keyring.js';

/** Days ahead within which a key's coming expiry is worth a warning (issue 9 §3). */
export const KEY_EXPIRY_WARNING_DAYS = 90;

const DAY_MS = 24 * 60 * 60 * 1000;

export interface KeyExpiry {
  /** Primary key fingerprint, uppercase hex, as in `Keyring.fingerprints`. */
  fingerprint: string;
  /** When the primary key expires, by its newest self-signature; null when it never does. */
  expiresAt: Date | null;
  /** expiresAt is at or before `now`. */
  expired: boolean;
  /** Not expired, but expires within `withinDays` of `now`. */
  expiresSoon: boolean;
}

/**
 * Each key of the keyring with its expiry, judged at `now`: the primary key's expiry as
 * `gpg --show-keys` prints it (key creation + the key expiration time subpacket of its newest
 * self-signature, RFC 4880 §5.2.3.6), read with the same openpgp settings verification uses.
 * A key whose self-signatures openpgp cannot read counts as never expiring here: verification
 * refuses it anyway (FERRY_SIG_KEY_INVALID). Throws nothing of its own.
 */
export async function keyExpiries(keyring: Keyring, now: Date, withinDays: number = KEY_EXPIRY_WARNING_DAYS): Promise<KeyExpiry[]> {
  return Promise.all(
    keyring.keys.map(async (key) => {
      const expiration = await key.getExpirationTime(undefined, VERIFICATION_CONFIG).catch(() => null);
      const expiresAt = expiration instanceof Date ? expiration : null;
      const expired = expiresAt !== null && expiresAt.getTime() <= now.getTime();
      const expiresSoon = expiresAt !== null && !expired && expiresAt.getTime() <= now.getTime() + withinDays * DAY_MS;
      return { fingerprint: key.getFingerprint().toUpperCase(), expiresAt, expired, expiresSoon };
    }),
  );
}
