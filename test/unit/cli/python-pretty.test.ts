import { describe, expect, it } from 'vitest';
import { pythonPercentFormat, pythonPrettyDict } from '../../../src-main/cli/python-format.js';

// Expected texts are what CPython 3's pprint.pprint printed for the same dicts (sstream-query
// --pretty calls it on each item): one line when it fits in 80 columns, else one key per line and
// long values with spaces split into adjacent literals under the value's column.

const entries = (record: Record<string, string>): Array<[string, string]> => Object.entries(record);

describe('pythonPrettyDict (sstream-query --pretty)', () => {
  it('prints a short item on one line with sorted keys', () => {
    expect(pythonPrettyDict(entries({ release: 'noble', arch: 'amd64', ftype: 'squashfs' }))).toBe("{'arch': 'amd64', 'ftype': 'squashfs', 'release': 'noble'}");
  });

  it('prints a long item one key per line', () => {
    const item = {
      path: 'noble/amd64/20250615/squashfs',
      item_url: 'http://127.0.0.1:4242/noble/amd64/20250615/squashfs',
      ftype: 'squashfs',
      content_id: 'com.ubuntu.maas:stable:v3:download',
      arch: 'amd64',
      aliases: '24.04,n,noble',
    };
    expect(pythonPrettyDict(entries(item))).toBe(
      [
        "{'aliases': '24.04,n,noble',",
        " 'arch': 'amd64',",
        " 'content_id': 'com.ubuntu.maas:stable:v3:download',",
        " 'ftype': 'squashfs',",
        " 'item_url': 'http://127.0.0.1:4242/noble/amd64/20250615/squashfs',",
        " 'path': 'noble/amd64/20250615/squashfs'}",
      ].join('\n'),
    );
  });

  it('wraps a long value with spaces at word ends, as pprint does', () => {
    const item = { release_title: 'Ubuntu 24.04 LTS Noble Numbat, with a very long title that keeps going on and on past eighty columns', arch: 'amd64', x: '' };
    expect(pythonPrettyDict(entries(item))).toBe(
      [
        "{'arch': 'amd64',",
        " 'release_title': 'Ubuntu 24.04 LTS Noble Numbat, with a very long title that '",
        "                  'keeps going on and on past eighty columns',",
        " 'x': ''}",
      ].join('\n'),
    );
  });

  it('counts code points, not UTF-16 units, and quotes as repr does', () => {
    const item = { k: 'ünïcödé '.repeat(12), é: `'quote' and "dq"` };
    expect(pythonPrettyDict(entries(item))).toBe(
      [
        "{'k': 'ünïcödé ünïcödé ünïcödé ünïcödé ünïcödé ünïcödé ünïcödé ünïcödé ünïcödé '",
        "      'ünïcödé ünïcödé ünïcödé ',",
        ` 'é': '\\'quote\\' and "dq"'}`,
      ].join('\n'),
    );
  });
});

describe('pythonPercentFormat (sstream-query -o)', () => {
  it('names the first missing key instead of throwing, so the item can be skipped', () => {
    const item = new Map([['path', 'a/b']]);
    expect(pythonPercentFormat('%(path)s %(sha256)s %(md5)s', item)).toEqual({ missing: 'sha256' });
    expect(pythonPercentFormat('%(path)s %%', item)).toBe('a/b %');
  });
});
