import { describe, expect, it } from 'vitest';
import { parseRequestPath } from '../../../src-main/serve/index.js';

describe('parseRequestPath', () => {
  it.each([
    ['/streams/v1/index.sjson', 'streams/v1/index.sjson'],
    ['/streams/v1/com.ubuntu.maas:stable:v3:download.sjson', 'streams/v1/com.ubuntu.maas:stable:v3:download.sjson'],
    ['/streams/v1/com.ubuntu.maas%3Astable%3av3%3Adownload.sjson', 'streams/v1/com.ubuntu.maas:stable:v3:download.sjson'],
    ['/noble/amd64/20250615/squashfs?cache=no#frag', 'noble/amd64/20250615/squashfs'],
    ['/a%20b/%C3%A9t%C3%A9', 'a b/été'],
  ])('%s → %s', (target, path) => {
    expect(parseRequestPath(target)).toEqual({ kind: 'file', path });
  });

  it.each(['/', '/streams/', '/streams/v1/'])('%s is a directory', (target) => {
    expect(parseRequestPath(target)).toEqual({ kind: 'directory' });
  });

  it.each(['streams/v1/index.sjson', 'http://host/streams/v1/index.sjson', '*', '/%E0%A4%A', '/%ff'])('%s is malformed', (target) => {
    expect(parseRequestPath(target)).toEqual({ kind: 'malformed' });
  });

  it.each([
    '/../etc/passwd',
    '/a/../../b',
    '/./a',
    '/%2e%2e/a',
    '/%2E%2e/a',
    '/%252e%252e/a',
    '/%25252e%25252e/a',
    '/..%2fa',
    '/a%2Fb',
    '/..%5ca',
    '/a\\b',
    '/a%00b',
    '/a%0ab',
    '/a%C2%85b',
    '//etc/passwd',
    '/.ferry/catalog.db',
    '/.Ferry/lock',
    '/%2eferry/catalog.db',
    '/.ferry%20/x',
    '/FERRY~1/catalog.db',
  ])('%s is refused as unsafe', (target) => {
    expect(parseRequestPath(target)).toEqual({ kind: 'unsafe' });
  });
});
