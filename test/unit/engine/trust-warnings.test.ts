import { describe, expect, it } from 'vitest';
import { trustWarnings } from '../../../src-main/engine/trust-warnings.js';

const now = new Date('2026-11-30T06:00:00.000Z');

describe('trustWarnings', () => {
  it("gives the signatures' age, then the keyring's expired and soon-expiring keys, as plain data", () => {
    const warnings = trustWarnings(
      [new Date('2026-11-20T10:00:00.000Z'), new Date('2026-11-27T10:00:00.000Z')],
      [
        { fingerprint: 'NEVER', expiresAt: null, expired: false, expiresSoon: false },
        { fingerprint: 'GONE', expiresAt: new Date('2026-05-01T00:00:00.000Z'), expired: true, expiresSoon: false },
        { fingerprint: 'SOON', expiresAt: new Date('2026-12-01T05:00:00.000Z'), expired: false, expiresSoon: true },
        { fingerprint: 'LATER', expiresAt: new Date('2027-11-30T00:00:00.000Z'), expired: false, expiresSoon: false },
      ],
      now,
    );
    expect(warnings).toEqual([
      { kind: 'signature-age', oldestSignedAt: '2026-11-20T10:00:00.000Z', newestSignedAt: '2026-11-27T10:00:00.000Z', days: 9 },
      { kind: 'key-expired', fingerprint: 'GONE', expiredAt: '2026-05-01T00:00:00.000Z' },
      // 23 hours left: "1 day", never "0 days" for a key that is still valid.
      { kind: 'key-expires-soon', fingerprint: 'SOON', expiresAt: '2026-12-01T05:00:00.000Z', days: 1 },
    ]);
    expect(JSON.parse(JSON.stringify(warnings))).toEqual(warnings);
  });

  it('gives no age without signatures, and no age below zero for a signature a few minutes ahead', () => {
    expect(trustWarnings([], [], now)).toEqual([]);
    expect(trustWarnings([new Date(now.getTime() + 60_000)], [], now)).toMatchObject([{ kind: 'signature-age', days: 0 }]);
  });
});
