// Selection as the reference's sync_products applies it to one products document: items are
// filtered first, a version whose items were all filtered out is dropped, a product left without
// versions is dropped, and only then are the newest `max` versions of each product kept. (Before
// 2019 the reference applied --max first and could pick a version with nothing left.)
//
// A version that had no items at all is never dropped by filtering (the reference only deletes a
// version when it deletes that version's last item), so it can take a --max slot and leave its
// product with nothing. Both functions keep that behaviour.

import type { ItemEntry, ProductsDocument } from './documents.js';
import { selectionMatchesFields, type Selection } from './filters.js';
import { flattenTree, itemField, toStreamItem, type FlatProduct, type FlatVersion, type StreamItem } from './flatten.js';
import { newestVersions } from './versions.js';

export interface SelectOptions {
  /** Keep at most this many versions per product (--max); all when undefined. */
  readonly max?: number | undefined;
}

export interface SelectedVersion {
  readonly name: string;
  /** The matching items, in file order; empty for a version that never had items. */
  readonly items: readonly StreamItem[];
}

export interface SelectedProduct {
  readonly name: string;
  /** Newest first: the source versions the reference hands to resolve_work. */
  readonly versions: readonly SelectedVersion[];
}

/**
 * What sstream-query prints: the selected items with at most `max` versions per product, in the
 * reference's output order (products and items in file order, versions newest first). Throws
 * FERRY_SETTING_INVALID (setting `max`) for a max that is not a whole number >= 0.
 */
export function selectItems(doc: ProductsDocument, selection: Selection, options: SelectOptions = {}): StreamItem[] {
  const selected: StreamItem[] = [];
  for (const flatProduct of flattenTree(doc)) {
    const surviving = survivingVersions(flatProduct, selection);
    const kept = new Set(newestVersions([...surviving.keys()], options.max));
    for (const [versionName, { flatVersion, items }] of surviving) {
      if (kept.has(versionName)) selected.push(...items.map((item) => toStreamItem(flatVersion, item)));
    }
  }
  return selected;
}

/**
 * Every product that survives filtering with all its surviving versions, before any max: the
 * source side of the reference's resolve_work when mirroring. Throws nothing.
 */
export function selectVersions(doc: ProductsDocument, selection: Selection): SelectedProduct[] {
  return flattenTree(doc).flatMap((flatProduct) => {
    const versions = [...survivingVersions(flatProduct, selection).values()].map(({ flatVersion, items }) => ({
      name: flatVersion.version.name,
      items: items.map((item) => toStreamItem(flatVersion, item)),
    }));
    return versions.length === 0 ? [] : [{ name: flatProduct.product.name, versions }];
  });
}

// Newest first, because flattenTree lists versions that way. Items are matched field by field so
// that only selected items ever get their flat map built.
function survivingVersions(flatProduct: FlatProduct, selection: Selection): Map<string, { flatVersion: FlatVersion; items: ItemEntry[] }> {
  const surviving = new Map<string, { flatVersion: FlatVersion; items: ItemEntry[] }>();
  for (const flatVersion of flatProduct.versions) {
    const { items } = flatVersion.version;
    const matching = items.filter((item) => selectionMatchesFields((key) => itemField(flatVersion, item, key), selection));
    if (matching.length > 0 || items.length === 0) surviving.set(flatVersion.version.name, { flatVersion, items: matching });
  }
  return surviving;
}
