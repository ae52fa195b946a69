// What sstream-query prints for one products document: the reference filters items first, drops
// versions whose items were all filtered out, and only then keeps the newest `max` versions of
// each product. (Before 2019 it applied --max first and could pick a version with nothing left.)

import type { ItemEntry, ProductsDocument } from './documents.js';
import { selectionMatchesFields, type Selection } from './filters.js';
import { flattenTree, itemField, toStreamItem, type FlatVersion, type StreamItem } from './flatten.js';
import { newestVersions } from './versions.js';

export interface SelectOptions {
  /** Keep at most this many versions per product (--max); all when undefined. */
  readonly max?: number | undefined;
}

/**
 * The selected items in the reference's output order: products and items in file order, versions
 * newest first. A version that had no items at all is not dropped by filtering, so it can still be
 * the newest one --max keeps, and then that product prints nothing, exactly as in the reference.
 */
export function selectItems(doc: ProductsDocument, selection: Selection, options: SelectOptions = {}): StreamItem[] {
  const selected: StreamItem[] = [];
  for (const flatProduct of flattenTree(doc)) {
    const surviving = new Map<string, { flatVersion: FlatVersion; items: ItemEntry[] }>();
    for (const flatVersion of flatProduct.versions) {
      const { items } = flatVersion.version;
      const matching = items.filter((item) => selectionMatchesFields((key) => itemField(flatVersion, item, key), selection));
      if (matching.length > 0 || items.length === 0) surviving.set(flatVersion.version.name, { flatVersion, items: matching });
    }
    for (const versionName of newestVersions([...surviving.keys()], options.max)) {
      const chosen = surviving.get(versionName);
      if (chosen !== undefined) selected.push(...chosen.items.map((item) => toStreamItem(chosen.flatVersion, item)));
    }
  }
  return selected;
}
