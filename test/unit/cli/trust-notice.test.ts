import { describe, expect, it } from 'vitest';
import { trustNotice } from '../../../src-main/cli/commands/source-options.js';

describe('trustNotice', () => {
  it('warns loudly, with the date, about a signing key that expired after it signed', () => {
    const notice = trustNotice(
      {
        kind: 'verified',
        signers: ['AAAA1111'],
        keyringFiles: ['publisher.gpg'],
        expiredKeys: [{ fingerprint: 'AAAA1111', expiredAt: '2026-01-02T03:04:05.000Z' }],
      },
      'https://images.example.test/',
      3,
    );
    const lines = notice.trimEnd().split('\n');
    expect(lines[0]).toBe('Verified 3 signed metadata file(s) from https://images.example.test/ (signed by AAAA1111).');
    expect(lines[1]).toMatch(/^WARNING: signing key AAAA1111 expired on 2026-01-02T03:04:05.000Z;/);
  });

  it('prints no warning when every key is current', () => {
    const notice = trustNotice({ kind: 'verified', signers: ['AAAA1111'], keyringFiles: ['k.gpg'], expiredKeys: [] }, 'stable', 1);
    expect(notice).not.toContain('WARNING');
  });
});
