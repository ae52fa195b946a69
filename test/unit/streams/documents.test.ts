import { describe, expect, it } from 'vitest';
import { MAX_ALIAS_PROPERTIES, entriesToFollow, parseIndex, parseProducts, parseStreamDocument } from '../../../src-main/streams/documents.js';
import { flattenProducts } from '../../../src-main/streams/flatten.js';
import { readEdgeStreamFile, readSample } from './reference-data.js';
import { thrownFerryError } from '../../support/expect-ferry-error.js';

function productsText(products: unknown, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ content_id: 'com.example:test', format: 'products:1.0', ...extra, products });
}

describe('parseIndex', () => {
  it('lists the sample index entries in file order with their fields', () => {
    const index = parseIndex(readSample('index'), 'streams/v1/index.json');
    expect(index.kind).toBe('index');
    expect(index.updated).toBe('Thu, 24 Jul 2025 08:01:49 +0000');
    expect(index.entries.map((entry) => entry.contentId)).toEqual([
      'com.ubuntu.maas:stable:1:bootloader-download',
      'com.ubuntu.maas:stable:centos-bases-download',
      'com.ubuntu.maas:stable:v3:download',
    ]);
    const ubuntu = index.entries[2];
    expect(ubuntu?.path).toBe('streams/v1/com.ubuntu.maas:stable:v3:download.json');
    expect(ubuntu?.format).toBe('products:1.0');
    expect(ubuntu?.datatype).toBe('image-ids');
    expect(ubuntu?.products).toHaveLength(4);
    expect(index.tree['format']).toBe('index:1.0');
  });

  it('follows only entries with a path and an index or products format, as the reference does', () => {
    const index = parseIndex(readEdgeStreamFile('streams/v1/index.json'), 'streams/v1/index.json');
    expect(index.entries.map((entry) => entry.contentId)).toHaveLength(3);
    expect(entriesToFollow(index).map((entry) => entry.contentId)).toEqual(['com.example.ferry:edge', 'com.example.ferry:numbers']);
  });

  it('refuses an index entry whose path leaves the mirror, naming the entry', () => {
    const text = JSON.stringify({ format: 'index:1.0', index: { 'com.example:evil': { path: '../../etc/passwd', format: 'products:1.0' } } });
    const error = thrownFerryError(() => parseIndex(text, 'streams/v1/index.json'));
    expect(error.code).toBe('FERRY_UNSAFE_PATH');
    expect(error.message).toContain('the index entry "com.example:evil" of streams/v1/index.json');
  });

  it('refuses an index entry that would write a products file into .ferry/', () => {
    const text = JSON.stringify({ format: 'index:1.0', index: { 'com.example:evil': { path: '.ferry/catalog.db', format: 'products:1.0' } } });
    const error = thrownFerryError(() => parseIndex(text, 'streams/v1/index.json'));
    expect(error.code).toBe('FERRY_UNSAFE_PATH');
    expect(error.message).toContain('it is inside .ferry/');
  });

  it('refuses a products document given where an index is expected, naming the file and the format', () => {
    const error = thrownFerryError(() => parseIndex(readSample('com.ubuntu.maas:stable:v3:download'), 'streams/v1/index.json'));
    expect(error.code).toBe('FERRY_FORMAT_UNSUPPORTED');
    expect(error.message).toBe('streams/v1/index.json has the format "products:1.0"; expected "index:1.0".');
  });
});

