// Index (index:1.0) and products (products:1.0) documents: checked, alias-expanded and listed in
// the order the reference processes them. The parsed tree stays available for code that must
// rewrite metadata later.

import { FerryError } from '../base/errors.js';
import {
  entriesInSourceOrder,
  isArrayIndexKey,
  isJsonObject,
  keysInSourceOrder,
  MAX_JSON_NESTING,
  ownJsonValue,
  parseJsonDocument,
  PyNumber,
  setJsonProperty,
  type JsonObject,
  type JsonValue,
} from './json.js';
import { assertSafeItemFilePath, assertSafeItemPath } from './paths.js';
import { sortNewestFirst } from './versions.js';

const INDEX_FORMAT = 'index:1.0';
const PRODUCTS_FORMAT = 'products:1.0';

export interface IndexEntry {
  readonly contentId: string;
  readonly path: string | undefined;
  readonly format: string | undefined;
  readonly datatype: string | undefined;
  /** Informational list of the product names in the file; undefined unless it is a list of strings. */
  readonly products: readonly string[] | undefined;
  readonly updated: string | undefined;
  readonly fields: JsonObject;
}

export interface IndexDocument {
  readonly kind: 'index';
  /** The file's name, for messages. */
  readonly where: string;
  readonly updated: string | undefined;
  /** In the order of the file, which is the order the reference follows them in. */
  readonly entries: readonly IndexEntry[];
  readonly tree: JsonObject;
}

export interface ItemEntry {
  readonly name: string;
  /** The item's own path; only items with one are downloadable. */
  readonly path: string | undefined;
  readonly fields: JsonObject;
}

export interface VersionEntry {
  readonly name: string;
  /** In the order of the file. */
  readonly items: readonly ItemEntry[];
  readonly fields: JsonObject;
}

export interface ProductEntry {
  readonly name: string;
  /** Newest first, the order in which the reference's resolve_work hands them out. */
  readonly versions: readonly VersionEntry[];
  readonly fields: JsonObject;
}

export interface ProductsDocument {
  readonly kind: 'products';
  readonly where: string;
  readonly contentId: string;
  readonly datatype: string | undefined;
  readonly updated: string | undefined;
  /** In the order of the file. */
  readonly products: readonly ProductEntry[];
  /** The whole document after _aliases expansion. */
  readonly tree: JsonObject;
}

export type StreamDocument = IndexDocument | ProductsDocument;

/**
 * An `index:1.0` file (simplestreams §1.1). `where` names the file in messages. Throws
 * FERRY_TOO_LARGE, FERRY_JSON_MALFORMED (parseJsonDocument), FERRY_FORMAT_UNSUPPORTED for another
 * format or a malformed entry, FERRY_UNSAFE_PATH for an entry path that could leave the mirror.
 */
export function parseIndex(text: string, where: string): IndexDocument {
  return buildIndex(text, parseTopLevel(text, where, INDEX_FORMAT), where);
}

/**
 * A `products:1.0` file with its `_aliases` expanded, as the reference's products loader does.
 * Throws FERRY_TOO_LARGE, FERRY_JSON_MALFORMED, FERRY_FORMAT_UNSUPPORTED, FERRY_UNSAFE_PATH (an
 * item path), FERRY_ALIASES_TOO_LARGE (over MAX_ALIAS_PROPERTIES).
 */
export function parseProducts(text: string, where: string): ProductsDocument {
  return buildProducts(text, parseTopLevel(text, where, PRODUCTS_FORMAT), where);
}

/**
 * Either kind, decided by the file's own `format`, as the reference does for an entry point or a
 * given path. Throws what parseIndex and parseProducts throw.
 */
export function parseStreamDocument(text: string, where: string): StreamDocument {
  const tree = parseTopLevel(text, where, undefined);
  return ownJsonValue(tree, 'format') === INDEX_FORMAT ? buildIndex(text, tree, where) : buildProducts(text, tree, where);
}

/** The entries the reference reads: those with a path and an index or products format. Throws nothing. */
export function entriesToFollow(index: IndexDocument): IndexEntry[] {
  return index.entries.filter(
    (entry) => entry.path !== undefined && (entry.format === INDEX_FORMAT || entry.format === PRODUCTS_FORMAT),
  );
}

function parseTopLevel(text: string, where: string, expectedFormat: string | undefined): JsonObject {
  const tree = parseJsonDocument(text, where);
  if (!isJsonObject(tree)) throw formatError(where, 'is not a JSON object');
  const format = ownJsonValue(tree, 'format');
  const accepted = expectedFormat === undefined ? [INDEX_FORMAT, PRODUCTS_FORMAT] : [expectedFormat];
  if (typeof format !== 'string' || !accepted.includes(format)) {
    const found = format === undefined ? 'has no "format" field' : `has the format ${JSON.stringify(format)}`;
    throw formatError(where, `${found}; expected ${accepted.map((name) => JSON.stringify(name)).join(' or ')}`);
  }
  return tree;
}

