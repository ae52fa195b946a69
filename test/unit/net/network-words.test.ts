import { describe, expect, it } from 'vitest';
import { networkWords } from '../../../src-main/net/http.js';

const failure = (code: string, message: string): Error => Object.assign(new Error(message), { code });

// Internal names (undici's UND_ERR_*, OpenSSL's codes and texts) never reach a person (issue 11 §2).
describe('networkWords', () => {
  it.each([
    ['SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain', 'not signed by a certificate authority this computer trusts'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate', 'not signed by a certificate authority this computer trusts'],
    ['CERT_HAS_EXPIRED', 'certificate has expired', 'has expired'],
    ['ERR_SSL_WRONG_VERSION_NUMBER', 'C0D7:error:0A00010B:SSL routines:ssl3_get_record:wrong version number', 'did not answer in TLS'],
    ['ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', 'C0D7:error:0A000410:SSL routines:ssl3_read_bytes:sslv3 alert handshake failure', 'TLS handshake with the server failed'],
    ['UND_ERR_SOCKET', 'other side closed', 'closed unexpectedly'],
    ['UND_ERR_SOMETHING_NEW', 'a new undici failure', 'a new undici failure'],
  ])('%s is said in words', (code, message, words) => {
    const said = networkWords(failure(code, message));
    expect(said).toContain(words);
    expect(said).not.toMatch(/UND_ERR|SSL routines|_CERT|ERR_SSL/);
  });

  it('keeps a system error message and its code', () => {
    expect(networkWords(failure('EACCES', 'permission denied'))).toBe('permission denied (EACCES)');
  });
});