describe('parseProducts', () => {
  it('reads the sample products with content id, top-level fields and the tree', () => {
    const doc = parseProducts(readSample('com.ubuntu.maas:stable:v3:download'), 'streams/v1/ubuntu.json');
    expect(doc.contentId).toBe('com.ubuntu.maas:stable:v3:download');
    expect(doc.datatype).toBe('image-ids');
    expect(doc.updated).toBe('Thu, 24 Jul 2025 09:01:43 +0000');
    expect(doc.products.map((product) => product.name)).toEqual([
      'com.ubuntu.maas.stable:v3:boot:22.04:amd64:ga-22.04',
      'com.ubuntu.maas.stable:v3:boot:22.04:arm64:ga-22.04',
      'com.ubuntu.maas.stable:v3:boot:24.04:amd64:ga-24.04',
      'com.ubuntu.maas.stable:v3:boot:24.04:arm64:ga-24.04',
    ]);
    const first = doc.products[0];
    expect(first?.versions.map((version) => version.name)).toEqual(['20250718', '20250615']);
    expect(first?.versions[0]?.items.map((item) => item.name)).toEqual(['boot-initrd', 'boot-kernel', 'manifest', 'squashfs']);
    expect(first?.versions[0]?.items[3]?.path).toBe('jammy/amd64/20250718/squashfs');
    expect(doc.tree['content_id']).toBe(doc.contentId);
  });

  it('keeps products and items in file order even when their names are integer-like', () => {
    const doc = parseProducts(readEdgeStreamFile('streams/v1/com.example.ferry:edge.json'), 'edge.json');
    expect(doc.products.map((product) => product.name)).toEqual([
      'example:widget:amd64',
      '42',
      'example:inherit:amd64',
      'example:order-of-operations:amd64',
    ]);
    expect(doc.products[1]?.versions.map((version) => version.name)).toEqual(['2', '1']);
    expect(doc.products[1]?.versions[1]?.items.map((item) => item.name)).toEqual(['b', '9', '10']);
  });

  it('sorts versions newest first by plain string order, not by date', () => {
    const doc = parseProducts(readEdgeStreamFile('streams/v1/com.example.ferry:edge.json'), 'edge.json');
    expect(doc.products[0]?.versions.map((version) => version.name)).toEqual(['samepaths', '20121026.1', '20121001']);
  });

  it.each([
    ['[]', 'x.json is not a JSON object.'],
    ['{"products": {}}', 'x.json has no "format" field; expected "products:1.0".'],
    ['{"format": "products:2.0", "products": {}}', 'x.json has the format "products:2.0"; expected "products:1.0".'],
    ['{"format": "products:1.0", "products": {}}', 'x.json has no "content_id" string.'],
    ['{"format": "products:1.0", "content_id": "c"}', 'x.json has no "products" object.'],
    ['{"format": "products:1.0", "content_id": "c", "products": {"p": []}}', 'x.json has a product "p" that is not an object.'],
    ['{"format": "products:1.0", "content_id": "c", "products": {"p": {"versions": 1}}}', 'x.json has a "versions" in product "p" that is not an object.'],
    [
      '{"format": "products:1.0", "content_id": "c", "products": {"p": {"versions": {"v": {"items": {"i": {"path": 5}}}}}}}',
      'x.json has a non-string "path" in content c, product "p", version "v", item "i" of x.json.',
    ],
  ])('refuses %s with FERRY_FORMAT_UNSUPPORTED', (text, message) => {
    const error = thrownFerryError(() => parseProducts(text, 'x.json'));
    expect(error.code).toBe('FERRY_FORMAT_UNSUPPORTED');
    expect(error.message).toBe(message);
    expect(error.hint).toContain('SimpleStreams metadata');
  });

  it.each([
    ['/etc/shadow', 'it is absolute'],
    ['../../x', "it has a '..' segment"],
    ['a\\b', 'backslash'],
    ['a\u0001b', 'control character U+0001'],
    ['', 'it is empty'],
    ['a//b', 'empty segment'],
    ['a/%2E%2E/b', "'..' segment (percent-encoded)"],
    ['a%252fb', "percent-encoded '/'"],
    ['.ferry/catalog.db', 'it is inside .ferry/, where Stream Ferry keeps its own state'],
    ['.FERRY/lock', 'it is inside .ferry/'],
  ])('refuses the item path %j naming the content id, product, version and item', (path, reason) => {
    const text = productsText({ 'com.example:p': { versions: { '20250101': { items: { 'boot-kernel': { path } } } } } });
    const error = thrownFerryError(() => parseProducts(text, 'streams/v1/p.json'));
    expect(error.code).toBe('FERRY_UNSAFE_PATH');
    expect(error.message).toContain(
      'in content com.example:test, product "com.example:p", version "20250101", item "boot-kernel" of streams/v1/p.json',
    );
    expect(error.message).toContain(reason);
  });

  it('accepts colons in paths: MAAS content ids contain them', () => {
    const text = productsText({ p: { versions: { v: { items: { i: { path: 'files/com.ubuntu.maas:stable:v3:download.json' } } } } } });
    expect(parseProducts(text, 'p.json').products[0]?.versions[0]?.items[0]?.path).toBe('files/com.ubuntu.maas:stable:v3:download.json');
  });

  it('refuses an item in streams/v1/, where the metadata lives, naming it (index entries belong there)', () => {
    const text = productsText({ p: { versions: { v: { items: { i: { path: 'Streams/v1/index.sjson' } } } } } });
    expect(() => parseProducts(text, 'p.json')).toThrow(
      'Refused the path "Streams/v1/index.sjson" in content com.example:test, product "p", version "v", item "i" of p.json: it is inside streams/v1/',
    );
  });
});