function buildIndex(text: string, parsedTree: JsonObject, where: string): IndexDocument {
  const tree = withFileKeyOrder(text, parsedTree, where, indexMap);
  expandAliases(tree, where);
  const index = ownJsonValue(tree, 'index');
  if (!isJsonObject(index)) throw formatError(where, 'has no "index" object');
  const entries = keysInSourceOrder(index).map((contentId): IndexEntry => {
    const fields = ownJsonValue(index, contentId);
    const location = `the index entry ${JSON.stringify(contentId)} of ${where}`;
    if (!isJsonObject(fields)) throw formatError(where, `has an index entry ${JSON.stringify(contentId)} that is not an object`);
    const products = ownJsonValue(fields, 'products');
    return {
      contentId,
      path: checkedPath(fields, location, where),
      format: optionalString(fields, 'format'),
      datatype: optionalString(fields, 'datatype'),
      products: Array.isArray(products) && products.every((name): name is string => typeof name === 'string') ? products : undefined,
      updated: optionalString(fields, 'updated'),
      fields,
    };
  });
  return { kind: 'index', where, updated: optionalString(tree, 'updated'), entries, tree };
}

// Python keeps products, items and index entries in file order, while JavaScript lists
// integer-like keys first. Only a document where that could matter is parsed a second time, with
// the file's key order recorded.
function withFileKeyOrder(text: string, parsedTree: JsonObject, where: string, mapsToCheck: (tree: JsonObject) => JsonObject[]): JsonObject {
  if (!mapsToCheck(parsedTree).some(mayBeReordered)) return parsedTree;
  const tree = parseJsonDocument(text, where, { preserveKeyOrder: true });
  if (!isJsonObject(tree)) throw formatError(where, 'is not a JSON object');
  return tree;
}

function mayBeReordered(map: JsonObject): boolean {
  const keys = Object.keys(map);
  return keys.length > 1 && isArrayIndexKey(keys[0] ?? '');
}

function buildProducts(text: string, parsedTree: JsonObject, where: string): ProductsDocument {
  const tree = withFileKeyOrder(text, parsedTree, where, productAndItemMaps);
  expandAliases(tree, where);
  const contentId = ownJsonValue(tree, 'content_id');
  if (typeof contentId !== 'string') throw formatError(where, 'has no "content_id" string');
  const productsMap = ownJsonValue(tree, 'products');
  if (!isJsonObject(productsMap)) throw formatError(where, 'has no "products" object');

  const products = keysInSourceOrder(productsMap).map((productName): ProductEntry => {
    const product = ownJsonValue(productsMap, productName);
    const productLocation = `product ${JSON.stringify(productName)}`;
    if (!isJsonObject(product)) throw formatError(where, `has a ${productLocation} that is not an object`);
    const versionsMap = optionalObject(product, 'versions', productLocation, where);
    const versions = sortNewestFirst(Object.keys(versionsMap)).map((versionName): VersionEntry => {
      const version = ownJsonValue(versionsMap, versionName);
      const versionLocation = `${productLocation}, version ${JSON.stringify(versionName)}`;
      if (!isJsonObject(version)) throw formatError(where, `has a ${versionLocation} that is not an object`);
      const itemsMap = optionalObject(version, 'items', versionLocation, where);
      const items = keysInSourceOrder(itemsMap).map((itemName): ItemEntry => {
        const item = ownJsonValue(itemsMap, itemName);
        const itemLocation = () => `${versionLocation}, item ${JSON.stringify(itemName)}`;
        if (!isJsonObject(item)) throw formatError(where, `has an ${itemLocation()} that is not an object`);
        return { name: itemName, path: checkedPath(item, () => `content ${contentId}, ${itemLocation()} of ${where}`, where, assertSafeItemFilePath), fields: item };
      });
      return { name: versionName, items, fields: version };
    });
    return { name: productName, versions, fields: product };
  });

  return {
    kind: 'products',
    where,
    contentId,
    datatype: optionalString(tree, 'datatype'),
    updated: optionalString(tree, 'updated'),
    products,
    tree,
  };
}

// Version maps are left out: versions are always listed sorted by name.
function productAndItemMaps(tree: JsonObject): JsonObject[] {
  const productsMap = ownJsonValue(tree, 'products');
  if (!isJsonObject(productsMap)) return [];
  const maps = [productsMap];
  for (const product of Object.values(productsMap)) {
    const versionsMap = isJsonObject(product) ? ownJsonValue(product, 'versions') : undefined;
    if (!isJsonObject(versionsMap)) continue;
    for (const version of Object.values(versionsMap)) {
      const itemsMap = isJsonObject(version) ? ownJsonValue(version, 'items') : undefined;
      if (isJsonObject(itemsMap)) maps.push(itemsMap);
    }
  }
  return maps;
}

function indexMap(tree: JsonObject): JsonObject[] {
  const index = ownJsonValue(tree, 'index');
  return isJsonObject(index) ? [index] : [];
}

/**
 * Properties that alias expansion may set in one document. Real streams set a few per item; a
 * file that needs more is built to exhaust the machine (FERRY_ALIASES_TOO_LARGE).
 */
export const MAX_ALIAS_PROPERTIES = 250_000;

