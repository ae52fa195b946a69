import { describe, expect, it } from 'vitest';
import { trustNotice } from '../../../src-main/cli/commands/source-options.js';

describe('trustNotice', () => {
  it('warns loudly, with the date, about a signing key that expired after it signed, once', () => {
    const notice = trustNotice(
      {
        kind: 'verified',
        signers: ['AAAA1111'],
        keyringFiles: ['publisher.gpg'],
        expiredKeys: [{ fingerprint: 'AAAA1111', expiredAt: '2026-01-02T03:04:05.000Z' }],
        warnings: [{ kind: 'key-expired', fingerprint: 'AAAA1111', expiredAt: '2026-01-02T03:04:05.000Z' }],
      },
      'https://images.example.test/',
      3,
    );
    const lines = notice.trimEnd().split('\n');
    expect(lines[0]).toBe('Verified 3 signed metadata file(s) from https://images.example.test/ (signed by AAAA1111).');
    expect(lines[1]).toMatch(/^WARNING: signing key AAAA1111 expired on 2026-01-02T03:04:05.000Z;/);
    expect(lines).toHaveLength(2);
  });

  it('prints no warning when every key is current', () => {
    const notice = trustNotice({ kind: 'verified', signers: ['AAAA1111'], keyringFiles: ['k.gpg'], expiredKeys: [], warnings: [] }, 'stable', 1);
    expect(notice).not.toContain('WARNING');
  });

  it("says how old the signatures are, and which keys of the keyring have expired or expire soon", () => {
    const notice = trustNotice(
      {
        kind: 'verified',
        signers: ['AAAA1111'],
        keyringFiles: ['k.gpg'],
        expiredKeys: [],
        warnings: [
          { kind: 'signature-age', oldestSignedAt: '2026-11-20T10:00:00.000Z', newestSignedAt: '2026-11-27T10:00:00.000Z', days: 10 },
          { kind: 'key-expired', fingerprint: 'BBBB2222', expiredAt: '2026-05-01T00:00:00.000Z' },
          { kind: 'key-expires-soon', fingerprint: 'AAAA1111', expiresAt: '2027-01-01T00:00:00.000Z', days: 1 },
        ],
      },
      'stable',
      2,
    );
    expect(notice.trimEnd().split('\n').slice(1)).toEqual([
      'Signatures are up to 10 days old (signed 2026-11-20 to 2026-11-27).',
      "WARNING: key BBBB2222 in the keyring expired on 2026-05-01; get the publisher's renewed key.",
      "WARNING: key AAAA1111 in the keyring expires in 1 day (2027-01-01); get the publisher's renewed key before then.",
    ]);
  });
});
