// The bundle's manifest (bundle.json), the site receipt (its schema is the contract's, in
// contract/records.ts), and the names of everything in a bundle's directory: the one definition of
// docs/bundle.md that the exporter, both importers, verify and serve share. Schemas are zod's, and the types are derived from them, so what is parsed and what
// is written cannot drift apart.
import { z } from 'zod';
import { FerryError, type FerryErrorCode } from '../../base/errors.js';
import { assertSafeItemPath } from '../../streams/paths.js';
import {
  BUNDLE_FORMAT_VERSION,
  RECEIPT_FORMAT,
  byteCountSchema as byteCount,
  isoTimeSchema as isoTime,
  receiptSchema,
  recordIdSchema as recordId,
  sha256Schema as sha256,
  toolSchema as tool,
  type Receipt,
} from '../../contract/records.js';

// The receipt's schema and the shapes it shares with the manifest are the contract's (one definition).
export { BUNDLE_FORMAT_VERSION, RECEIPT_FORMAT, receiptSchema, type Receipt };

export const BUNDLE_FORMAT = 'stream-ferry-bundle';

/** Names inside a bundle's directory (docs/bundle.md, "Layout"). */
export const BUNDLE_FILES = {
  manifest: 'bundle.json',
  manifestSignature: 'bundle.json.asc',
  checksums: 'SHA256SUMS',
  importScript: 'import.sh',
  readme: 'README.txt',
  audit: 'audit.jsonl',
  keyrings: 'keyrings',
  blobs: 'blobs/sha256',
} as const;

/** The folder on a drive or in a target folder that holds bundles: `<target>/FERRY/<bundle id>/`. */
export const BUNDLES_FOLDER = 'FERRY';

/** Suffix of a file being written, in a bundle and in an import target; renamed away when complete. */
export const PARTIAL_SUFFIX = '.partial';

const fingerprint = z.string().regex(/^[0-9A-F]{40}$|^[0-9A-F]{64}$/, 'an OpenPGP fingerprint: 40 or 64 upper-case hex characters');

const treeFile = z.object({
  path: z.string().min(1),
  size: byteCount,
  sha256,
  role: z.enum(['metadata', 'item']),
});

const blobPart = z.object({ size: byteCount.positive(), sha256 });

const blob = z
  .object({ sha256, size: byteCount, parts: z.array(blobPart).min(2).optional() })
  .refine((entry) => entry.parts === undefined || entry.parts.reduce((sum, part) => sum + part.size, 0) === entry.size, {
    error: "the parts' sizes do not add up to the blob's size",
    path: ['parts'],
  });

const volumeIndex = z.number().int().positive();

export const bundleManifestSchema = z
  .object({
    format: z.literal(BUNDLE_FORMAT),
    formatVersion: z.literal(BUNDLE_FORMAT_VERSION),
    id: recordId,
    created: isoTime,
    tool,
    source: z.object({ url: z.string().min(1), indexPath: z.string().min(1) }),
    metadataMode: z.enum(['verbatim', 'curated']),
    signatures: z.array(z.object({ path: z.string().min(1), keyFingerprint: fingerprint, signedAt: isoTime })),
    keyrings: z.array(z.object({ file: z.string().regex(/^keyrings\/[A-Za-z0-9._-]+$/), sha256, fingerprints: z.array(fingerprint) })),
    selection: z.array(z.array(z.string())),
    max: z.number().int().positive().nullable(),
    site: z.string().min(1).nullable(),
    base: z.object({ kind: z.enum(['site', 'receipt']), id: recordId }).nullable(),
    volume: z.object({ index: volumeIndex, count: volumeIndex }),
    files: z.array(treeFile),
    blobs: z.array(blob),
    volumes: z.array(z.object({ index: volumeIndex, blobs: z.number().int().nonnegative(), bytes: byteCount })),
    signature: z.literal(BUNDLE_FILES.manifestSignature).nullable(),
  })
  .strict();

export type BundleManifest = z.infer<typeof bundleManifestSchema>;
export type BundleFile = BundleManifest['files'][number];
export type BundleBlob = BundleManifest['blobs'][number];
export type BundlePart = z.infer<typeof blobPart>;

/**
 * Parses and checks a bundle.json's text beyond its schema: a known format, no newer version,
 * safe unique paths (metadata under streams/v1/, items outside it), the volume inside the count,
 * no blob listed twice. It does not check signatures or that blobs exist (the reader does).
 * `where` names the file in errors. Throws FERRY_BUNDLE_TOO_NEW (formatVersion above
 * BUNDLE_FORMAT_VERSION) or FERRY_BUNDLE_INVALID naming the field (`field`) and what was expected.
 */
