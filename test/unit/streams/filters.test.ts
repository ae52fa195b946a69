import { describe, expect, it } from 'vitest';
import { parseProducts } from '../../../src-main/streams/documents.js';
import { filterMatches, formatSelection, parseFilter, parseSelection, selectionMatches, selectionMatchesFields } from '../../../src-main/streams/filters.js';
import { flattenProducts, type StreamItem } from '../../../src-main/streams/flatten.js';
import { readGolden, readSample, type SampleContentId } from './reference-data.js';
import { thrownFerryError } from '../../support/expect-ferry-error.js';

const CONTENT_IDS: SampleContentId[] = [
  'com.ubuntu.maas:stable:1:bootloader-download',
  'com.ubuntu.maas:stable:centos-bases-download',
  'com.ubuntu.maas:stable:v3:download',
];
const allItems: StreamItem[] = CONTENT_IDS.flatMap((contentId) => flattenProducts(parseProducts(readSample(contentId), contentId)));

function matching(...args: string[]): StreamItem[] {
  const selection = parseSelection(args);
  return allItems.filter((item) => selectionMatches(item.flat, selection));
}

interface FilterParseGolden {
  readonly expression: string;
  readonly key?: string;
  readonly op?: string;
  readonly value?: string;
  readonly error?: string;
}

describe('parseFilter', () => {
  const golden = readGolden('filter-parse.json') as FilterParseGolden[];

  it.each(golden.map((entry) => [entry.expression, entry] as const))('parses %j as filters.ItemFilter does', (expression, entry) => {
    if (entry.error !== undefined) {
      const error = thrownFerryError(() => parseFilter(expression));
      expect(error.code).toBe('FERRY_FILTER_INVALID');
      expect(error.message).toBe(`Unable to parse the filter expression ${JSON.stringify(expression)}.`);
      return;
    }
    const filter = parseFilter(expression);
    expect({ key: filter.key, op: filter.operator, value: filter.value }).toEqual({ key: entry.key, op: entry.op, value: entry.value });
    expect(filter.expression).toBe(expression);
  });

  it('explains the grammar when it cannot parse, e.g. a dotted key', () => {
    const error = thrownFerryError(() => parseFilter('a.b=1'));
    expect(error.message).toBe('Unable to parse the filter expression "a.b=1".');
    expect(error.hint).toContain("KEY is letters, digits, '_', '-' or '|' (no '.' or ':')");
    expect(error.hint).toContain('= != ~ or !~');
  });

  it('reads a~=b as a search for "=b" and a!=b as inequality, by the reference regex precedence', () => {
    expect(parseFilter('a~=b')).toMatchObject({ operator: '~', value: '=b' });
    expect(parseFilter('a!=b')).toMatchObject({ operator: '!=', value: 'b' });
  });

  it('refuses a value regex that JavaScript cannot run, naming the filter', () => {
    const error = thrownFerryError(() => parseFilter('os~(?x) ubuntu'));
    expect(error.code).toBe('FERRY_FILTER_INVALID');
    expect(error.message).toContain('In the filter "os~(?x) ubuntu"');
    expect(thrownFerryError(() => parseFilter('release~(jammy')).message).toContain('a group is not closed');
  });
});

