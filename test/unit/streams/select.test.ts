import { describe, expect, it } from 'vitest';
import { parseProducts } from '../../../src-main/streams/documents.js';
import { parseSelection } from '../../../src-main/streams/filters.js';
import { selectItems, selectVersions } from '../../../src-main/streams/select.js';
import { readEdgeStreamFile, readSample } from './reference-data.js';

const ubuntu = parseProducts(readSample('com.ubuntu.maas:stable:v3:download'), 'ubuntu.json');
const bootloaders = parseProducts(readSample('com.ubuntu.maas:stable:1:bootloader-download'), 'bootloaders.json');
const edge = parseProducts(readEdgeStreamFile('streams/v1/com.example.ferry:edge.json'), 'edge.json');

function names(items: ReturnType<typeof selectItems>): string[] {
  return items.map((item) => `${item.productName.split(':').slice(-2).join(':')} ${item.versionName} ${item.itemName}`);
}

describe('selectItems', () => {
  it('keeps the newest version per product with max 1, in sstream-query order', () => {
    const selected = selectItems(ubuntu, parseSelection(['item_name=squashfs']), { max: 1 });
    expect(names(selected)).toEqual([
      'amd64:ga-22.04 20250718 squashfs',
      'arm64:ga-22.04 20250812 squashfs',
      'amd64:ga-24.04 20250709 squashfs',
      'arm64:ga-24.04 20250709 squashfs',
    ]);
  });

  it('filters items before applying max, so a version with nothing left cannot take the slot', () => {
    const selection = parseSelection(['ftype!=drop']);
    const picked = selectItems(edge, selection, { max: 1 }).filter((item) => item.productName === 'example:order-of-operations:amd64');
    expect(picked.map((item) => item.versionName)).toEqual(['20240102']);
    const unfiltered = selectItems(edge, parseSelection([]), { max: 1 }).filter((item) => item.productName === 'example:order-of-operations:amd64');
    expect(unfiltered.map((item) => item.versionName)).toEqual(['20240201']);
  });

  it('lets a version that never had items win max, printing nothing for that product (as the reference does)', () => {
    const gadget = (max: number | undefined) => selectItems(edge, parseSelection([]), { max }).filter((item) => item.productName === '42');
    expect(gadget(1)).toEqual([]);
    expect(gadget(2).map((item) => item.itemName)).toEqual(['b', '9', '10']);
  });

  it('picks samepaths as the newest foocloud-style version', () => {
    const widget = selectItems(edge, parseSelection(['os=widget']), { max: 1 });
    expect(widget.map((item) => item.versionName)).toEqual(['samepaths']);
  });

  it('returns nothing with max 0, and everything without max', () => {
    expect(selectItems(ubuntu, parseSelection([]), { max: 0 })).toEqual([]);
    expect(selectItems(ubuntu, parseSelection([]))).toHaveLength(32);
  });

  it('applies max per product after an --or selection', () => {
    const selection = parseSelection(['arch=amd64', 'release~(jammy|noble)', '--or', 'os~(grub*|pxelinux)']);
    expect(selectItems(ubuntu, selection, { max: 1 })).toHaveLength(8);
    const loaders = selectItems(bootloaders, selection, { max: 1 });
    expect(loaders).toHaveLength(7);
    const versionsPerProduct = new Map<string, Set<string>>();
    for (const item of loaders) versionsPerProduct.set(item.productName, (versionsPerProduct.get(item.productName) ?? new Set()).add(item.versionName));
    expect([...versionsPerProduct.values()].map((versions) => versions.size)).toEqual([1, 1, 1, 1, 1]);
  });
});

describe('selectVersions', () => {
  it('gives every surviving version newest first, with the empty ones the reference keeps', () => {
    const products = selectVersions(edge, parseSelection([]));
    const gadget = products.find((product) => product.name === '42');
    expect(gadget?.versions.map((version) => [version.name, version.items.map((item) => item.itemName)])).toEqual([
      ['2', []],
      ['1', ['b', '9', '10']],
    ]);
  });

  it('drops versions and products whose items were all filtered out, but not a version that never had items', () => {
    const products = selectVersions(edge, parseSelection(['ftype!=drop', 'os=order']));
    expect(products.map((product) => [product.name, product.versions.map((version) => version.name)])).toEqual([
      ['42', ['2']],
      ['example:order-of-operations:amd64', ['20240102']],
    ]);
  });

  it('agrees with selectItems when no max is given', () => {
    const selection = parseSelection(['arch=amd64']);
    const viaVersions = selectVersions(ubuntu, selection).flatMap((product) => product.versions.flatMap((version) => version.items));
    expect(viaVersions).toEqual(selectItems(ubuntu, selection));
    expect(viaVersions).toHaveLength(16);
  });
});