export function parseBundleManifest(text: string, where: string): BundleManifest {
  const manifest = parseRecord(text, where, bundleManifestSchema, BUNDLE_FORMAT, 'FERRY_BUNDLE_INVALID');
  const invalid = (field: string, message: string): FerryError =>
    new FerryError('FERRY_BUNDLE_INVALID', `${where}: ${message}`, { path: where, field });
  if (manifest.volume.index > manifest.volume.count) {
    throw invalid('volume', `volume ${manifest.volume.index} of ${manifest.volume.count} does not exist`);
  }
  const paths = new Set<string>();
  manifest.files.forEach((file, index) => {
    const field = `files[${index}].path`;
    try {
      assertSafeItemPath(file.path, where);
    } catch (error) {
      throw invalid(field, error instanceof Error ? error.message : String(error));
    }
    if (paths.has(file.path)) throw invalid(field, `the path ${file.path} is listed twice`);
    paths.add(file.path);
    if ((file.role === 'metadata') !== file.path.startsWith('streams/v1/')) {
      throw invalid(field, `${file.path}: metadata files are under streams/v1/ and items are not`);
    }
  });
  for (const path of paths) {
    const parts = path.split('/');
    for (let end = 1; end < parts.length; end += 1) {
      const folder = parts.slice(0, end).join('/');
      if (paths.has(folder)) throw invalid('files', `${folder} is listed as a file and is also a folder of ${path}`);
    }
  }
  const blobs = new Set<string>();
  manifest.blobs.forEach((entry, index) => {
    if (blobs.has(entry.sha256)) throw invalid(`blobs[${index}].sha256`, `the blob ${entry.sha256} is listed twice`);
    blobs.add(entry.sha256);
  });
  return manifest;
}

/** Parses a receipt (docs/bundle.md). Throws FERRY_BUNDLE_TOO_NEW or FERRY_RECEIPT_INVALID naming the field. */
export function parseReceipt(text: string, where: string): Receipt {
  return parseRecord(text, where, receiptSchema, RECEIPT_FORMAT, 'FERRY_RECEIPT_INVALID');
}

function parseRecord<T>(
  text: string,
  where: string,
  schema: z.ZodType<T>,
  format: string,
  code: Extract<FerryErrorCode, 'FERRY_BUNDLE_INVALID' | 'FERRY_RECEIPT_INVALID'>,
): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new FerryError(code, `${where} is not JSON: ${error instanceof Error ? error.message : String(error)}`, { path: where });
  }
  if (typeof value === 'object' && value !== null && 'format' in value && value.format === format && 'formatVersion' in value) {
    const version = value.formatVersion;
    if (typeof version === 'number' && version > BUNDLE_FORMAT_VERSION) {
      throw new FerryError('FERRY_BUNDLE_TOO_NEW', `${where} is format version ${version}; this Stream Ferry reads up to ${BUNDLE_FORMAT_VERSION}.`, {
        path: where,
        expected: `formatVersion ≤ ${BUNDLE_FORMAT_VERSION}`,
        actual: String(version),
      });
    }
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue === undefined || issue.path.length === 0 ? '(document)' : issue.path.map(String).join('.');
    throw new FerryError(code, `${where}: ${field}: ${issue?.message ?? 'invalid'}`, { path: where, field });
  }
  return parsed.data;
}

/** A new bundle or receipt id: `YYYYMMDDTHHMMSSZ-` + 8 hex from `randomHex` (docs/bundle.md). */
export function newRecordId(now: Date, randomHex: string): string {
  if (!/^[0-9a-f]{8}$/.test(randomHex)) throw new RangeError('randomHex must be 8 lower-case hex characters');
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
  return `${stamp}-${randomHex}`;
}

/** Where a whole blob lives, relative to the bundle's directory: `blobs/sha256/ab/<hex>`. */
export function blobFilePath(digest: string): string {
  return `${BUNDLE_FILES.blobs}/${digest.slice(0, 2)}/${digest}`;
}

/** Where part `number` (1-based) of a blob lives, relative to the bundle's directory. */
export function blobPartPath(digest: string, number: number): string {
  return `${blobFilePath(digest)}.part-${number}`;
}

/** The files holding a blob on its volume, in order: the blob itself, or its parts. */
export function blobStoragePaths(entry: BundleBlob): { path: string; size: number; sha256: string }[] {
  if (entry.parts === undefined) return [{ path: blobFilePath(entry.sha256), size: entry.size, sha256: entry.sha256 }];
  return entry.parts.map((part, index) => ({ path: blobPartPath(entry.sha256, index + 1), size: part.size, sha256: part.sha256 }));
}

/** SHA256SUMS text (coreutils `sha256sum` format, binary-safe two-space form), lines sorted by path. */
export function formatChecksums(entries: readonly { path: string; sha256: string }[]): string {
  return [...entries]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((entry) => `${entry.sha256}  ${entry.path}\n`)
    .join('');
}

/**
 * Reads SHA256SUMS text into path → sha256. Accepts coreutils' text (`  `) and binary (` *`)
 * separators. Throws FERRY_BUNDLE_INVALID (field `SHA256SUMS`, the line number in `actual`) for a
 * line of any other shape or a path listed twice.
 */
export function parseChecksums(text: string, where: string): Map<string, string> {
  const entries = new Map<string, string>();
  text.split('\n').forEach((line, index) => {
    if (line === '') return;
    const match = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (match === null || entries.has(match[2] ?? '')) {
      throw new FerryError('FERRY_BUNDLE_INVALID', `${where}: line ${index + 1} is not "<sha256>  <path>" or repeats a path`, {
        path: where,
        field: BUNDLE_FILES.checksums,
        actual: `line ${index + 1}`,
      });
    }
    entries.set(match[2] ?? '', match[1] ?? '');
  });
  return entries;
}