describe('filter matching on the MAAS sample', () => {
  it('has the 53 items of the sample', () => {
    expect(allItems).toHaveLength(53);
  });

  it('= and != compare whole strings, case-sensitively', () => {
    expect(matching('arch=amd64')).toHaveLength(29);
    expect(matching('arch!=amd64')).toHaveLength(24);
    expect(matching('arch=AMD64')).toHaveLength(0);
    expect(matching('arch=amd6')).toHaveLength(0);
  });

  it('~ is an unanchored, case-sensitive search; !~ its negation', () => {
    expect(matching('arch~md6')).toHaveLength(29);
    expect(matching('arch~^md6')).toHaveLength(0);
    expect(matching('arch~AMD')).toHaveLength(0);
    expect(matching('arch~(?i)AMD')).toHaveLength(29);
    expect(matching('arch!~md6')).toHaveLength(24);
  });

  it('reads grub* as "gru" followed by any number of "b"', () => {
    const oses = new Set(matching('os~(grub*|pxelinux)').map((item) => item.flat['os']));
    expect([...oses].sort()).toEqual(['grub-efi', 'grub-efi-signed', 'grub-ieee1275', 'pxelinux']);
  });

  it('treats a missing key as the empty string', () => {
    expect(matching('endpoint=')).toHaveLength(53);
    expect(matching('endpoint!=foo')).toHaveLength(53);
    const withoutKflavor = matching('kflavor!=generic');
    expect(withoutKflavor).toHaveLength(21);
    expect(withoutKflavor.every((item) => item.flat['kflavor'] === undefined)).toBe(true);
    expect(matching('ARCH=amd64')).toHaveLength(0);
  });

  it('can filter on any level: top, product, version, item and the names', () => {
    expect(matching('content_id=com.ubuntu.maas:stable:centos-bases-download')).toHaveLength(8);
    expect(matching('version_name=20250615')).toHaveLength(4);
    expect(matching('item_name=squashfs', 'release=noble')).toHaveLength(4);
    expect(matching('ftype=root-tgz')).toHaveLength(4);
  });

  it('ANDs the filters of one group', () => {
    const selected = matching('arch=amd64', 'release~(jammy|noble)');
    expect(selected).toHaveLength(16);
    expect(selected.every((item) => item.flat['arch'] === 'amd64' && /jammy|noble/.test(item.flat['release'] ?? ''))).toBe(true);
  });

  it('ORs groups separated by --or: images and bootloaders in one selection', () => {
    const images = matching('arch=amd64', 'release~(jammy|noble)');
    const bootloaders = matching('os~(grub*|pxelinux)');
    const both = matching('arch=amd64', 'release~(jammy|noble)', '--or', 'os~(grub*|pxelinux)');
    expect(bootloaders).toHaveLength(13);
    expect(both).toHaveLength(images.length + bootloaders.length);
    expect(new Set(both)).toEqual(new Set([...images, ...bootloaders]));
  });

  it('translates Python regex syntax in values', () => {
    expect(matching('src_version~(?P<d>\\d)\\.(?P=d)')).toHaveLength(5);
    expect(matching('sha256~\\A[0-9a-f]{64}\\Z')).toHaveLength(53);
  });

  it('filterMatches looks at one filter', () => {
    const [item] = allItems;
    if (item === undefined) throw new Error('no items');
    expect(filterMatches(item.flat, parseFilter(`item_name=${item.itemName}`))).toBe(true);
    expect(filterMatches(item.flat, parseFilter(`item_name!=${item.itemName}`))).toBe(false);
  });
});

describe('parseSelection and formatSelection', () => {
  it('selects everything without filters', () => {
    expect(parseSelection([]).groups).toEqual([[]]);
    expect(matching()).toHaveLength(53);
  });

  it.each([[['--or']], [['arch=amd64', '--or']], [['--or', 'arch=amd64']], [['a=b', '--or', '--or', 'c=d']]])('refuses an empty --or group in %j', (args) => {
    const error = thrownFerryError(() => parseSelection(args));
    expect(error.code).toBe('FERRY_FILTER_INVALID');
    expect(error.message).toContain('--or has no filters on one side');
    expect(error.hint).toContain('both sides');
  });

  it('writes a selection back as the arguments it came from', () => {
    const args = ['arch=amd64', 'release~(jammy|noble)', '--or', 'os~(grub*|pxelinux)', 'value =  spaced  '];
    const selection = parseSelection(args);
    expect(selection.groups.map((group) => group.length)).toEqual([2, 2]);
    expect(formatSelection(selection)).toEqual(args);
    expect(formatSelection(parseSelection(formatSelection(selection)))).toEqual(args);
    expect(formatSelection(parseSelection([]))).toEqual([]);
  });
});

describe('selectionMatchesFields', () => {
  it('matches through a field reader as selectionMatches does through the map', () => {
    const selection = parseSelection(['arch=amd64', 'kflavor!=generic', '--or', 'os~^pxe']);
    const viaMap = allItems.filter((item) => selectionMatches(item.flat, selection));
    const viaReader = allItems.filter((item) => selectionMatchesFields((key) => item.flat[key], selection));
    expect(viaReader).toEqual(viaMap);
    expect(viaMap.length).toBeGreaterThan(0);
    expect(viaMap.length).toBeLessThan(allItems.length);
  });
});
