import { describe, expect, it } from 'vitest';
import { hostNameReading, joinMirrorUrl, resolveSource, type StreamSource } from '../../../src-main/streams/source.js';
import { thrownFerryError } from '../../support/expect-ferry-error.js';

describe('resolveSource', () => {
  it('resolves the presets to images.maas.io with the signed index', () => {
    expect(resolveSource('stable')).toEqual<StreamSource>({
      baseUrl: 'https://images.maas.io/ephemeral-v3/stable/',
      entryPath: 'streams/v1/index.sjson',
      entryUrl: 'https://images.maas.io/ephemeral-v3/stable/streams/v1/index.sjson',
      signed: true,
      display: 'https://images.maas.io/ephemeral-v3/stable/streams/v1/index.sjson',
    });
    expect(resolveSource('candidate').baseUrl).toBe('https://images.maas.io/ephemeral-v3/candidate/');
  });

  it('adds the default entry path and a trailing slash to a bare base URL', () => {
    const source = resolveSource('http://mirror.lan/maas/images/ephemeral-v3/stable');
    expect(source.baseUrl).toBe('http://mirror.lan/maas/images/ephemeral-v3/stable/');
    expect(source.entryPath).toBe('streams/v1/index.sjson');
    expect(source.signed).toBe(true);
  });

  it('splits a URL naming a metadata file under streams/v1/ (path_from_mirror_url)', () => {
    const source = resolveSource('https://mirror.lan/stable/streams/v1/index.json');
    expect(source.baseUrl).toBe('https://mirror.lan/stable/');
    expect(source.entryPath).toBe('streams/v1/index.json');
    expect(source.signed).toBe(false);
    const products = resolveSource('https://mirror.lan/s/streams/v1/com.ubuntu.maas:stable:v3:download.sjson');
    expect(products.entryPath).toBe('streams/v1/com.ubuntu.maas:stable:v3:download.sjson');
    expect(products.entryUrl).toBe('https://mirror.lan/s/streams/v1/com.ubuntu.maas:stable:v3:download.sjson');
    expect(products.signed).toBe(true);
  });

  it('splits at the first streams/v1/ like the reference', () => {
    const source = resolveSource('https://m/a/streams/v1/x/streams/v1/index.json');
    expect(source.baseUrl).toBe('https://m/a/');
    expect(source.entryPath).toBe('streams/v1/x/streams/v1/index.json');
  });

  it('does not split a URL that does not end in .json or .sjson', () => {
    const source = resolveSource('https://m/streams/v1/index.txt');
    expect(source.baseUrl).toBe('https://m/streams/v1/index.txt/');
    expect(source.entryPath).toBe('streams/v1/index.sjson');
  });

  it('takes --path as the entry path; a .json path means no signatures', () => {
    const source = resolveSource('https://m/base', { path: 'streams/v1/com.ubuntu.maas:stable:v3:download.json' });
    expect(source.entryUrl).toBe('https://m/base/streams/v1/com.ubuntu.maas:stable:v3:download.json');
    expect(source.signed).toBe(false);
    expect(resolveSource('stable', { path: 'streams/v1/index.json' }).signed).toBe(false);
  });

  it('refuses a file URL together with --path, and an unsafe --path', () => {
    expect(thrownFerryError(() => resolveSource('https://m/streams/v1/index.json', { path: 'streams/v1/other.json' })).code).toBe('FERRY_SOURCE_INVALID');
    expect(thrownFerryError(() => resolveSource('https://m/', { path: '../streams/v1/index.json' })).code).toBe('FERRY_UNSAFE_PATH');
  });

  it('keeps credentials in the URLs but not in the display form', () => {
    const source = resolveSource('https://user:secret@mirror.lan/stable/');
    expect(source.baseUrl).toBe('https://user:secret@mirror.lan/stable/');
    expect(source.entryUrl).toBe('https://user:secret@mirror.lan/stable/streams/v1/index.sjson');
    expect(source.display).not.toContain('secret');
    expect(source.display).toContain('mirror.lan/stable/streams/v1/index.sjson');
  });

  it('accepts file URLs and shows them as local paths', () => {
    const source = resolveSource('file:///srv/my%20mirror/streams/v1/index.json');
    expect(source.baseUrl).toBe('file:///srv/my%20mirror/');
    expect(source.entryUrl).toBe('file:///srv/my%20mirror/streams/v1/index.json');
    expect(source.display).toBe('/srv/my mirror/streams/v1/index.json');
  });

  it('turns absolute and relative local paths into file URLs', () => {
    const absolute = resolveSource('/srv/mirror/stable');
    expect(absolute.baseUrl).toBe('file:///srv/mirror/stable/');
    expect(absolute.entryPath).toBe('streams/v1/index.sjson');
    const relative = resolveSource('../mirror dir/./streams/v1/index.json', { cwd: '/home/op/work' });
    expect(relative.baseUrl).toBe('file:///home/op/mirror%20dir/');
    expect(relative.entryPath).toBe('streams/v1/index.json');
    expect(relative.display).toBe('/home/op/mirror dir/streams/v1/index.json');
    expect(resolveSource('./com.example:stream', { cwd: '/data' }).baseUrl).toBe('file:///data/com.example:stream/');
  });

  it.each([
    ['', 'The source is empty.'],
    ['ftp://mirror.lan/stable/', "unsupported scheme 'ftp:'"],
    ['s3://bucket/stable', "unsupported scheme 's3:'"],
    ['C:\\mirror', 'looks like a Windows path'],
    ['https://mirror.lan/stable/?token=1', 'query string or fragment'],
    ['https://mirror.lan/stable/#x', 'query string or fragment'],
    ['file://server/share/', "names the host 'server'"],
    ['http://', 'is not a valid URL'],
    ['relative/dir', 'is relative and no working directory was given'],
  ])('refuses %j with FERRY_SOURCE_INVALID and a hint', (input, message) => {
    const error = thrownFerryError(() => resolveSource(input));
    expect(error.code).toBe('FERRY_SOURCE_INVALID');
    expect(error.message).toContain(message);
    expect(error.hint).toBeTruthy();
  });

  it('does not echo a password from a refused URL', () => {
    expect(thrownFerryError(() => resolveSource('ftp://user:secret@host/')).message).not.toContain('secret');
  });
});

