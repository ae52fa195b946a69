// OpenPGP for streams: keyrings, clearsigned verification, and signing (site keys, test fixtures).
export { fingerprintHolding, loadKeyring } from './keyring.js';
export type { Keyring, KeyringSource } from './keyring.js';
export { readClearsignedBody, verifyClearsigned } from './clearsigned.js';
export type { VerifiedText } from './clearsigned.js';
export { KEY_EXPIRY_WARNING_DAYS, keyExpiries } from './key-expiry.js';
export type { KeyExpiry } from './key-expiry.js';
export { clearsign, createSigningKey } from './sign.js';
export type { ClearsignOptions, SigningKey, SigningKeyOptions } from './sign.js';
