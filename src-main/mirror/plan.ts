import { resolveVersions, selectVersions, type ProductsDocument, type Selection, type StreamItem } from '../streams/index.js';
import { FerryError } from '../base/errors.js';
import type { Checksum, ChecksumAlgorithm } from '../base/hashing.js';
import type { HeldItem } from '../library/index.js';

/** An item the target holds now, as its catalog records it; which source holds it does not matter to a plan. */
export type HeldEntry = Omit<HeldItem, 'sourceId' | 'addedAt'>;

export interface PlanInput {
  products: ReadonlyArray<{ contentId: string; document: ProductsDocument }>;
  selection: Selection;
  max?: number | undefined;
  keep: boolean;
  held: readonly HeldEntry[];
  /**
   * Paths of the metadata files of the stream being mirrored (its index and products files): an item
   * at one of them would be written over the metadata, and an item at a folder holding one (a
   * file `streams` or `mirror/v1`) would block every later metadata write, so both are rejected.
   * `--path` can put them outside `streams/v1/`, where parsing already refuses items.
   */
  metadataPaths?: readonly string[] | undefined;
}

/** A file the target must hold after the run; several items may share it (a squashfs). */
export interface WantedFile {
  path: string;
  size: number;
  /** The strongest checksum the metadata lists, as the reference picks it. */
  checksum: Checksum;
  /** Known when the metadata lists sha256 (always, for MAAS streams). */
  sha256: string | undefined;
  /** The items that reference this path, in plan order. */
  items: StreamItem[];
}

export interface PlannedRemoval {
  contentId: string;
  product: string;
  version: string;
  /** The held items of the removed version. */
  items: HeldEntry[];
}

export interface MirrorPlan {
  /** Items of versions being added, in the reference's order (the `+` lines). */
  added: StreamItem[];
  /** Versions leaving the target, oldest first per product (the `-` lines). */
  removals: PlannedRemoval[];
  /** Every file the selection wants after the run: added and kept versions. */
  wanted: Map<string, WantedFile>;
  /** Items of added and kept versions whose metadata cannot be used (no size or checksum, conflicts). */
  rejected: Array<{ item: StreamItem; error: FerryError }>;
}

const checksumStrength: readonly ChecksumAlgorithm[] = ['sha512', 'sha256', 'md5'];

/**
 * Wanted (the selection applied to verified metadata, with max and keep) against held (the target's
 * state) gives the plan. Per product this is the reference's resolve_work on version names, after
 * item filtering. Kept versions' items are wanted too, so a file missing from the target is fetched
 * again: that is how a rerun heals what an earlier failed or interrupted run left out. Throws
 * FERRY_SETTING_INVALID (setting `max` or `keep`, from resolveVersions); an item that cannot be
 * verified (FERRY_NO_CHECKSUM) or that shares a path with different contents
 * (FERRY_FORMAT_UNSUPPORTED) is not thrown but listed in `rejected`.
 */
export function planMirror(input: PlanInput): MirrorPlan {
  const heldByProduct = groupHeld(input.held);
  const plan: MirrorPlan = { added: [], removals: [], wanted: new Map(), rejected: [] };
  // Folded as case-insensitive file systems fold names: `Index.sjson` would be the same file there.
  const metadataPaths = new Map((input.metadataPaths ?? []).flatMap((path) => pathAndFolders(foldPath(path)).map((folded) => [folded, path] as const)));

  for (const { contentId, document } of input.products) {
    // selectVersions keeps the reference's quirk: a version that never had items survives filtering
    // and takes a --max slot, so the plan matches what sstream-mirror would do.
    for (const product of selectVersions(document, input.selection)) {
      const versions = new Map(product.versions.map((version) => [version.name, version.items]));
      const heldVersions = heldByProduct.get(productKey(contentId, product.name)) ?? new Map<string, HeldEntry[]>();
      const { add, remove } = resolveVersions([...versions.keys()], [...heldVersions.keys()], input.max, input.keep);
      const adding = new Set(add);
      const removing = new Set(remove);
      for (const [version, items] of versions) {
        if (adding.has(version)) {
          plan.added.push(...items);
        } else if (removing.has(version) || !heldVersions.has(version)) {
          // Past max and not held: the reference neither adds nor keeps it.
          continue;
        }
        for (const item of items) addWanted(plan, item, metadataPaths);
      }
      for (const version of remove) {
        plan.removals.push({ contentId, product: product.name, version, items: heldVersions.get(version) ?? [] });
      }
    }
  }
  return plan;
}

