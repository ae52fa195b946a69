import { describe, expect, it } from 'vitest';
import { parseProducts } from '../../../src-main/streams/documents.js';
import { flattenProducts, flattenTree, itemField, toStreamItem, type StreamItem } from '../../../src-main/streams/flatten.js';
import { readSample } from './reference-data.js';

const ubuntu = parseProducts(readSample('com.ubuntu.maas:stable:v3:download'), 'streams/v1/com.ubuntu.maas:stable:v3:download.json');
const bootloaders = parseProducts(readSample('com.ubuntu.maas:stable:1:bootloader-download'), 'bootloaders.json');

function find(items: StreamItem[], productSuffix: string, versionName: string, itemName: string): StreamItem {
  const item = items.find((candidate) => candidate.productName.endsWith(productSuffix) && candidate.versionName === versionName && candidate.itemName === itemName);
  if (item === undefined) throw new Error(`no item ${productSuffix} ${versionName} ${itemName}`);
  return item;
}

function flattenText(products: unknown, top: Record<string, unknown> = {}): StreamItem[] {
  return flattenProducts(parseProducts(JSON.stringify({ content_id: 'c', format: 'products:1.0', ...top, products }), 'x.json'));
}

describe('flattenProducts on the MAAS sample', () => {
  const items = flattenProducts(ubuntu);

  it('gives every field as the reference prints it (sstream-query --json, minus item_url)', () => {
    const squashfs = find(items, ':22.04:amd64:ga-22.04', '20250615', 'squashfs');
    expect({ ...squashfs.flat }).toEqual({
      arch: 'amd64',
      content_id: 'com.ubuntu.maas:stable:v3:download',
      datatype: 'image-ids',
      format: 'products:1.0',
      ftype: 'squashfs',
      item_name: 'squashfs',
      kflavor: 'generic',
      krel: 'jammy',
      label: 'stable',
      os: 'ubuntu',
      path: 'jammy/amd64/20250615/squashfs',
      product_name: 'com.ubuntu.maas.stable:v3:boot:22.04:amd64:ga-22.04',
      release: 'jammy',
      release_codename: 'Jammy Jellyfish',
      release_title: '22.04 LTS',
      sha256: '480c285d96db9e501e63d44b64714288448b368007e0b3eb97bf77a2a64cfd78',
      size: '455872512',
      subarch: 'ga-22.04',
      subarches:
        'generic,hwe-p,hwe-q,hwe-r,hwe-s,hwe-t,hwe-u,hwe-v,hwe-w,ga-16.04,ga-16.10,ga-17.04,ga-17.10,ga-18.04,ga-18.10,ga-19.04,ga-19.10,ga-20.04,ga-20.10,ga-21.04,ga-21.10,ga-22.04',
      support_eol: '2027-04-21',
      support_esm_eol: '2032-04-21',
      updated: 'Thu, 24 Jul 2025 09:01:43 +0000',
      version: '22.04',
      version_name: '20250615',
    });
  });

  it('keeps the product field `version` apart from the version name', () => {
    const kernel = find(items, ':24.04:arm64:ga-24.04', '20250709', 'boot-kernel');
    expect(kernel.flat['version']).toBe('24.04');
    expect(kernel.flat['version_name']).toBe('20250709');
    expect(kernel.versionName).toBe('20250709');
  });

  it('types path, size and checksums for downloads', () => {
    const squashfs = find(items, ':22.04:amd64:ga-22.04', '20250615', 'squashfs');
    expect(squashfs.contentId).toBe('com.ubuntu.maas:stable:v3:download');
    expect(squashfs.path).toBe('jammy/amd64/20250615/squashfs');
    expect(squashfs.size).toBe(455872512);
    expect(squashfs.checksums).toEqual({ sha256: '480c285d96db9e501e63d44b64714288448b368007e0b3eb97bf77a2a64cfd78' });
  });

  it('keeps a comma string with spaces as it is', () => {
    const syslinux = find(flattenProducts(bootloaders), 'pxelinux:pxe:amd64', '20230615.0', 'syslinux');
    expect(syslinux.flat['arches']).toBe('amd64, i386');
    expect(syslinux.flat['bootloader-type']).toBe('pxe');
  });

  it('lists products and items in file order and versions newest first', () => {
    expect(items).toHaveLength(32);
    expect(items.slice(0, 5).map((item) => `${item.versionName}/${item.itemName}`)).toEqual([
      '20250718/boot-initrd',
      '20250718/boot-kernel',
      '20250718/manifest',
      '20250718/squashfs',
      '20250615/boot-initrd',
    ]);
    expect(flattenTree(ubuntu).map((flatProduct) => flatProduct.product.name.split(':').slice(-3).join(':'))).toEqual([
      '22.04:amd64:ga-22.04',
      '22.04:arm64:ga-22.04',
      '24.04:amd64:ga-24.04',
      '24.04:arm64:ga-24.04',
    ]);
  });
});

