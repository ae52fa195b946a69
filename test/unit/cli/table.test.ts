import { describe, expect, it } from 'vitest';
import { fitText, formatTable } from '../../../src-main/cli/output.js';

describe('formatTable', () => {
  const header = ['SOURCE', 'CONTENT ID', 'PRODUCT', 'VERSIONS', 'ITEMS', 'BYTES'];
  const rows = [
    ['https://images.maas.io/ephemeral-v3/stable/streams/v1/index.sjson', 'com.ubuntu.maas:stable:v3:download', 'com.ubuntu.maas.stable:v3:boot:24.04:amd64:ga-24.04', '20250615, 20250622', '12', '1.2 GiB'],
    ['file:///srv/m/', 'c', 'p', '1', '123456789', '100 B'],
  ];

  it('fits 80 columns, cutting the widest text columns at their start and never a number', () => {
    const lines = formatTable(header, rows, new Set([4, 5])).trimEnd().split('\n');
    for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(80);
    expect(lines[1]).toMatch(/…[^ ]*ga-24\.04 /);
    expect(lines[1]).toMatch(/ 12 +1\.2 GiB$/);
    expect(lines[2]).toMatch(/ 123456789 +100 B$/);
    expect(lines[0]).toMatch(/^SOURCE +CONTENT ID +PRODUCT +VERSIONS +ITEMS +BYTES$/);
  });

  it('leaves a table that fits as it is', () => {
    expect(formatTable(['A', 'B'], [['x', '1']], new Set([1]))).toBe('A  B\nx  1\n');
  });
});

describe('fitText', () => {
  it.each([
    ['abcdef', 4, 'start', 'abc…'],
    ['abcdef', 4, 'end', '…def'],
    ['abc', 3, 'start', 'abc'],
    ['abc', 0, 'end', ''],
  ] as const)('%s in %i columns keeping the %s', (text, width, keep, expected) => {
    expect(fitText(text, width, keep)).toBe(expected);
  });
});

describe('formatTable with columns that must stay whole', () => {
  const header = ['PRODUCT', 'OS', 'RELEASE', 'ARCH', 'SUBARCH', 'VERSIONS', 'LATEST', 'SIZE'];
  const long = ['com.ubuntu.maas.stable:v3:boot:24.04:amd64:ga-24.04', 'ubuntu', 'noble', 'amd64', 'ga-24.04', '2', '20250622.0', '1.2 GiB'];
  const short = ['p1', 'ubuntu', 'noble', 'amd64', 'ga-24.04', '2', '20250622.0', '1.2 GiB'];

  it('puts a product name that does not fit on its own line, and cuts neither it nor LATEST', () => {
    const lines = formatTable(header, [long], new Set([5, 7]), 80, { whole: new Set([6]), ownLine: 0 }).trimEnd().split('\n');
    expect(lines).toEqual([
      'PRODUCT',
      '  OS      RELEASE  ARCH   SUBARCH   VERSIONS  LATEST         SIZE',
      'com.ubuntu.maas.stable:v3:boot:24.04:amd64:ga-24.04',
      '  ubuntu  noble    amd64  ga-24.04         2  20250622.0  1.2 GiB',
    ]);
    for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(80);
  });

  it('keeps one line per row when everything fits', () => {
    const lines = formatTable(header, [short], new Set([5, 7]), 80, { whole: new Set([6]), ownLine: 0 }).trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^p1 +ubuntu +noble +amd64 +ga-24\.04 +2 +20250622\.0 +1\.2 GiB$/);
  });
});
