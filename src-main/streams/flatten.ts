// The reference's util.products_exdata: every item seen as one flat string map holding the
// document's, its product's, its version's and its own scalar fields. Filters, queries and
// download checks all work on this view.
//
// Building that map for every item of a large catalog costs more than parsing it, so the
// inherited part is built once per version, and an item's fields can be read (itemField) without
// building its map; selection builds maps only for the items it returns.

import type { ChecksumAlgorithm } from '../base/hashing.js';
import type { ItemEntry, ProductEntry, ProductsDocument, VersionEntry } from './documents.js';
import { pythonStr, type JsonObject } from './json.js';

/** Field name to Python str() value. Null-prototype, so a key such as "__proto__" is just a key. */
export type FlatItem = Record<string, string>;

/** The checksums an item lists, by algorithm (hex as written in the metadata). */
export type ItemChecksums = Partial<Record<ChecksumAlgorithm, string>>;

export interface StreamItem {
  readonly contentId: string;
  readonly productName: string;
  readonly versionName: string;
  readonly itemName: string;
  readonly flat: FlatItem;
  /** The item's own path: the reference downloads only items that have one. */
  readonly path?: string;
  /** From the flat view, like the checksums, because that is what the reference verifies a download against. */
  readonly size?: number;
  readonly checksums: ItemChecksums;
}

export interface FlatVersion {
  readonly contentId: string;
  readonly product: ProductEntry;
  readonly version: VersionEntry;
  /** What every item of the version inherits: document, product and version fields and names. */
  readonly inherited: FlatItem;
}

export interface FlatProduct {
  readonly product: ProductEntry;
  /** Newest first, empty versions included (they still count for --max). */
  readonly versions: readonly FlatVersion[];
}

const CHECKSUM_NAMES: readonly ChecksumAlgorithm[] = ['md5', 'sha256', 'sha512'];

/**
 * Every item in the reference's processing order (products_exdata): products and items in file
 * order, versions newest first. Throws nothing: the document was checked when it was parsed.
 */
export function flattenProducts(doc: ProductsDocument): StreamItem[] {
  return flattenTree(doc).flatMap((flatProduct) =>
    flatProduct.versions.flatMap((flatVersion) => flatVersion.version.items.map((item) => toStreamItem(flatVersion, item))),
  );
}

export function flattenTree(doc: ProductsDocument): FlatProduct[] {
  const documentFields = copyScalarFields(doc.tree, emptyFlatItem());
  return doc.products.map((product) => {
    // The names are set after each level's own fields, so a version field called product_name
    // overrides the product's name, but item_name always wins.
    const productFields = copyScalarFields(product.fields, Object.assign(emptyFlatItem(), documentFields));
    productFields['product_name'] = product.name;
    return {
      product,
      versions: product.versions.map((version) => {
        const inherited = copyScalarFields(version.fields, Object.assign(emptyFlatItem(), productFields));
        inherited['version_name'] = version.name;
        return { contentId: doc.contentId, product, version, inherited };
      }),
    };
  });
}

/** One field of the item's flat view, read without building the view. */
export function itemField(flatVersion: FlatVersion, item: ItemEntry, key: string): string | undefined {
  if (key === 'item_name') return item.name;
  const own = Object.hasOwn(item.fields, key) ? pythonStr(item.fields[key]) : undefined;
  return own ?? flatVersion.inherited[key];
}

export function toStreamItem(flatVersion: FlatVersion, item: ItemEntry): StreamItem {
  const flat = emptyFlatItem();
  const { inherited } = flatVersion;
  // for-in visits exactly the keys the null-prototype map holds, so every value is a string.
  for (const key in inherited) flat[key] = inherited[key] as string;
  copyScalarFields(item.fields, flat);
  flat['item_name'] = item.name;
  const checksums: ItemChecksums = {};
  for (const name of CHECKSUM_NAMES) {
    const value = flat[name];
    if (value !== undefined) checksums[name] = value;
  }
  const streamItem: { -readonly [Key in keyof StreamItem]: StreamItem[Key] } = {
    contentId: flatVersion.contentId,
    productName: flatVersion.product.name,
    versionName: flatVersion.version.name,
    itemName: item.name,
    flat,
    checksums,
  };
  if (item.path !== undefined) streamItem.path = item.path;
  const size = parseSize(flat['size']);
  if (size !== undefined) streamItem.size = size;
  return streamItem;
}

// Strings as they are, numbers and booleans as Python's str() prints them; null, lists and
// objects are skipped, so a null never hides an inherited value.
function copyScalarFields(fields: JsonObject, into: FlatItem): FlatItem {
  for (const key of Object.keys(fields)) {
    const text = pythonStr(fields[key]);
    if (text !== undefined) into[key] = text;
  }
  return into;
}

function emptyFlatItem(): FlatItem {
  return Object.create(null) as FlatItem;
}

/**
 * A byte count as the reference reads it (`int(size)` in simplestreams' ChecksummingContentSource):
 * an integer, or a float with no fraction, which Python's str() prints as `12288.0`. Refused
 * (undefined): fractions (`int(1.5)` would truncate to 1), negatives, anything else.
 */
function parseSize(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+(?:\.0)?$/.test(text)) return undefined;
  const size = Number(text);
  return Number.isSafeInteger(size) ? size : undefined;
}
