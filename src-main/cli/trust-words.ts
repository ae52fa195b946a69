import type { TrustWarning } from '../engine/index.js';

const day = (iso: string): string => iso.slice(0, 10);
const days = (count: number): string => `${count} day${count === 1 ? '' : 's'}`;

/** One short line (no newline) for a trust warning, as mirror, sync, export and import print it on stderr. */
export function trustWarningWords(warning: TrustWarning): string {
  switch (warning.kind) {
    case 'signature-age':
      return warning.oldestSignedAt === warning.newestSignedAt || day(warning.oldestSignedAt) === day(warning.newestSignedAt)
        ? `Signatures are ${days(warning.days)} old (signed ${day(warning.oldestSignedAt)}).`
        : `Signatures are up to ${days(warning.days)} old (signed ${day(warning.oldestSignedAt)} to ${day(warning.newestSignedAt)}).`;
    case 'key-expired':
      return `WARNING: key ${warning.fingerprint} in the keyring expired on ${day(warning.expiredAt)}; get the publisher's renewed key.`;
    case 'key-expires-soon':
      return `WARNING: key ${warning.fingerprint} in the keyring expires in ${days(warning.days)} (${day(warning.expiresAt)}); get the publisher's renewed key before then.`;
  }
}