function addWanted(plan: MirrorPlan, item: StreamItem, metadataPaths: ReadonlyMap<string, string>): void {
  if (item.path === undefined) return;
  const metadataPath = metadataPaths.get(foldPath(item.path));
  if (metadataPath !== undefined) {
    const where = foldPath(metadataPath) === foldPath(item.path) ? "where this stream's own metadata is written" : `a folder holding this stream's metadata file ${metadataPath}`;
    plan.rejected.push({
      item,
      error: new FerryError('FERRY_UNSAFE_PATH', `Item ${describeItem(item)} has the path ${item.path}, ${where}.`, {
        path: item.path,
        hint: 'An item can never be a metadata file. The source may be damaged or malicious; report it to whoever publishes it.',
      }),
    });
    return;
  }
  const checksum = strongestChecksum(item);
  if (item.size === undefined || checksum === undefined) {
    plan.rejected.push({ item, error: unverifiableItem(item, checksum === undefined) });
    return;
  }
  const existing = plan.wanted.get(item.path);
  if (existing === undefined) {
    plan.wanted.set(item.path, { path: item.path, size: item.size, checksum, sha256: item.checksums.sha256, items: [item] });
    return;
  }
  if (existing.size !== item.size || (existing.sha256 !== undefined && item.checksums.sha256 !== undefined && existing.sha256 !== item.checksums.sha256)) {
    const first = existing.items[0];
    plan.rejected.push({
      item,
      error: new FerryError('FERRY_FORMAT_UNSUPPORTED', `Items ${first === undefined ? '' : describeItem(first)} and ${describeItem(item)} share the path ${item.path} but list different contents.`, {
        path: item.path,
        hint: 'Paths in a stream must be immutable; report the conflicting metadata to its publisher.',
      }),
    });
    return;
  }
  existing.items.push(item);
}

/** Why an item cannot be verified: no checksum, no size, or a size that is not a byte count. */
function unverifiableItem(item: StreamItem, noChecksum: boolean): FerryError {
  const hint = 'Ask the stream publisher to list size (a whole number of bytes) and sha256 for every item; Stream Ferry never stores unverified files.';
  if (noChecksum) return new FerryError('FERRY_NO_CHECKSUM', `Item ${describeItem(item)} lists no checksum, so it cannot be verified.`, { path: item.path, hint });
  // flatten.ts keeps `size` only when it is a whole number of bytes; the raw text says what was listed instead.
  const listed = item.flat['size'];
  const problem = listed === undefined ? 'lists no size' : `lists size ${JSON.stringify(listed)}, which is not a whole number of bytes`;
  return new FerryError('FERRY_NO_CHECKSUM', `Item ${describeItem(item)} ${problem}, so it cannot be verified.`, { path: item.path, actual: listed, hint });
}

export function strongestChecksum(item: StreamItem): Checksum | undefined {
  for (const algorithm of checksumStrength) {
    const hex = item.checksums[algorithm];
    if (hex !== undefined) return { algorithm, hex: hex.toLowerCase() };
  }
  return undefined;
}

/** `content/product/version/item`, the reference's way of naming an item in messages. Throws nothing. */
export function describeItem(item: Pick<StreamItem, 'contentId' | 'productName' | 'versionName' | 'itemName'>): string {
  return `${item.contentId}/${item.productName}/${item.versionName}/${item.itemName}`;
}

function foldPath(path: string): string {
  return path.normalize('NFKC').toLowerCase();
}

/** `a/b/c` → `a/b/c`, `a/b`, `a`. */
function pathAndFolders(path: string): string[] {
  const segments = path.split('/');
  return segments.map((_segment, index) => segments.slice(0, segments.length - index).join('/'));
}

function productKey(contentId: string, product: string): string {
  return `${contentId}\u0000${product}`;
}

function groupHeld(held: readonly HeldEntry[]): Map<string, Map<string, HeldEntry[]>> {
  const byProduct = new Map<string, Map<string, HeldEntry[]>>();
  for (const entry of held) {
    const key = productKey(entry.contentId, entry.product);
    let versions = byProduct.get(key);
    if (versions === undefined) {
      versions = new Map();
      byProduct.set(key, versions);
    }
    const items = versions.get(entry.version);
    if (items === undefined) versions.set(entry.version, [entry]);
    else items.push(entry);
  }
  return byProduct;
}

/** Paths referenced only by removed items, once the plan is applied: these files can go. Throws nothing. */
export function orphanedPaths(plan: MirrorPlan, held: readonly HeldEntry[]): string[] {
  const removedKeys = new Set(
    plan.removals.flatMap((removal) => removal.items.map((entry) => heldKey(entry))),
  );
  const stillReferenced = new Set<string>(plan.wanted.keys());
  for (const entry of held) if (!removedKeys.has(heldKey(entry))) stillReferenced.add(entry.path);
  const orphans = new Set<string>();
  for (const removal of plan.removals) {
    for (const entry of removal.items) if (!stillReferenced.has(entry.path)) orphans.add(entry.path);
  }
  return [...orphans];
}

function heldKey(entry: HeldEntry): string {
  return [entry.contentId, entry.product, entry.version, entry.item].join('\u0000');
}
