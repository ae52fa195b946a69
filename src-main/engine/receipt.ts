// `ferry receipt DIR --out FILE`: what a site's mirror tree holds, for the next incremental export
// (docs/bundle.md, "Incremental bundles and receipts"). Truth, not trust: every file the published
// metadata lists that is present is hashed now; nothing is taken from a record or a file name.

import { createHash, randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { FerryError } from '../base/errors.js';
import { withFileErrors } from '../base/files.js';
import { hashFile } from '../base/hashing.js';
import { PARTIAL_SUFFIX, RECEIPT_FORMAT, BUNDLE_FORMAT_VERSION, newRecordId, type Receipt } from '../media/bundle/manifest.js';
import { readPublishedMetadata } from '../mirror/published.js';
import { checkTreePath } from '../mirror/tree-store.js';
import { flattenProducts } from '../streams/index.js';
import { productVersion } from './install.js';
import { publishedEntryPath } from './serve.js';
import { publishedMetadataText } from './stream.js';

export interface ReceiptInput {
  /** The site's mirror tree. */
  dir: string;
  /** Where the receipt goes (written through `<out>.partial` and a rename). */
  out: string;
  site?: string | undefined;
  cwd: string;
}

/**
 * Hashes the published metadata under `dir` and every item file it lists that is present (a
 * regular file, reached without links), and writes the receipt. Answers it. Throws FERRY_IO
 * (naming the entry files) when `dir` holds no published index, the metadata's
 * format codes (FERRY_JSON_MALFORMED, FERRY_FORMAT_UNSUPPORTED, FERRY_SIG_MALFORMED for a broken
 * `.sjson` frame), FERRY_IO, FERRY_DISK_FULL.
 */
export async function writeReceipt(input: ReceiptInput): Promise<Receipt> {
  const dir = resolvePath(input.cwd, input.dir);
  const out = resolvePath(input.cwd, input.out);
  const metadata: Receipt['metadata'] = [];
  const readPublished = async (path: string): Promise<string | undefined> => {
    const { path: absolute, stats } = await checkTreePath(dir, path, 'file');
    if (stats === undefined) return undefined;
    const bytes = await withFileErrors(absolute, 'read', () => readFile(absolute));
    metadata.push({ path, sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length });
    return publishedMetadataText(path, bytes);
  };
  const entry = await publishedEntryPath(dir);
  if (entry === undefined) {
    throw new FerryError('FERRY_IO', `${dir} holds no published index (streams/v1/index.sjson or index.json).`, { path: dir, expected: 'streams/v1/index.sjson', actual: 'missing' });
  }
  const published = await readPublishedMetadata(entry, readPublished);
  const blobs = new Map<string, number>();
  const paths = new Set(published.products.flatMap((products) => flattenProducts(products.document).flatMap((item) => (item.path === undefined ? [] : [item.path]))));
  for (const path of [...paths].sort()) {
    const { path: absolute, stats } = await checkTreePath(dir, path, 'file').catch(() => ({ path: '', stats: undefined }));
    if (stats?.isFile() !== true) continue;
    blobs.set((await hashFile(absolute, 'sha256')).sha256, stats.size);
  }
  const receipt: Receipt = {
    format: RECEIPT_FORMAT,
    formatVersion: BUNDLE_FORMAT_VERSION,
    id: newRecordId(new Date(), randomBytes(4).toString('hex')),
    created: new Date().toISOString(),
    tool: { name: 'stream-ferry', version: productVersion() },
    site: input.site ?? null,
    metadata: metadata.sort((a, b) => (a.path < b.path ? -1 : 1)),
    blobs: [...blobs].map(([sha256, size]) => ({ sha256, size })).sort((a, b) => (a.sha256 < b.sha256 ? -1 : 1)),
  };
  const partial = out + PARTIAL_SUFFIX;
  try {
    await withFileErrors(partial, 'write', () => writeFile(partial, `${JSON.stringify(receipt, null, 2)}\n`, { flush: true }));
    await withFileErrors(out, 'write', () => rename(partial, out));
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  return receipt;
}