describe('joinMirrorUrl', () => {
  it('appends the item path below the base, escaping what a URL path cannot hold', () => {
    expect(joinMirrorUrl('https://m/stable/', 'jammy/amd64/20250615/squashfs')).toBe('https://m/stable/jammy/amd64/20250615/squashfs');
    expect(joinMirrorUrl('https://m/stable/', 'streams/v1/com.ubuntu.maas:stable:v3:download.json')).toBe(
      'https://m/stable/streams/v1/com.ubuntu.maas:stable:v3:download.json',
    );
    expect(joinMirrorUrl('file:///srv/m/', 'a b/100%/q?#/é')).toBe('file:///srv/m/a%20b/100%25/q%3F%23/%C3%A9');
  });

  it('adds a missing slash to the base', () => {
    expect(joinMirrorUrl('https://m/stable', 'x')).toBe('https://m/stable/x');
  });

  it('refuses paths that would leave the base', () => {
    for (const path of ['../x', '/abs', 'a/%2e%2e/b', 'a\\b']) {
      expect(thrownFerryError(() => joinMirrorUrl('https://m/stable/', path)).code).toBe('FERRY_UNSAFE_PATH');
    }
  });

  it('does not put credentials into the refusal message', () => {
    expect(thrownFerryError(() => joinMirrorUrl('https://u:secret@m/', '../x')).message).not.toContain('secret');
  });

  it('reads a location ending in streams/v1/ as the mirror above it', () => {
    for (const input of ['https://m/stable/streams/v1/', 'https://m/stable/streams/v1']) {
      const source = resolveSource(input);
      expect(source.baseUrl).toBe('https://m/stable/');
      expect(source.entryUrl).toBe('https://m/stable/streams/v1/index.sjson');
    }
    expect(resolveSource('/srv/mirror/streams/v1/', { cwd: '/' }).baseUrl).toBe('file:///srv/mirror/');
  });
});

describe('hostNameReading', () => {
  it('reads a scheme-less source that starts with a host name as https', () => {
    expect(hostNameReading('images.maas.io/ephemeral-v3/stable')).toBe('https://images.maas.io/ephemeral-v3/stable');
    expect(hostNameReading('mirror.lan:8080/maas')).toBe('https://mirror.lan:8080/maas');
    expect(hostNameReading('127.0.0.1:8080/')).toBe('https://127.0.0.1:8080/');
    // A one-label host needs its port to be told from a scheme.
    expect(hostNameReading('localhost:8099/')).toBe('https://localhost:8099/');
    expect(hostNameReading('localhost:8099')).toBe('https://localhost:8099');
  });

  it('leaves presets, URLs and paths alone', () => {
    for (const input of ['stable', 'https://m/x', 'file:///x', './images.maas.io', '/srv/mirror', 'mirror', 'v1.2/x', 'localhost', 'ftp://m/x']) {
      expect(hostNameReading(input), input).toBeUndefined();
    }
  });
});