describe('_aliases expansion (util.expand_tree)', () => {
  it('merges the alias object into every object holding the aliased key, at any depth', () => {
    const text = productsText(
      { p: { zone: 'north', versions: { v: { items: { i: { zone: 'south', name: 'x' }, j: { name: 'y' } } } } } },
      { zone: 'south', _aliases: { zone: { north: { endpoint: 'https://n', zone: 'north' }, south: { endpoint: 'https://s' } } } },
    );
    const doc = parseProducts(text, 'aliases.json');
    expect(doc.tree['endpoint']).toBe('https://s');
    expect(doc.products[0]?.fields['endpoint']).toBe('https://n');
    expect(doc.products[0]?.versions[0]?.items[0]?.fields['endpoint']).toBe('https://s');
    const flat = flattenProducts(doc).map((item) => item.flat['endpoint']);
    expect(flat).toEqual(['https://s', 'https://n']);
  });

  // util.expand_tree walks the _aliases table as well, so an alias object whose own value for the
  // key is not itself an alias name fails there (KeyError in the reference).
  it('expands inside the _aliases table too, like the reference', () => {
    const text = productsText({ p: { versions: {} } }, { _aliases: { zone: { north: { endpoint: 'https://n', zone: 'n1' } } } });
    expect(thrownFerryError(() => parseProducts(text, 'aliases.json')).message).toBe(
      'aliases.json uses the alias "n1" for "zone", but _aliases has no such object for "zone".',
    );
  });

  it('ignores empty strings, non-strings and keys without an alias table', () => {
    const text = productsText(
      { p: { zone: '', region: 'r', count: 3, versions: {} } },
      { _aliases: { zone: { '': { endpoint: 'never' } }, count: { '3': { endpoint: 'never' } } } },
    );
    expect(parseProducts(text, 'aliases.json').products[0]?.fields['endpoint']).toBeUndefined();
  });

  it('can inject an item path, which is then checked like any other', () => {
    const text = productsText({ p: { versions: { v: { items: { i: { place: 'bad' } } } } } }, { _aliases: { place: { bad: { path: '../escape' } } } });
    expect(thrownFerryError(() => parseProducts(text, 'aliases.json')).code).toBe('FERRY_UNSAFE_PATH');
  });

  it('refuses a missing alias, where the reference crashes with a KeyError', () => {
    const text = productsText({ p: { zone: 'west', versions: {} } }, { _aliases: { zone: { north: { endpoint: 'n' } } } });
    const error = thrownFerryError(() => parseProducts(text, 'aliases.json'));
    expect(error.code).toBe('FERRY_FORMAT_UNSUPPORTED');
    expect(error.message).toBe('aliases.json uses the alias "west" for "zone", but _aliases has no such object for "zone".');
  });

  it('refuses aliases that expand into themselves instead of recursing forever', () => {
    const text = productsText({ p: { versions: {} } }, { _aliases: { k: { v: { sub: { k: 'v' } } } } });
    expect(thrownFerryError(() => parseProducts(text, 'loop.json')).message).toContain('_aliases that include themselves');
  });

  // Each level's alias object holds two objects that use the next level's alias: the reference
  // walks 2^30 paths (a 15 KB file kept it at 100% CPU for over ten minutes).
  it('expands each object once, so aliases that double at every level stay linear', () => {
    const levels = 30;
    const aliases: Record<string, unknown> = {};
    for (let level = 0; level < levels; level += 1) {
      const next = level + 1 < levels ? { [`k${level + 1}`]: 'v' } : { leaf: 'yes' };
      aliases[`k${level}`] = { v: { left: { ...next }, right: { ...next }, [`seen${level}`]: 'yes' } };
    }
    const text = productsText({ p: { k0: 'v', versions: {} } }, { _aliases: aliases });
    const started = performance.now();
    const product = parseProducts(text, 'bomb.json').products[0]?.fields;
    const elapsedMs = performance.now() - started;
    // Exponential expansion of 30 doubling levels would run for hours; linear work takes ~0.1 s.
    // The bound is wide so a loaded 2-core CI machine cannot make it flaky.
    expect(elapsedMs).toBeLessThan(10_000);
    expect(product?.['seen0']).toBe('yes');
    let node = product?.['left'] as Record<string, unknown> | undefined;
    for (let level = 1; level < levels; level += 1) {
      expect(node?.[`seen${level}`]).toBe('yes');
      node = node?.['right'] as Record<string, unknown> | undefined;
    }
    expect(node?.['leaf']).toBe('yes');
  });

  it(`refuses a file whose aliases would set more than ${MAX_ALIAS_PROPERTIES} properties, naming the limit`, () => {
    const wide = Object.fromEntries(Array.from({ length: 500 }, (_, index) => [`f${index}`, 'x']));
    const products = Object.fromEntries(Array.from({ length: MAX_ALIAS_PROPERTIES / 500 + 1 }, (_, index) => [`p${index}`, { wide: 'v', versions: {} }]));
    const text = productsText(products, { _aliases: { wide: { v: wide } } });
    const started = performance.now();
    const error = thrownFerryError(() => parseProducts(text, 'wide.json'));
    // Refused when the limit is reached, not after expanding everything (wide bound: loaded CI).
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(error.code).toBe('FERRY_ALIASES_TOO_LARGE');
    expect(error.message).toBe(`wide.json: expanding its _aliases would set more than ${MAX_ALIAS_PROPERTIES} properties.`);
  });

  it('still lets an alias bring in a key that the _aliases table expands, as the reference does', () => {
    const text = productsText(
      { p: { label: 'daily', versions: {} } },
      { _aliases: { label: { daily: { stream: 'd' } }, stream: { d: { endpoint: 'https://d' } } } },
    );
    const fields = parseProducts(text, 'chain.json').products[0]?.fields;
    expect(fields?.['stream']).toBe('d');
    expect(fields?.['endpoint']).toBe('https://d');
  });

  it('expands aliases in index documents too', () => {
    const text = JSON.stringify({
      format: 'index:1.0',
      _aliases: { kind: { downloads: { format: 'products:1.0', datatype: 'image-downloads' } } },
      index: { c: { path: 'streams/v1/c.json', kind: 'downloads' } },
    });
    const index = parseIndex(text, 'index.json');
    expect(index.entries[0]?.format).toBe('products:1.0');
    expect(entriesToFollow(index)).toHaveLength(1);
  });
});

describe('parseStreamDocument', () => {
  it("decides by the file's own format", () => {
    expect(parseStreamDocument(readSample('index'), 'index.json').kind).toBe('index');
    expect(parseStreamDocument(readSample('com.ubuntu.maas:stable:centos-bases-download'), 'centos.json').kind).toBe('products');
  });

  it('names both accepted formats when neither is found', () => {
    expect(thrownFerryError(() => parseStreamDocument('{"format": "mirrors:1.0"}', 'mirrors.json')).message).toBe(
      'mirrors.json has the format "mirrors:1.0"; expected "index:1.0" or "products:1.0".',
    );
  });
});
