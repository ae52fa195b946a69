import {
  compareVersionNames,
  explainNoMatch,
  flattenProducts,
  lacksBootloaders,
  selectItems,
  type Selection,
  type StreamItem,
} from '../streams/index.js';
import type { SelectionAdvice } from './api.js';
import type { LoadedStream } from './stream.js';

export interface QueryOptions {
  /** Keep the N newest versions of each product, after filtering (sstream's --max). */
  max?: number | undefined;
}

/**
 * A flattened item as sstream-query prints it: its fields in the reference's order (products,
 * version, item), then `item_url`. A plain record, so it crosses IPC; its key order is the
 * insertion order because no simplestreams field name is an integer.
 */
export type QueryItem = Record<string, string>;

export function selectedItems(stream: LoadedStream, selection: Selection, options: QueryOptions = {}): StreamItem[] {
  return stream.products.flatMap((products) => selectItems(products.document, selection, { max: options.max }));
}

export function queryItems(stream: LoadedStream, selection: Selection, options: QueryOptions = {}): QueryItem[] {
  return selectedItems(stream, selection, options).map((item) => {
    const fields: QueryItem = { ...item.flat };
    // The reference prints the reader's prefix followed by the path, unencoded.
    if (item.path !== undefined) fields.item_url = stream.source.baseUrl + item.path;
    return fields;
  });
}

export interface ProductSummary {
  contentId: string;
  productName: string;
  os: string;
  release: string;
  arch: string;
  /** subarch and kernel flavour for images, the firmware type for bootloaders. */
  kernel: string;
  /** Oldest first, in the reference's plain string order. */
  versions: string[];
  latestVersion: string;
  /** Bytes of the distinct files of the latest version. */
  latestVersionBytes: number;
}

/** One row per product that has a selected item: what an operator reads before choosing. */
export function summarizeProducts(stream: LoadedStream, selection: Selection, options: QueryOptions = {}): ProductSummary[] {
  const byProduct = new Map<string, { first: StreamItem; versions: Map<string, Map<string, number>> }>();
  for (const item of selectedItems(stream, selection, options)) {
    const key = `${item.contentId}\u0000${item.productName}`;
    let entry = byProduct.get(key);
    if (entry === undefined) {
      entry = { first: item, versions: new Map() };
      byProduct.set(key, entry);
    }
    let files = entry.versions.get(item.versionName);
    if (files === undefined) {
      files = new Map();
      entry.versions.set(item.versionName, files);
    }
    files.set(item.path ?? `${item.itemName}\u0000`, item.size ?? 0);
  }
  return [...byProduct.values()].map(({ first, versions }) => {
    const names = [...versions.keys()].sort(compareVersionNames);
    const latestVersion = names.at(-1) ?? '';
    const latestFiles = versions.get(latestVersion) ?? new Map<string, number>();
    const flat = first.flat;
    const kernelParts = [flat.subarch, flat.kflavor === 'generic' ? undefined : flat.kflavor, flat['bootloader-type']];
    return {
      contentId: first.contentId,
      productName: first.productName,
      os: flat.os ?? '',
      release: flat.release ?? '',
      arch: flat.arch ?? '',
      kernel: kernelParts.filter((part) => part !== undefined && part !== '').join(' '),
      versions: names,
      latestVersion,
      latestVersionBytes: [...latestFiles.values()].reduce((sum, size) => sum + size, 0),
    };
  });
}

/**
 * Advice on `selection` over every item of the stream (before --max, which never empties a
 * product): why nothing matched when `matchedNothing`, and whether MAAS images were selected
 * without bootloaders. Throws nothing.
 */
export function adviseSelection(stream: LoadedStream, selection: Selection, matchedNothing: boolean): SelectionAdvice {
  const items = stream.products.flatMap((products) => flattenProducts(products.document).map((item) => item.flat));
  return {
    noMatch: matchedNothing ? explainNoMatch(items, selection) : undefined,
    lacksBootloaders: lacksBootloaders(items, selection),
  };
}