describe('flattenProducts inheritance rules', () => {
  it('lets deeper levels override shallower ones', () => {
    const [item] = flattenText({ p: { label: 'product', versions: { v: { label: 'version', items: { i: { label: 'item' } } } } } }, { label: 'top' });
    expect(item?.flat['label']).toBe('item');
  });

  it('drops nulls, lists and objects, so they never hide an inherited value', () => {
    const [item] = flattenText({
      p: { arch: 'amd64', kflavor: 'generic', versions: { v: { arch: null, items: { i: { arch: ['x'], kflavor: { a: 'b' }, n: null } } } } },
    });
    expect(item?.flat['arch']).toBe('amd64');
    expect(item?.flat['kflavor']).toBe('generic');
    expect(item?.flat).not.toHaveProperty('n');
    expect(item?.flat).not.toHaveProperty('versions');
    expect(item?.flat).not.toHaveProperty('products');
  });

  it('prints numbers and booleans as Python str() does', () => {
    const text =
      '{"content_id": "c", "format": "products:1.0", "products": {"p": {"versions": {"v": {"items": {"i": ' +
      '{"one": 1.0, "big": 1e16, "small": 1e-05, "huge": 9223372036854775808, "yes": true, "no": false, "size": 1.5}}}}}}}';
    const [item] = flattenProducts(parseProducts(text, 'numbers.json'));
    expect(item?.flat).toMatchObject({ one: '1.0', big: '1e+16', small: '1e-05', huge: '9223372036854775808', yes: 'True', no: 'False', size: '1.5' });
    expect(item?.size).toBeUndefined();
  });

  // simplestreams verifies against int(size): 12288.0 is 12288 bytes; int(1.5) would truncate, so we refuse it.
  it.each([
    ['12288', 12288],
    ['"12288"', 12288],
    ['12288.0', 12288],
    ['1.5', undefined],
    ['-1', undefined],
    ['"12a"', undefined],
    ['1e3', 1000],
  ])('reads size %s as %s bytes', (listed, bytes) => {
    const text = `{"content_id": "c", "format": "products:1.0", "products": {"p": {"versions": {"v": {"items": {"i": {"path": "f", "size": ${listed}}}}}}}}`;
    const [item] = flattenProducts(parseProducts(text, 'sizes.json'));
    expect(item?.size).toBe(bytes);
  });

  it('sets product_name and version_name after their own level, so deeper fields override them, but never item_name', () => {
    const [first, second] = flattenText(
      {
        p: {
          product_name: 'product-level',
          versions: {
            v: { product_name: 'version-level', version_name: 'version-level', items: { i: { item_name: 'item-level' }, j: { version_name: 'item-level' } } },
          },
        },
      },
      { product_name: 'top-level' },
    );
    expect(first?.flat['product_name']).toBe('version-level');
    expect(first?.flat['version_name']).toBe('v');
    expect(first?.flat['item_name']).toBe('i');
    expect(second?.flat['version_name']).toBe('item-level');
    expect(second?.productName).toBe('p');
    expect(second?.versionName).toBe('v');
  });

  it('uses a null-prototype map, so "__proto__" is just another field', () => {
    const text =
      '{"content_id": "c", "format": "products:1.0", "products": {"p": {"versions": {"v": {"items": {"i": {"__proto__": "x", "constructor": "y"}}}}}}}';
    const [item] = flattenProducts(parseProducts(text, 'proto.json'));
    const flat = item?.flat ?? {};
    expect(Object.getPrototypeOf(flat)).toBeNull();
    expect(flat['__proto__']).toBe('x');
    expect(flat['constructor']).toBe('y');
    expect(Object.hasOwn(flat, 'toString')).toBe(false);
    expect('toString' in flat).toBe(false);
  });

  it('leaves path off items that have none of their own', () => {
    const [item] = flattenText({ p: { path: 'inherited/at/product', versions: { v: { items: { i: { id: 'ami-1' } } } } } });
    expect(item?.path).toBeUndefined();
    expect(item?.flat['path']).toBe('inherited/at/product');
    expect(item?.checksums).toEqual({});
  });
});

describe('itemField and flattenTree', () => {
  it('reads every field of every item exactly as the built flat map holds it, without building it', () => {
    const extraKeys = ['no_such_key', 'item_name', 'version_name', 'product_name', 'size', 'version', 'arches', 'kflavor', 'toString'];
    let compared = 0;
    for (const doc of [ubuntu, bootloaders]) {
      const built = flattenProducts(doc);
      const views = flattenTree(doc).flatMap((flatProduct) =>
        flatProduct.versions.flatMap((flatVersion) => flatVersion.version.items.map((item) => ({ flatVersion, item }))),
      );
      expect(views).toHaveLength(built.length);
      views.forEach(({ flatVersion, item }, index) => {
        const flat = built[index]?.flat ?? {};
        for (const key of [...extraKeys, ...Object.keys(flat)]) {
          expect(itemField(flatVersion, item, key)).toBe(flat[key]);
          compared += 1;
        }
      });
    }
    expect(compared).toBeGreaterThan(1000);
  });

  it('falls back to the inherited value when the item holds a null or a list', () => {
    const doc = parseProducts(
      JSON.stringify({ content_id: 'c', format: 'products:1.0', products: { p: { arch: 'amd64', versions: { v: { items: { i: { arch: null, os: ['x'] } } } } } } }),
      'x.json',
    );
    const [flatProduct] = flattenTree(doc);
    const flatVersion = flatProduct?.versions[0];
    const item = flatVersion?.version.items[0];
    if (flatVersion === undefined || item === undefined) throw new Error('missing item');
    expect(itemField(flatVersion, item, 'arch')).toBe('amd64');
    expect(itemField(flatVersion, item, 'os')).toBeUndefined();
    expect(toStreamItem(flatVersion, item).flat['arch']).toBe('amd64');
  });
});
