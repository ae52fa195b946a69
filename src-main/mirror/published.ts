// What a selection wants from metadata that was published (a tree's files, a library snapshot's
// blobs): the files sstream-mirror would mirror from it into an empty target. gc keeps these, and
// the consistency checker of the tests verifies them; both call this module, so they cannot drift.

import { entriesToFollow, parseStreamDocument, type ProductsDocument, type Selection } from '../streams/index.js';
import { planMirror, type MirrorPlan } from './plan.js';

export interface PublishedProducts {
  contentId: string;
  /** The products file's path relative to the mirror base. */
  path: string;
  document: ProductsDocument;
}

export interface PublishedMetadata {
  /** Every products file reached from the entry file, in index order. */
  products: PublishedProducts[];
  /** Files an index lists that `readText` does not have: published metadata naming what is not published. */
  unpublished: Array<{ path: string; listedBy: string }>;
}

/**
 * Reads published metadata from `entryPath` (an index or a products file), following the index
 * entries sstream-mirror follows (`entriesToFollow`); a products file's content id is its index
 * entry's, as loadStream takes it. `readText` answers a file's JSON text (for `.sjson`, the signed
 * body) or undefined when it is not published; an entry file that is not published yields nothing.
 * Each file is read once, so an index listing itself ends. Throws what parseStreamDocument throws
 * (FERRY_FORMAT_UNSUPPORTED, FERRY_UNSAFE_PATH, FERRY_ALIASES_TOO_LARGE...).
 */
export async function readPublishedMetadata(
  entryPath: string,
  readText: (path: string) => Promise<string | undefined> | string | undefined,
): Promise<PublishedMetadata> {
  const metadata: PublishedMetadata = { products: [], unpublished: [] };
  const visited = new Set<string>();
  const visit = async (path: string, contentId: string | undefined, listedBy: string | undefined): Promise<void> => {
    if (visited.has(path)) return;
    visited.add(path);
    const text = await readText(path);
    if (text === undefined) {
      if (listedBy !== undefined) metadata.unpublished.push({ path, listedBy });
      return;
    }
    const document = parseStreamDocument(text, path);
    if (document.kind === 'products') {
      metadata.products.push({ contentId: contentId ?? document.contentId, path, document });
      return;
    }
    for (const entry of entriesToFollow(document)) await visit(entry.path ?? '', entry.contentId, path);
  };
  await visit(entryPath, undefined, undefined);
  return metadata;
}

/**
 * The files a run of `selection` with `max` versions per product wants from published products
 * files: planMirror against an empty target, so exactly sstream-mirror's choice (items filtered,
 * then the newest `max` surviving versions; `keep` only spares versions the metadata no longer
 * lists, so it changes nothing here). `wanted` is keyed by item path; `rejected` lists selected
 * items that cannot be verified (no size or checksum, two contents at one path). Pure.
 */
export function wantedFromPublished(
  products: readonly PublishedProducts[],
  selection: Selection,
  max: number | undefined,
): Pick<MirrorPlan, 'wanted' | 'rejected'> {
  const { wanted, rejected } = planMirror({ products, selection, max, keep: false, held: [] });
  return { wanted, rejected };
}
