import type { KeyExpiry } from '../pgp/index.js';
import type { TrustWarning } from './api.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The warnings a job gives about trust (issue 9 §3), as plain data: how old upstream's signatures
 * are (`signedAt`: each verified signature's creation time, from `VerifiedText.signedAt` or a
 * bundle's `signatures[].signedAt`; none gives no age), then each key of `keys` (from
 * `keyExpiries`) that has expired or expires soon, in keyring order. Days are whole days, rounded
 * down for age and up for time left, so "expires in 1 day" is never already past. Throws nothing.
 */
export function trustWarnings(signedAt: readonly Date[], keys: readonly KeyExpiry[], now: Date): TrustWarning[] {
  const warnings: TrustWarning[] = [];
  if (signedAt.length > 0) {
    const times = signedAt.map((date) => date.getTime());
    const oldest = Math.min(...times);
    warnings.push({
      kind: 'signature-age',
      oldestSignedAt: new Date(oldest).toISOString(),
      newestSignedAt: new Date(Math.max(...times)).toISOString(),
      days: Math.max(0, Math.floor((now.getTime() - oldest) / DAY_MS)),
    });
  }
  for (const key of keys) {
    if (key.expiresAt === null) continue;
    if (key.expired) warnings.push({ kind: 'key-expired', fingerprint: key.fingerprint, expiredAt: key.expiresAt.toISOString() });
    else if (key.expiresSoon) {
      warnings.push({
        kind: 'key-expires-soon',
        fingerprint: key.fingerprint,
        expiresAt: key.expiresAt.toISOString(),
        days: Math.ceil((key.expiresAt.getTime() - now.getTime()) / DAY_MS),
      });
    }
  }
  return warnings;
}