interface AliasExpansion {
  readonly aliases: JsonObject;
  readonly where: string;
  /** Objects and lists on the path being expanded: reaching one again is a cycle. */
  readonly ancestors: Set<object>;
  /** Objects and lists already expanded, each only once. */
  readonly expanded: Set<object>;
  propertiesSet: number;
}

/**
 * The reference's util.expand_tree: wherever a key K holds a non-empty string V and
 * _aliases[K][V] exists, that alias object is merged into the object holding K. Applied to every
 * object in the tree, the _aliases table included. The reference crashes on a missing alias or a
 * cycle; here those are reported as format errors.
 *
 * Deviation, on purpose: the reference walks the tree as a tree, so an object that aliases share
 * (an alias object whose values are objects holding further aliases) is expanded again at every
 * path that reaches it, and a few kilobytes of aliases that double at each level take exponential
 * time (minutes of CPU for 15 KB). Here each object is expanded once, at its first visit. The
 * results differ only where expanding an object twice gives something else than expanding it once,
 * which no real stream does. The work stays bounded by MAX_ALIAS_PROPERTIES.
 */
function expandAliases(tree: JsonObject, where: string): void {
  const aliases = ownJsonValue(tree, '_aliases');
  if (!isJsonObject(aliases)) return;
  expandAliasesIn(tree, { aliases, where, ancestors: new Set(), expanded: new Set(), propertiesSet: 0 }, 0);
}

function expandAliasesIn(value: JsonValue, state: AliasExpansion, depth: number): void {
  const { aliases, where } = state;
  if (depth > MAX_JSON_NESTING) throw formatError(where, `is nested more than ${MAX_JSON_NESTING} levels deep after alias expansion`);
  if (!Array.isArray(value) && !isJsonObject(value)) return;
  if (state.ancestors.has(value)) throw formatError(where, 'has _aliases that include themselves, so expanding them never ends');
  if (state.expanded.has(value)) return;
  state.expanded.add(value);
  if (Array.isArray(value)) {
    state.ancestors.add(value);
    for (const element of value) expandAliasesIn(element, state, depth + 1);
    state.ancestors.delete(value);
    return;
  }
  for (const key of keysInSourceOrder(value)) {
    if (key === '_aliases') continue;
    const table = ownJsonValue(aliases, key);
    const aliasName = ownJsonValue(value, key);
    if (!isPythonTruthy(table) || typeof aliasName !== 'string' || aliasName === '') continue;
    const replacement = isJsonObject(table) ? ownJsonValue(table, aliasName) : undefined;
    if (!isJsonObject(replacement)) {
      throw formatError(where, `uses the alias ${JSON.stringify(aliasName)} for "${key}", but _aliases has no such object for "${key}"`);
    }
    const entries = entriesInSourceOrder(replacement);
    state.propertiesSet += entries.length;
    if (state.propertiesSet > MAX_ALIAS_PROPERTIES) {
      throw new FerryError('FERRY_ALIASES_TOO_LARGE', `${where}: expanding its _aliases would set more than ${MAX_ALIAS_PROPERTIES} properties.`, {
        expected: `at most ${MAX_ALIAS_PROPERTIES} properties set by _aliases`,
        hint: 'Real streams set a few per item; this file looks built to exhaust the machine. Report it to the publisher.',
      });
    }
    for (const [replacementKey, replacementValue] of entries) setJsonProperty(value, replacementKey, replacementValue);
  }
  state.ancestors.add(value);
  for (const [, child] of entriesInSourceOrder(value)) expandAliasesIn(child, state, depth + 1);
  state.ancestors.delete(value);
}

function isPythonTruthy(value: JsonValue | undefined): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') return false;
  if (value instanceof PyNumber) return value.value !== 0;
  if (Array.isArray(value)) return value.length > 0;
  if (isJsonObject(value)) return Object.keys(value).length > 0;
  return true;
}

/** An index entry's path (a products file) or, with assertSafeItemFilePath, an item's. */
function checkedPath(
  fields: JsonObject,
  location: string | (() => string),
  where: string,
  assertSafe: (path: string, where: string | (() => string)) => void = assertSafeItemPath,
): string | undefined {
  const path = ownJsonValue(fields, 'path');
  if (path === undefined) return undefined;
  if (typeof path !== 'string') throw formatError(where, `has a non-string "path" in ${typeof location === 'string' ? location : location()}`);
  assertSafe(path, location);
  return path;
}

function optionalObject(fields: JsonObject, key: string, location: string, where: string): JsonObject {
  const value = ownJsonValue(fields, key);
  if (value === undefined) return {};
  if (!isJsonObject(value)) throw formatError(where, `has a "${key}" in ${location} that is not an object`);
  return value;
}

function optionalString(fields: JsonObject, key: string): string | undefined {
  const value = ownJsonValue(fields, key);
  return typeof value === 'string' ? value : undefined;
}

function formatError(where: string, problem: string): FerryError {
  return new FerryError('FERRY_FORMAT_UNSUPPORTED', `${where} ${problem}.`, {
    hint: 'The file is not SimpleStreams metadata that Stream Ferry can read. Check the source URL and the entry file path.',
  });
}
