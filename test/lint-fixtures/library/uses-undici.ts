// Must fail: only net/ may use undici.
import { request } from 'undici';

export const get = request;
